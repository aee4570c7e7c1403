package hooks

import (
	"io"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// TestSignatureFilterAgreesWithSvix: the copy-free check that runs before
// svix.Verify accepts every signature svix accepts, whatever the header
// set or the number of signatures.
func TestSignatureFilterAgreesWithSvix(t *testing.T) {
	wh, _ := svix.NewWebhook(testSecret)
	key := secretKeys([]string{testSecret})[0]
	body := readFixture(t, "user.created.json")
	now := time.Now()
	sig, _ := wh.Sign("msg_1", now, body)
	other, _ := svix.NewWebhook("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	otherSig, _ := other.Sign("msg_1", now, body)
	ts := now.Unix()

	for name, c := range map[string]struct {
		id, ts, sigs string
		body         []byte
	}{
		"signed":                  {"msg_1", itoa(ts), sig, body},
		"among others":            {"msg_1", itoa(ts), "v2,xyz " + otherSig + " " + sig, body},
		"leading zero in the ts":  {"msg_1", "0" + itoa(ts), sig, body},
		"another secret":          {"msg_1", itoa(ts), otherSig, body},
		"another body":            {"msg_1", itoa(ts), sig, append([]byte(" "), body...)},
		"another id":              {"msg_2", itoa(ts), sig, body},
		"no signature":            {"msg_1", itoa(ts), "", body},
		"a timestamp not numeric": {"msg_1", "x", sig, body},
	} {
		// Each header set, and each beside a valid decoy in the other set:
		// the filter must check the set svix checks.
		for set, h := range map[string]http.Header{
			"webhook-*":                            signatureHeaders("webhook-", c.id, c.ts, c.sigs),
			"svix-*":                               signatureHeaders("svix-", c.id, c.ts, c.sigs),
			"svix-* over a valid webhook-*":        join(signatureHeaders("svix-", c.id, c.ts, c.sigs), signatureHeaders("webhook-", "msg_1", itoa(ts), sig)),
			"webhook-* after an incomplete svix-*": join(signatureHeaders("webhook-", c.id, c.ts, c.sigs), http.Header{"Svix-Id": {"msg_1"}, "Svix-Timestamp": {itoa(ts)}}),
		} {
			id, tsHeader, sigs := signedHeaders(h)
			filter := signedWith(key, id, tsHeader, c.body, sigs)
			if svixOK := wh.Verify(c.body, h) == nil; filter != svixOK {
				t.Errorf("%s, %s: filter %v, svix %v", name, set, filter, svixOK)
			}
		}
	}
}

func signatureHeaders(prefix, id, timestamp, signatures string) http.Header {
	h := http.Header{}
	h.Set(prefix+"id", id)
	h.Set(prefix+"timestamp", timestamp)
	h.Set(prefix+"signature", signatures)
	return h
}

func join(a, b http.Header) http.Header {
	for k, v := range b {
		a[k] = v
	}
	return a
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// PocketBase wraps every request body to keep a copy of what is read
// (router.RereadableReadCloser); the webhook reads past it (rawBody), so a
// 1 MiB unsigned body is not copied once more. If PocketBase stops wrapping,
// or wraps otherwise, rawBody's unwrapping is dead and this fails.
func TestWebhookReadsTheBodyPastPocketBasesCopy(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	bodies := make(chan io.Reader, 1)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.BindFunc(func(e *core.RequestEvent) error {
			if e.Request.URL.Path == WebhookPath {
				_, wrapped := e.Request.Body.(*router.RereadableReadCloser)
				if !wrapped {
					t.Errorf("the webhook's body is a %T, not PocketBase's RereadableReadCloser", e.Request.Body)
				}
				bodies <- rawBody(e.Request)
			}
			return e.Next()
		})
		return se.Next()
	})
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	if r := deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000))); r.Status != http.StatusOK {
		t.Fatalf("delivery: %+v", r)
	}
	if raw := <-bodies; raw == nil {
		t.Fatal("no body")
	} else if _, still := raw.(*router.RereadableReadCloser); still {
		t.Fatal("rawBody returned PocketBase's wrapper")
	}
}
