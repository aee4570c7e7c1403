package realtimeindex

import (
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/hooks/internal/sse"
)

// The tests serve a clean PocketBase app, whose "users" auth collection
// lets a user view its own record only (id = @request.auth.id), with
// PocketBase's own auth tokens.

// newApp is a clean app, cleaned up when the test ends.
func newApp(t *testing.T) *tests.TestApp {
	t.Helper()
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Cleanup)
	return app
}

// testServer is an app with an index bound, served as PocketBase serves it.
type testServer struct {
	*httptest.Server
	app   core.App
	index *Index
}

// serve binds an index to app and serves the app's router.
func serve(t *testing.T, app core.App, opts Options) *testServer {
	t.Helper()
	index := Bind(app, opts)
	router, err := apis.NewRouter(app)
	if err != nil {
		t.Fatal(err)
	}
	var handler http.Handler
	err = app.OnServe().Trigger(&core.ServeEvent{App: app, Router: router}, func(e *core.ServeEvent) error {
		handler, err = e.Router.BuildMux()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(handler)
	t.Cleanup(srv.Close)
	return &testServer{Server: srv, app: app, index: index}
}

// newUser saves a user of the "users" collection.
func newUser(t *testing.T, app core.App, name string) *core.Record {
	t.Helper()
	users, err := app.FindCollectionByNameOrId("users")
	if err != nil {
		t.Fatal(err)
	}
	user := core.NewRecord(users)
	user.SetEmail(name + "@example.com")
	user.SetPassword("a password of twenty")
	user.Set("name", name)
	if err := app.Save(user); err != nil {
		t.Fatal(err)
	}
	return user
}

// token is a PocketBase auth token of record.
func token(t *testing.T, record *core.Record) string {
	t.Helper()
	token, err := record.NewAuthToken()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// sseConn is a realtime connection, read as a browser's EventSource reads it.
type sseConn struct {
	url      string
	clientID string
	events   <-chan sseEvent
	close    func() // closes the connection, as a browser leaving the page
}

type sseEvent = sse.Event

// connect opens a realtime connection and reads its PB_CONNECT.
func (s *testServer) connect(t *testing.T) *sseConn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before the server closes, which waits for open requests
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, s.URL+"/api/realtime", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	c := &sseConn{url: s.URL, events: sse.Read(res.Body), close: cancel}
	if ev := c.next(t); ev.Name != "PB_CONNECT" {
		t.Fatalf("first realtime event: %+v", ev)
	} else {
		c.clientID, _ = ev.Data["clientId"].(string)
	}
	return c
}

// subscribe sets the connection's topics with this Authorization header,
// and answers the status of the request.
func (c *sseConn) subscribe(t *testing.T, authorization string, topics ...string) int {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"clientId": c.clientID, "subscriptions": topics})
	req, _ := http.NewRequest(http.MethodPost, c.url+"/api/realtime", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", authorization)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.StatusCode
}

func (c *sseConn) next(t *testing.T) sseEvent {
	t.Helper()
	ev, err := sse.Receive(c.events, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5s: %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
