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
// connections stay on PocketBase's loop and still get exactly their own
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
	own, orgs := conns[0], conns[1]

	send(clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userB, "Robert", 2000)))
	send(clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userA, "Alicia", 2000)))
	if ev := own.next(t); ev.record()["clerkId"] != userA || ev.record()["firstName"] != "Alicia" {
		t.Fatalf("the own connection's first event: %+v", ev)
	}
	own.noEvent(t, 200*time.Millisecond) // Bob's change, sent before, is not its
	orgs.noEvent(t, 200*time.Millisecond)
}

// A new token secret of clients signs every connection out, as PocketBase
// does for its own: those in the index (here, both of the profile page's)
// and those in its broker.
func TestANewTokenSecretSignsEveryRealtimeConnectionOut(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	own, orgs := openProfilePage(t, srv)
	for _, c := range []*realtimeConn{own, orgs} {
		if authOf(app, c.clientID) == nil {
			t.Fatal("not signed in to begin with")
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
	for name, c := range map[string]*realtimeConn{"own record (index)": own, "memberships and organizations": orgs} {
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
	own, orgs := openProfilePage(t, srv)

	if err := app.OnTerminate().Trigger(&core.TerminateEvent{App: app}, func(e *core.TerminateEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	own.ends(t, "the own-record connection")
	orgs.ends(t, "the memberships and organizations connection")
	if _, err := app.SubscriptionsBroker().ClientById(orgs.clientID); err == nil {
		t.Error("an ended connection is still in PocketBase's broker")
	}
}

// openProfilePage signs userA's client in as the profile page does, on its
// two connections, once both have left PocketBase's loop.
func openProfilePage(t *testing.T, srv *clerkServer) (own, orgs *realtimeConn) {
	t.Helper()
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	topics := ProfilePageTopics(clientOf(t, srv.app, userA).Id)
	own, orgs = srv.signIn(t, userA, topics[0]...), srv.signIn(t, userA, topics[1]...)
	mustBeDetached(t, srv.app, own.clientID, false)
	mustBeDetached(t, srv.app, orgs.clientID, false)
	return own, orgs
}
