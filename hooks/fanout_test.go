package hooks

import (
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// blockingHook is an owner's onRecordAfterCreateSuccess on clients that
// records the Clerk ids it runs for, in order, and blocks on its first
// run until released.
type blockingHook struct {
	entered  chan struct{} // closed when the first run begins
	release  chan struct{} // closed to let it end
	mu       sync.Mutex
	ran      []string
	blocking sync.Once
}

func bindBlockingHook(app core.App) *blockingHook {
	h := &blockingHook{entered: make(chan struct{}), release: make(chan struct{})}
	app.OnRecordAfterCreateSuccess("clients").BindFunc(func(e *core.RecordEvent) error {
		h.mu.Lock()
		h.ran = append(h.ran, e.Record.GetString("clerkId"))
		h.mu.Unlock()
		h.blocking.Do(func() {
			close(h.entered)
			<-h.release
		})
		return e.Next()
	})
	return h
}

func (h *blockingHook) runs() []string {
	h.mu.Lock()
	defer h.mu.Unlock()
	return append([]string(nil), h.ran...)
}

// fanOutOf is the webhook's fanOut of an app served with the plugin.
func fanOutOf(t *testing.T, app core.App) *fanOut {
	t.Helper()
	f, _ := app.Store().Get(fanOutStoreKey).(*fanOut)
	if f == nil {
		t.Fatal("the plugin keeps no fanOut in the app's store")
	}
	return f
}

// postUserCreated posts a signed user.created for id, without waiting for
// the work after its commit, and answers the reply's status.
func postUserCreated(t *testing.T, url, id string) (int, error) {
	return post(userCreatedRequest(t, url, id))
}

func userCreatedRequest(t *testing.T, url, id string) *http.Request {
	return signedRequest(t, url, testSecret, "msg_"+id, time.Now(), clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Fan", 1000)))
}

// post is tryDo answering the status, for any goroutine.
func post(req *http.Request) (int, error) {
	r, err := tryDo(req)
	return r.Status, err
}

// Deliveries are answered once committed, whatever the hooks after the
// commit cost: an owner's hook that blocks delays neither the answer of
// its own delivery nor the commits of the next ones, up to the backlog's
// bound; released, it and the hooks behind it each run once, in commit
// order.
func TestFanOutHookThatBlocksDelaysNeitherTheAnswerNorTheNextCommits(t *testing.T) {
	app := newTestApp(t)
	hook := bindBlockingHook(app)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, WebhookTimeout: time.Minute})
	f := fanOutOf(t, app)

	ids := make([]string, maxFanOutBacklog)
	for i := range ids {
		ids[i] = fmt.Sprintf("user_fanout%03d", i)
	}
	status, err := postUserCreated(t, srv.URL, ids[0])
	if err != nil || status != http.StatusOK {
		t.Fatalf("the first delivery: %d %v", status, err)
	}
	<-hook.entered // its hook runs, and blocks
	// One delivery at a time: each is a transaction of its own, and the
	// backlog holds the blocked one and every one after it.
	for _, id := range ids[1:] {
		if status, err := postUserCreated(t, srv.URL, id); err != nil || status != http.StatusOK {
			t.Fatalf("%s, behind a blocked hook: %d %v", id, status, err)
		}
	}
	if n := count(t, app, "clients", ""); n != len(ids) {
		t.Fatalf("%d clients committed behind the blocked hook, want %d", n, len(ids))
	}
	s := f.status(time.Now())
	if s.Backlog != len(ids) || s.Bound != maxFanOutBacklog || s.Waits != 0 || s.OldestSeconds <= 0 {
		t.Errorf("status with the hook blocked: %+v, want a backlog of %d of %d and no wait", s, len(ids), maxFanOutBacklog)
	}
	if runs := hook.runs(); len(runs) != 1 {
		t.Errorf("hooks ran behind the blocked one: %v", runs)
	}

	close(hook.release)
	afterCommits(t, srv.URL)
	if runs := hook.runs(); fmt.Sprint(runs) != fmt.Sprint(ids) {
		t.Errorf("the hooks ran for\n%v\nwant each client once, in commit order:\n%v", runs, ids)
	}
	if s := f.status(time.Now()); s.Backlog != 0 || s.OldestSeconds != 0 {
		t.Errorf("status once drained: %+v", s)
	}
}

