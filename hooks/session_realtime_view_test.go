package hooks

import (
	"fmt"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/subscriptions"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// PocketBase makes a deletion's messages before the deletion (its dry
// cache, kept in each connection's store) and sends them once it commits. A
// connection that moves from PocketBase's broker into the index in between
// still gets its message, once.
func TestRealtimeDeletionCachedBeforeTheConnectionMovesReachesIt(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	client := clientOf(t, app, userA)
	topic := "clients/" + client.Id
	conn := srv.signIn(t, userA, topic, "announcements") // an owner's topic: in PocketBase's broker
	if indexedUnder(realtimeIndexOf(app), topic) != 0 {
		t.Fatal("indexed with an owner's topic")
	}
	err := app.RunInTransaction(func(txApp core.App) error {
		if err := txApp.Delete(client); err != nil {
			return err
		}
		// Cached, not yet committed: the connection drops the owner's topic.
		conn.subscribe(t, "Bearer "+srv.key.token(t, userA), topic)
		if indexedUnder(realtimeIndexOf(app), topic) != 1 {
			t.Error("the connection was not indexed before the deletion committed: this test tests nothing")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if ev := conn.next(t); ev.Data["action"] != "delete" || ev.Record()["id"] != client.Id {
		t.Fatalf("want the deletion, got %+v", ev)
	}
	conn.noEvent(t, 300*time.Millisecond)
}

// A detached connection ends at PocketBase's maximum lifetime of a realtime
// connection, as PocketBase's own loop ends it: the client sees the end and
// reconnects.
func TestRealtimeDetachedConnectionEndsAtItsMaximumLifetime(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	app.OnRealtimeConnectRequest().BindFunc(func(e *core.RealtimeConnectRequestEvent) error {
		e.MaxTimeout = 1500 * time.Millisecond
		return e.Next()
	})
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	conn := srv.signIn(t, userA, "clients/"+clientOf(t, app, userA).Id)
	waitFor(t, "the connection detached", func() bool { return detachedStreams(app) == 1 })
	start := time.Now()
	conn.ends(t, "a connection past its maximum lifetime")
	if waited := time.Since(start); waited > 2*time.Second {
		t.Fatalf("ended %s after it was detached, past its lifetime", waited)
	}
	waitFor(t, "the ended connection forgotten", func() bool {
		return detachedStreams(app) == 0 && realtimeIndexOf(app).Stats().Indexed == 0
	})
}

// An owner's hooks broadcast on their own topics as PocketBase documents it
// (walking e.App's broker for the connections subscribed to the topic),
// whether or not PocketBase's realtime handlers have the index's view of
// the broker at that moment: a connection with an owner's topic is never
// indexed, and the view holds every connection of the broker.
func TestRealtimeOwnersBroadcastReachesTheirTopic(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	announce := func(e core.App, text string) {
		for _, c := range e.SubscriptionsBroker().Clients() {
			if c.HasSubscription("announcements") {
				c.Send(subscriptions.Message{Name: "announcements", Data: []byte(`"` + text + `"`)})
			}
		}
	}
	app.OnRecordAfterUpdateSuccess(migrations.ClientsCollection).BindFunc(func(e *core.RecordEvent) error {
		announce(e.App, "record hook")
		return e.Next()
	})
	app.OnModelAfterUpdateSuccess().BindFunc(func(e *core.ModelEvent) error {
		announce(e.App, "model hook")
		return e.Next()
	})
	srv := serveWithClerk(t, app, Config{})
	u := clerkfake.NewUser(userA, "Alice", 1000)
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, u))
	id := clientOf(t, app, userA).Id
	page := srv.signIn(t, userA, "clients/"+id) // indexed: the change goes through the view
	listener := srv.signIn(t, userA, "announcements")
	u["first_name"], u["updated_at"] = "Alicia", 2000
	deliver(t, srv.URL, "msg_2", clerkfake.Event(eventUserUpdated, u))
	if ev := page.next(t); ev.Record()["firstName"] != "Alicia" {
		t.Fatalf("the page's connection: %+v", ev)
	}
	got := []string{listener.next(t).Raw, listener.next(t).Raw}
	slices.Sort(got)
	if want := []string{`"model hook"`, `"record hook"`}; !slices.Equal(got, want) {
		t.Fatalf("the owner's topic got %q, want %q", got, want)
	}
	page.noEvent(t, 200*time.Millisecond)
}

// An owner's record hook that takes its time (a mail sent in
// OnRecordAfterUpdateSuccess) holds no realtime subscription up: the index
// waits for PocketBase's realtime handlers of a change, not for the hooks
// that PocketBase runs beside them.
func TestRealtimeSubscriptionsDoNotWaitForAnOwnersSlowHook(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	inHook, release := make(chan struct{}), make(chan struct{})
	app.OnRecordAfterUpdateSuccess(migrations.ClientsCollection).BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("firstName") == "Slow" {
			close(inHook)
			<-release
		}
		return e.Next()
	})
	srv := serveWithClerk(t, app, Config{})
	u := clerkfake.NewUser(userA, "Alice", 1000)
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, u))
	id := clientOf(t, app, userA).Id
	first := srv.signIn(t, userA, "clients/"+id)

	u["first_name"], u["updated_at"] = "Slow", 2000
	delivered := make(chan struct{})
	go func() {
		defer close(delivered)
		deliver(t, srv.URL, "msg_2", clerkfake.Event(eventUserUpdated, u))
	}()
	<-inHook
	subscribed := make(chan *realtimeConn)
	go func() { subscribed <- srv.signIn(t, userA, "clients/"+id) }()
	var second *realtimeConn
	select {
	case second = <-subscribed:
	case <-time.After(5 * time.Second):
		close(release)
		t.Fatal("a subscription waited for an owner's hook")
	}
	close(release)
	<-delivered
	// Both hear of the change: the first was indexed before it, the second
	// may have been indexed before PocketBase's handlers ran or after.
	if ev := first.next(t); ev.Record()["firstName"] != "Slow" {
		t.Fatalf("the first connection: %+v", ev)
	}
	u["first_name"], u["updated_at"] = "Next", 3000
	deliver(t, srv.URL, "msg_3", clerkfake.Event(eventUserUpdated, u))
	for ev := second.next(t); ev.Record()["firstName"] != "Next"; ev = second.next(t) {
		if ev.Record()["firstName"] != "Slow" {
			t.Fatalf("the second connection: %+v", ev)
		}
	}
}

