package hooks

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// TestWebhookBoundsTheBodiesItReadsAtOnce: unsigned bodies that trickle in
// hold at most maxBodyReaders readers; beyond them a request waits, then is
// answered 503, and once they are gone a signed delivery goes through.
func TestWebhookBoundsTheBodiesItReadsAtOnce(t *testing.T) {
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})

	var writers []*io.PipeWriter
	var wg sync.WaitGroup
	statuses := make(chan int, maxBodyReaders)
	for range maxBodyReaders {
		r, w := io.Pipe()
		writers = append(writers, w)
		req, _ := http.NewRequest(http.MethodPost, srv.URL+WebhookPath, r)
		req.Header.Set("svix-id", "msg_flood")
		req.Header.Set("svix-timestamp", "1")
		req.Header.Set("svix-signature", "v1,forged")
		wg.Go(func() {
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Error(err)
				return
			}
			res.Body.Close()
			statuses <- res.StatusCode
		})
		if _, err := w.Write([]byte(`{"type":"user.created",`)); err != nil { // the server is now reading it
			t.Fatal(err)
		}
	}

	time.Sleep(time.Second) // the server has taken each into a reader by now

	started := time.Now()
	r := deliver(t, srv.URL, "msg_real", readFixture(t, "user.created.json"))
	if r.Status != http.StatusServiceUnavailable || time.Since(started) < bodyReaderWait {
		t.Fatalf("with every reader taken: %+v after %s", r, time.Since(started))
	}
	mustContain(t, r.Body["message"], "Svix retries")

	for _, w := range writers {
		w.Write([]byte(strings.Repeat(" ", 1000) + `"data":{}}`))
		w.Close()
	}
	wg.Wait()
	close(statuses)
	for s := range statuses {
		if s != http.StatusUnauthorized {
			t.Errorf("an unsigned body was answered %d", s)
		}
	}
	if r := deliver(t, srv.URL, "msg_real", readFixture(t, "user.created.json")); r.Status != http.StatusOK || r.Body["outcome"] != "created" {
		t.Fatalf("the retry: %+v", r)
	}
}
