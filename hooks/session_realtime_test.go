package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/hooks/internal/sse"
)

// realtimeConn is a PocketBase realtime (SSE) connection, read as a
// browser's EventSource reads it.
type realtimeConn struct {
	baseURL  string
	clientID string
	events   <-chan sseEvent
	proto    int // the HTTP version's major number
}

type sseEvent = sse.Event

func connectRealtime(t *testing.T, baseURL string) *realtimeConn {
	t.Helper()
	return connectRealtimeWith(t, http.DefaultClient, baseURL)
}

func connectRealtimeWith(t *testing.T, client *http.Client, baseURL string) *realtimeConn {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel) // before the server closes, which waits for open requests
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/realtime", nil)
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	c := &realtimeConn{baseURL: baseURL, events: sse.Read(res.Body), proto: res.ProtoMajor}
	connect := c.next(t)
	if connect.Name != "PB_CONNECT" {
		t.Fatalf("first realtime event: %+v", connect)
	}
	c.clientID = connect.Data["clientId"].(string)
	return c
}

// subscribe sets the connection's topics with this Authorization header.
func (c *realtimeConn) subscribe(t *testing.T, authorization string, topics ...string) {
	t.Helper()
	body, _ := json.Marshal(map[string]any{"clientId": c.clientID, "subscriptions": topics})
	if r := send(t, http.MethodPost, c.baseURL+"/api/realtime", authorization, string(body)); r.Status != http.StatusNoContent {
		t.Fatalf("subscribe: %+v", r)
	}
}

func (c *realtimeConn) next(t *testing.T) sseEvent {
	t.Helper()
	ev, err := sse.Receive(c.events, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	return ev
}

func TestRealtimeDeliversTheWebhookToItsOwnerOnly(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	url, idA := twoClients(t, key, nil)

	alice := connectRealtime(t, url)
	alice.subscribe(t, "Bearer "+key.token(t, userA), "clients/"+idA)
	bob := connectRealtime(t, url)
	bob.subscribe(t, key.token(t, userB), "clients/*") // as the PocketBase JS SDK sends it

	a := clerkfake.NewUser(userA, "Alicia", 2000)
	deliver(t, url, "msg_a2", clerkfake.Event(eventUserUpdated, a))
	ev := alice.next(t)
	if ev.Name != "clients/"+idA || ev.Data["action"] != "update" || ev.Record()["firstName"] != "Alicia" {
		t.Fatalf("owner's event: %+v", ev)
	}
	if _, ok := ev.Record()["privateMetadata"]; ok {
		t.Fatal("privateMetadata went out over realtime")
	}

	// Bob's first event is his own change: Alice's never reached him.
	deliver(t, url, "msg_b2", clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userB, "Robert", 2000)))
	if ev := bob.next(t); ev.Record()["clerkId"] != userB || ev.Record()["firstName"] != "Robert" {
		t.Fatalf("Bob's first event: %+v", ev)
	}
}

func TestRealtimeWaitsForAClientThatDoesNotExistYet(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	// No secret key: the client comes from the webhook alone.
	srv := serveWithClerk(t, app, Config{})

	waiting := srv.signIn(t, newcomer, "clients/*")
	guest := connectRealtime(t, srv.URL)
	guest.subscribe(t, "", "clients/*")

	u := clerkfake.NewUser(newcomer, "Nina", 1000)
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, u))
	if ev := waiting.next(t); ev.Data["action"] != "create" || ev.Record()["clerkId"] != newcomer {
		t.Fatalf("waiting connection got %+v", ev)
	}
	u["first_name"], u["updated_at"] = "Nina Live", 2000
	deliver(t, srv.URL, "msg_2", clerkfake.Event(eventUserUpdated, u))
	if ev := waiting.next(t); ev.Data["action"] != "update" || ev.Record()["firstName"] != "Nina Live" {
		t.Fatalf("then %+v", ev)
	}
	// The guest connection was not signed in along the way.
	if authOf(app, guest.clientID) != nil {
		t.Fatal("a guest connection was signed in")
	}
}

func TestRealtimeSignsOutABannedClient(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	u := clerkfake.NewUser(userA, "Alice", 1000)
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, u))
	conn := srv.signIn(t, userA, "clients/*")
	if authOf(app, conn.clientID) == nil {
		t.Fatal("the subscription is not signed in")
	}

	u["banned"], u["updated_at"] = true, 2000
	deliver(t, srv.URL, "msg_2", clerkfake.Event(eventUserUpdated, u))
	if ev := conn.next(t); ev.Record()["banned"] != true {
		t.Fatalf("ban event: %+v", ev)
	}
	if authOf(app, conn.clientID) != nil {
		t.Fatal("a banned client's realtime connection is still signed in")
	}
}