// At the bound, the writer waits for room before its next commit (the
// only time it waits), and the Clerk page's status says so; nothing is
// lost: once the hook is released, the waiting delivery is committed and
// answered, and every hook has run once, in commit order.
func TestFanOutFullBacklogMakesTheWriterWaitAndLosesNothing(t *testing.T) {
	app := newTestApp(t)
	hook := bindBlockingHook(app)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, WebhookTimeout: time.Minute})
	f := fanOutOf(t, app)

	ids := make([]string, maxFanOutBacklog+1)
	for i := range ids {
		ids[i] = fmt.Sprintf("user_full%03d", i)
	}
	for i, id := range ids[:maxFanOutBacklog] {
		if status, err := postUserCreated(t, srv.URL, id); err != nil || status != http.StatusOK {
			t.Fatalf("%s: %d %v", id, status, err)
		}
		if i == 0 {
			<-hook.entered
		}
	}
	last := ids[maxFanOutBacklog]
	answered := make(chan error, 1)
	req := userCreatedRequest(t, srv.URL, last)
	go func() {
		status, err := post(req)
		if err == nil && status != http.StatusOK {
			err = fmt.Errorf("answered %d", status)
		}
		answered <- err
	}()
	for deadline := time.Now().Add(20 * time.Second); f.status(time.Now()).WaitingSeconds == 0; {
		if time.Now().After(deadline) {
			t.Fatal("the writer does not wait with the backlog full")
		}
		select {
		case err := <-answered:
			t.Fatalf("the delivery past the bound was answered (%v) while the backlog was full", err)
		case <-time.After(5 * time.Millisecond): // polls the status
		}
	}
	if c := clientOf(t, app, last); c != nil {
		t.Fatal("the delivery past the bound was committed while the backlog was full")
	}
	if s := f.status(time.Now()); s.Backlog != maxFanOutBacklog {
		t.Errorf("backlog %d while the writer waits, want the bound %d", s.Backlog, maxFanOutBacklog)
	}

	close(hook.release)
	if err := <-answered; err != nil {
		t.Fatalf("the delivery that waited for room: %v", err)
	}
	afterCommits(t, srv.URL)
	if runs := hook.runs(); fmt.Sprint(runs) != fmt.Sprint(ids) {
		t.Errorf("the hooks ran for\n%v\nwant each client once, in commit order:\n%v", runs, ids)
	}
	s := f.status(time.Now())
	if s.Waits != 1 || s.WaitingSeconds != 0 || s.LongestWaitSeconds <= 0 || s.LongestWaitAt == "" || s.LastWaitAt == "" || s.Backlog != 0 {
		t.Errorf("status after the wait: %+v, want one wait, its length and time, and no backlog", s)
	}

	// The Clerk page's status carries it.
	report := statusOf(t, srv.URL, newSuperuserToken(t, app))
	if report.FanOut.Waits != 1 || report.FanOut.Bound != maxFanOutBacklog || report.FanOut.LongestWaitSeconds <= 0 {
		t.Errorf("GET %s fanOut: %+v", StatusPath, report.FanOut)
	}
}

// Stopping the server waits for the backlog's work, within a bound: what
// is left after it is named.
func TestFanOutStopDrainsTheBacklogWithinABound(t *testing.T) {
	app := newTestApp(t)
	hook := bindBlockingHook(app)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	f := fanOutOf(t, app)

	if status, err := postUserCreated(t, srv.URL, "user_stop1"); err != nil || status != http.StatusOK {
		t.Fatalf("%d %v", status, err)
	}
	<-hook.entered
	if status, err := postUserCreated(t, srv.URL, "user_stop2"); err != nil || status != http.StatusOK {
		t.Fatalf("%d %v", status, err)
	}
	f.drainTimeout = 100 * time.Millisecond
	if left := f.drain(app); fmt.Sprint(left) != "[msg_user_stop1 msg_user_stop2]" {
		t.Errorf("drain with a blocked hook left %v, want both deliveries named", left)
	}

	// Stopping the app waits for the hooks once they can run.
	f.drainTimeout = fanOutDrainTimeout
	stopped := make(chan error, 1)
	go func() {
		stopped <- app.OnTerminate().Trigger(&core.TerminateEvent{App: app}, func(e *core.TerminateEvent) error { return nil })
	}()
	close(hook.release)
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(2 * fanOutDrainTimeout):
		t.Fatal("stopping the app did not end")
	}
	if runs := hook.runs(); fmt.Sprint(runs) != "[user_stop1 user_stop2]" {
		t.Errorf("once the app stopped, hooks had run for %v, want both", runs)
	}
}

// An owner's hook that panics after the commit fails that delivery's
// hooks only: the delivery is applied and answered 200, the failure is
// listed on the Clerk page, and the work after the next commits goes on.
func TestFanOutHookThatPanicsStopsNothingBehindIt(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	var mu sync.Mutex
	var ran []string
	app.OnRecordAfterCreateSuccess("clients").BindFunc(func(e *core.RecordEvent) error {
		id := e.Record.GetString("clerkId")
		mu.Lock()
		ran = append(ran, id)
		mu.Unlock()
		if id == "user_panics" {
			panic("the owner's hook exploded")
		}
		return e.Next()
	})
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	for _, id := range []string{"user_before", "user_panics", "user_after"} {
		if r := deliver(t, srv.URL, "msg_"+id, clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Pat", 1000))); r.Status != http.StatusOK {
			t.Fatalf("%s: %d %v", id, r.Status, r.Body)
		}
	}
	mu.Lock()
	if fmt.Sprint(ran) != "[user_before user_panics user_after]" {
		t.Errorf("hooks ran for %v", ran)
	}
	mu.Unlock()
	failures := statusOf(t, srv.URL, newSuperuserToken(t, app)).Failures
	if len(failures) != 1 || failures[0].Outcome != "hook failed" || failures[0].SvixID != "msg_user_panics" || !strings.Contains(failures[0].Reason, "exploded") {
		t.Errorf("failures: %+v, want the panicking hook's", failures)
	}
}
