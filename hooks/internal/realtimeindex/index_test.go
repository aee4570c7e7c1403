package realtimeindex

import (
	"net/http"
	"testing"
	"weak"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// A connection whose topics are all of records is taken out of
// PocketBase's broker and out of its loop, and still gets its record's
// changes; one with any other topic goes back to the broker. Stats and
// PlaceOf say where each is.
func TestIndexTakesRecordTopicsOutOfTheBroker(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	srv := serve(t, app, Options{})
	ada := newUser(t, app, "ada")
	topic := "users/" + ada.Id

	conn := srv.connect(t)
	if status := conn.subscribe(t, token(t, ada), topic); status != http.StatusNoContent {
		t.Fatalf("subscribe: %d", status)
	}
	waitFor(t, "the connection indexed and detached", func() bool {
		place, found := srv.index.PlaceOf(conn.clientID)
		return found && place == Place{Indexed: true, Detached: true}
	})
	if stats := srv.index.Stats(); stats.Broker != 0 || stats.Indexed != 1 || stats.Detached != 1 || stats.Topics[topic] != 1 || len(stats.Topics) != 1 {
		t.Fatalf("stats %+v", stats)
	}
	if clients := srv.index.Clients(); len(clients) != 1 || clients[0].Id() != conn.clientID {
		t.Fatalf("Clients: %v", clients)
	}
	if signedIn := srv.index.ClientsSignedInAs(ada); len(signedIn) != 1 || !SignedInAs(signedIn[0], ada) {
		t.Fatalf("ClientsSignedInAs: %v", signedIn)
	}

	ada.Set("name", "Ada Lovelace")
	if err := app.Save(ada); err != nil {
		t.Fatal(err)
	}
	if ev := conn.next(t); ev.Name != topic || ev.Record()["name"] != "Ada Lovelace" {
		t.Fatalf("update event: %+v", ev)
	}

	// An owner's topic besides: back in the broker, still detached.
	if status := conn.subscribe(t, token(t, ada), topic, "announcements"); status != http.StatusNoContent {
		t.Fatalf("subscribe: %d", status)
	}
	if place, found := srv.index.PlaceOf(conn.clientID); !found || place != (Place{InBroker: true, Detached: true}) {
		t.Fatalf("after subscribing to an owner's topic: %+v %v", place, found)
	}
	if stats := srv.index.Stats(); stats.Broker != 1 || stats.Indexed != 0 || stats.Detached != 1 || len(stats.Topics) != 0 {
		t.Fatalf("stats %+v", stats)
	}
	if _, found := srv.index.PlaceOf("no such id"); found {
		t.Fatal("PlaceOf found an unknown id")
	}
}

// PocketBase's loop unregisters a connection's id as it lets go of it. A
// subscription that gives the connection back to the broker meanwhile (the
// profile page subscribes again as it moves to its own topic) waits for
// that, and the connection is kept.
func TestRealtimeResubscribingWhileDetachingKeepsTheConnection(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	s := Bind(app, Options{})
	conn := newConnection(app, subscriptions.NewDefaultClient())
	conn.canDetach = true
	s.between(func() { // indexed, as takeIfIndexable does
		s.byID[conn.Id()] = conn
		conn.indexed.Store(true)
	})
	conn.requestDetach()

	id := conn.Client.Id() // what the client knows it by
	givenBack := make(chan struct{})
	go func() { // the new subscription
		s.giveBack(id)
		close(givenBack)
	}()
	waitFor(t, "the new subscription waiting for the detach", func() bool { return conn.detachWaiters.Load() == 1 })
	app.SubscriptionsBroker().Unregister((&loopView{conn}).Id()) // PocketBase's loop returns: it unregisters nothing (see loopView)
	conn.loopLetGo.Store(false)                                  // as the connect hook does once the loop has returned
	if !conn.attach(&sseStream{}) {
		t.Fatal("the connection was discarded before its stream was attached")
	}
	<-givenBack
	if conn.IsDiscarded() {
		t.Fatal("the connection was discarded")
	}
	if _, err := app.SubscriptionsBroker().ClientById(id); err != nil {
		t.Fatalf("not back in the broker: %v", err)
	}
}

// An indexed connection holds a reference to its auth record rather than
// the record (a few KB per connection, which every garbage collection
// walks), and whatever asks for its auth still gets the record as it is
// now: an owner's OnRealtimeMessageSend hook, and PocketBase when the
// connection subscribes again, which refuses another user's token.
func TestRealtimeIndexedConnectionsHoldTheirAuthByReference(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	seen := make(chan string, 10)
	app.OnRealtimeMessageSend().BindFunc(func(e *core.RealtimeMessageEvent) error {
		if e.Message.Name != "PB_CONNECT" {
			auth, _ := e.Client.Get(apis.RealtimeClientAuthKey).(*core.Record)
			if auth == nil {
				seen <- "a guest"
			} else {
				seen <- auth.GetString("name")
			}
		}
		return e.Next()
	})
	srv := serve(t, app, Options{})
	ada := newUser(t, app, "ada")
	other := newUser(t, app, "other")
	topic := "users/" + ada.Id
	conn := srv.connect(t)
	if status := conn.subscribe(t, token(t, ada), topic); status != http.StatusNoContent {
		t.Fatalf("subscribe: %d", status)
	}

	var held *connection
	waitFor(t, "the connection is indexed", func() bool {
		for _, c := range srv.index.all() {
			held = c
		}
		return held != nil
	})
	if record, _ := held.Client.Get(apis.RealtimeClientAuthKey).(*core.Record); record != nil {
		t.Fatal("the indexed connection holds its auth record")
	}

	ada.Set("name", "Grace")
	if err := app.Save(ada); err != nil {
		t.Fatal(err)
	}
	if ev := conn.next(t); ev.Record()["name"] != "Grace" {
		t.Fatalf("update event: %+v", ev)
	}
	if got := <-seen; got != "Grace" {
		t.Fatalf("the message hook saw the auth %q, want the user as updated", got)
	}

	if status := conn.subscribe(t, token(t, other), topic); status != http.StatusForbidden {
		t.Fatalf("another user's token took the connection over: %d", status)
	}
	if status := conn.subscribe(t, token(t, ada), topic); status != http.StatusNoContent {
		t.Fatalf("subscribing again: %d", status)
	}
	ada.Set("name", "Lovelace")
	if err := app.Save(ada); err != nil {
		t.Fatal(err)
	}
	if ev := conn.next(t); ev.Record()["name"] != "Lovelace" {
		t.Fatalf("update event after subscribing again: %+v", ev)
	}

	// Once the record is no longer in memory it is read again; when the
	// database cannot answer, a stand-in with the user's id and token key
	// still refuses another user's token.
	waitFor(t, "the connection is indexed again", held.indexed.Load)
	forgetRecord := func() {
		held.authMu.Lock()
		defer held.authMu.Unlock()
		ref := *held.authRef
		ref.record = weak.Pointer[core.Record]{}
		held.authRef = &ref
	}
	forgetRecord()
	if auth, _ := held.Get(apis.RealtimeClientAuthKey).(*core.Record); auth == nil || auth.GetString("name") != "Lovelace" {
		t.Fatalf("the auth read again: %v", auth)
	}
	forgetRecord()
	if err := app.ConcurrentDB().(*dbx.DB).Close(); err != nil {
		t.Fatal(err)
	}
	auth, _ := held.Get(apis.RealtimeClientAuthKey).(*core.Record)
	if auth == nil || auth.Id != ada.Id || auth.TokenKey() != ada.TokenKey() {
		t.Fatalf("with the database unavailable, the auth is %v, want a stand-in for %s", auth, ada.Id)
	}
}
