package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// A TLS server negotiates HTTP/2, where a connection cannot be detached
// (there is no connection of its own to take over): the profile page's
// connection stays on PocketBase's loop and still gets exactly its own
// changes.
func TestRealtimeOverHTTP2GetsExactlyItsMessages(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	app := newTestApp(t)
	ts := httptest.NewUnstartedServer(routerHandler(t, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t)}))
	ts.EnableHTTP2 = true
	ts.StartTLS()
	t.Cleanup(ts.Close)
	client := ts.Client()
	n := 0
	send := func(body []byte) {
		n++
		res, err := client.Do(signedRequest(t, ts.URL, testSecret, fmt.Sprintf("msg_h2_%d", n), time.Now(), body))
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Fatalf("delivery %d: %d", n, res.StatusCode)
		}
	}
	send(clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	send(clerkfake.Event(eventUserCreated, clerkfake.NewUser(userB, "Bob", 1000)))

	var conns []*realtimeConn
	for _, topics := range ProfilePageTopics(clientOf(t, app, userA).Id) {
		c := connectRealtimeWith(t, client, ts.URL)
		if c.proto != 2 {
			t.Fatalf("the realtime connection is HTTP/%d, want HTTP/2", c.proto)
		}
		body, _ := json.Marshal(map[string]any{"clientId": c.clientID, "subscriptions": topics})
		req, _ := http.NewRequest(http.MethodPost, ts.URL+"/api/realtime", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+key.token(t, userA))
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusNoContent {
			t.Fatalf("subscribe: %d", res.StatusCode)
		}
		conns = append(conns, c)
	}
	page := conns[0]

	send(clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userB, "Robert", 2000)))
	send(clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userA, "Alicia", 2000)))
	if ev := page.next(t); ev.Record()["clerkId"] != userA || ev.Record()["firstName"] != "Alicia" {
		t.Fatalf("the page's first event: %+v", ev)
	}
	for _, c := range conns {
		c.noEvent(t, 200*time.Millisecond) // Bob's change, sent before, is not the page's
	}
}

// A new token secret of clients signs every connection out, as PocketBase
// does for its own: those in the index (here, the profile page's) and
// those in its broker (one with an owner's own topic).
func TestANewTokenSecretSignsEveryRealtimeConnectionOut(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	page, owners := openProfilePage(t, srv), srv.signIn(t, userA, "owners-topic")
	mustBeDetached(t, app, owners.clientID, true)
	conns := map[string]*realtimeConn{"the profile page's (index)": page, "an owner's topic (broker)": owners}
	for name, c := range conns {
		if authOf(app, c.clientID) == nil {
			t.Fatalf("%s: not signed in to begin with", name)
		}
	}

	clients, err := app.FindCollectionByNameOrId("clients")
	if err != nil {
		t.Fatal(err)
	}
	clients.AuthToken.Secret = "a-new-secret-of-at-least-thirty-characters-x"
	if err := app.Save(clients); err != nil {
		t.Fatal(err)
	}
	for name, c := range conns {
		if authOf(app, c.clientID) != nil {
			t.Errorf("%s: still signed in after the token secret changed", name)
		}
	}
}

// As the app stops, the connections it detached end (net/http no longer
// knows of them), and none stays in PocketBase's broker.
func TestStoppingTheAppEndsTheDetachedConnections(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	page, owners := openProfilePage(t, srv), srv.signIn(t, userA, "owners-topic")
	mustBeDetached(t, app, owners.clientID, true)

	if err := app.OnTerminate().Trigger(&core.TerminateEvent{App: app}, func(e *core.TerminateEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	page.ends(t, "the profile page's connection")
	owners.ends(t, "the connection on an owner's topic")
	if _, err := app.SubscriptionsBroker().ClientById(owners.clientID); err == nil {
		t.Error("an ended connection is still in PocketBase's broker")
	}
}

// openProfilePage signs userA's client in as the profile page does, on its
// connection, once it has left PocketBase's loop and broker.
func openProfilePage(t *testing.T, srv *clerkServer) *realtimeConn {
	t.Helper()
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	pages := ProfilePageTopics(clientOf(t, srv.app, userA).Id)
	if len(pages) != 1 {
		t.Fatalf("the page holds %d connections, want 1", len(pages))
	}
	page := srv.signIn(t, userA, pages[0]...)
	mustBeDetached(t, srv.app, page.clientID, false)
	return page
}