// A Clerk session token does not depend on the client's token key, which
// PocketBase renews when the email changes: the connections it signed in
// stay signed in, and hear of an anonymization before they are signed out.
func TestRealtimeKeepsAClerkSessionThroughItsClientsChanges(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{UserDelete: UserDeleteAnonymize})
	u := clerkfake.NewUser(userA, "Alice", 1000)
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, u))
	client := clientOf(t, app, userA)
	wild := srv.signIn(t, userA, "clients/*", "announcements") // an owner's topic: stays in PocketBase's broker
	own := srv.signIn(t, userA, "clients/"+client.Id)          // taken into the index
	conns := map[string]*realtimeConn{"clients/*": wild, "clients/<id>": own}

	u["email_addresses"].([]any)[0].(map[string]any)["email_address"] = "alice.new@example.org"
	u["updated_at"] = 2000
	deliver(t, srv.URL, "msg_2", clerkfake.Event(eventUserUpdated, u))
	if clientOf(t, app, userA).TokenKey() == client.TokenKey() {
		t.Fatal("the email change kept the token key: this test no longer tests a renewed key")
	}
	u["first_name"], u["updated_at"] = "Alicia", 3000
	deliver(t, srv.URL, "msg_3", clerkfake.Event(eventUserUpdated, u))
	for name, c := range conns {
		// Each message is sent from a goroutine of its own (PocketBase's
		// broadcast, and the index as it does): the two may arrive in either
		// order, as the page expects.
		first, second := c.next(t).Record(), c.next(t).Record()
		if first["firstName"] == "Alicia" {
			first, second = second, first
		}
		if first["email"] != "alice.new@example.org" || first["firstName"] != "Alice" {
			t.Fatalf("%s: the email change: %+v", name, first)
		}
		if second["firstName"] != "Alicia" || second["email"] != "alice.new@example.org" {
			t.Fatalf("%s: the update after it: %+v", name, second)
		}
	}

	body := fmt.Sprintf(`{"type":"user.deleted","object":"event","timestamp":5000,"data":{"id":%q,"deleted":true,"object":"user"}}`, userA)
	if r := deliver(t, srv.URL, "msg_del", []byte(body)); r.Body["outcome"] != string(outcomeAnonymized) {
		t.Fatalf("user.deleted: %+v", r)
	}
	for name, c := range conns {
		if ev := c.next(t); ev.Data["action"] != "update" || ev.Record()["deletedAt"] == "" {
			t.Fatalf("%s: the anonymization: %+v", name, ev)
		}
		if authOf(app, c.clientID) != nil {
			t.Fatalf("%s: an anonymized client's connection is still signed in", name)
		}
	}
}

func authOf(app core.App, clientID string) *core.Record {
	for _, sub := range realtimeClients(app) {
		if sub.Id() == clientID {
			auth, _ := sub.Get(apis.RealtimeClientAuthKey).(*core.Record)
			return auth
		}
	}
	return nil
}

// The client may appear between the token check and the subscription: its
// create event then passes the connection by, which must still be signed in.
func TestRealtimeSubscriptionRacingTheClientsCreation(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	u := clerkfake.NewUser(newcomer, "Nina", 1000)
	app.OnRealtimeSubscribeRequest().BindFunc(func(e *core.RealtimeSubscribeRequestEvent) error {
		raw, _ := json.Marshal(u)
		var user clerk.User
		if err := json.Unmarshal(raw, &user); err != nil {
			return err
		}
		err := app.RunInTransaction(func(txApp core.App) error {
			_, err := userChange{Type: eventUserCreated, User: &user, At: time.Now()}.apply(txApp, mappingConfig{})
			return err
		})
		if err != nil {
			return err
		}
		return e.Next()
	})

	conn := srv.signIn(t, newcomer, "clients/*")
	if auth := authOf(app, conn.clientID); auth == nil || auth.GetString("clerkId") != newcomer {
		t.Fatal("the connection was left as a guest")
	}
	u["first_name"], u["updated_at"] = "Nina Live", 2000
	deliver(t, srv.URL, "msg_2", clerkfake.Event(eventUserUpdated, u))
	if ev := conn.next(t); ev.Record()["firstName"] != "Nina Live" {
		t.Fatalf("then %+v", ev)
	}
}
