package realtimeindex

import (
	"bytes"
	"runtime"
	"runtime/pprof"
	"strings"
	"testing"
)

// A client that closes its detached connection is noticed, and the
// connection leaves the index. On Linux one watcher notices it for every
// connection, so that an open connection holds no goroutine of its own.
func TestClosedConnectionsLeaveTheIndex(t *testing.T) {
	app := newApp(t)
	srv := serve(t, app, Options{})
	ada := newUser(t, app, "ada")
	topic := "users/" + ada.Id
	const n = 40
	conns := make([]*sseConn, n)
	for i := range conns {
		conns[i] = srv.connect(t)
		conns[i].subscribe(t, token(t, ada), topic)
	}
	waitFor(t, "every connection detached", func() bool { return srv.index.Stats().Detached == n })
	if readers := goroutinesIn("readUntilClosed"); runtime.GOOS == "linux" && readers != 0 {
		t.Errorf("%d goroutines read the detached connections, want none: the hangup watcher notices their end", readers)
	}

	for _, c := range conns[:n/2] {
		c.close()
	}
	waitFor(t, "the closed connections leave the index", func() bool {
		s := srv.index.Stats()
		return s.Detached == n/2 && s.Indexed == n/2
	})
	// The others still hear of their record.
	ada.Set("name", "Ada Lovelace")
	if err := app.Save(ada); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns[n/2:] {
		if ev := c.next(t); ev.Name != topic {
			t.Fatalf("event %+v", ev)
		}
	}
	for _, c := range conns[n/2:] {
		c.close()
	}
	waitFor(t, "every connection left the index", func() bool {
		s := srv.index.Stats()
		return s.Detached == 0 && s.Indexed == 0
	})
}

// goroutinesIn counts the goroutines whose stack holds function name.
func goroutinesIn(name string) int {
	var b bytes.Buffer
	_ = pprof.Lookup("goroutine").WriteTo(&b, 2)
	return strings.Count(b.String(), "."+name+"(")
}