// A membership's message with PocketBase's expand of its organization is
// the same from an indexed connection as from one in PocketBase's broker.
func TestRealtimeExpandedMessageIsPocketBases(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_u", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	deliver(t, srv.URL, "msg_o", clerkfake.Event(eventOrganizationCreated, clerkfake.NewOrganization(fixtureOrgID, 1000)))
	deliver(t, srv.URL, "msg_m1", clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_a", fixtureOrgID, userA, "org:member", 1000)))
	topic := "memberships/*?options=" + url.QueryEscape(`{"query":{"expand":"organization","filter":"role != 'x'"}}`)
	pocketBase := srv.signIn(t, userA, topic, "announcements")
	index := srv.signIn(t, userA, topic)
	waitFor(t, "one connection indexed, the other in the broker", func() bool {
		return indexedUnder(realtimeIndexOf(app), "memberships/*") == 1 && app.SubscriptionsBroker().TotalClients() == 1
	})
	deliver(t, srv.URL, "msg_m2", clerkfake.Event(eventMembershipUpdated, clerkfake.NewMembership("orgmem_a", fixtureOrgID, userA, "org:admin", 2000)))
	got, want := index.next(t), pocketBase.next(t)
	expanded, _ := got.Record()["expand"].(map[string]any)
	if org, _ := expanded["organization"].(map[string]any); org["clerkId"] != fixtureOrgID || got.Record()["role"] != "org:admin" {
		t.Fatalf("the indexed connection's message: %s", got.Raw)
	}
	// Decoded: PocketBase encodes the expand from a map.
	if fmt.Sprint(got.Data) != fmt.Sprint(want.Data) || got.Name != want.Name {
		t.Fatalf("the index sends %s\nPocketBase %s", got.Raw, want.Raw)
	}
}
