package hooks

import (
	"fmt"
	"net/url"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// noEvent fails when the connection receives an event within d.
func (c *realtimeConn) noEvent(t *testing.T, d time.Duration) {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if ok {
			t.Fatalf("unexpected realtime event: %+v", ev)
		}
	case <-time.After(d):
	}
}

// Connections listening to their own client's record leave PocketBase's
// broker, whose walks cost per connection, and each still gets exactly its
// own record's changes: updates, a new subscription, a ban, a deletion.
func TestRealtimeOwnRecordSubscribersGetExactlyTheirOwnChanges(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t)})

	const n = 6
	users := make([]map[string]any, n)
	conns := make([]*realtimeConn, n)
	for i := range n {
		users[i] = clerkUser(t, fmt.Sprintf("user_2own%023d", i), fmt.Sprint("User", i), 1000)
		if r := deliver(t, srv.URL, fmt.Sprint("msg_c", i), userEvent(eventUserCreated, users[i])); r.Status != 200 {
			t.Fatalf("creating user %d: %+v", i, r)
		}
		conns[i] = connectRealtime(t, srv.URL)
		conns[i].subscribe(t, "Bearer "+key.token(t, users[i]["id"].(string)), "clients/"+clientOf(t, app, users[i]["id"].(string)).Id)
	}
	// One more, on the wildcard topic, stays with PocketBase.
	wild := connectRealtime(t, srv.URL)
	wild.subscribe(t, "Bearer "+key.token(t, users[0]["id"].(string)), "clients/*")
	if got := app.SubscriptionsBroker().TotalClients(); got != 1 {
		t.Fatalf("%d connections in PocketBase's broker, want only the wildcard one", got)
	}

	update := func(i int, at int64, edit func(u map[string]any)) {
		t.Helper()
		users[i]["first_name"], users[i]["updated_at"] = fmt.Sprint("User", i, "@", at), at
		if edit != nil {
			edit(users[i])
		}
		if r := deliver(t, srv.URL, fmt.Sprint("msg_u", i, "_", at), userEvent(eventUserUpdated, users[i])); r.Body["outcome"] != "updated" {
			t.Fatalf("updating user %d: %+v", i, r)
		}
	}
	for i := range n {
		update(i, 2000, nil)
	}
	for i, c := range conns {
		ev := c.next(t)
		rec := ev.record()
		if ev.Data["action"] != "update" || rec["clerkId"] != users[i]["id"] || rec["firstName"] != fmt.Sprint("User", i, "@2000") {
			t.Fatalf("connection %d got %+v", i, ev)
		}
		if _, ok := rec["privateMetadata"]; ok {
			t.Fatalf("connection %d got the hidden privateMetadata", i)
		}
		if rec["email"] == "" || rec["email"] == nil {
			t.Fatalf("connection %d: its owner does not see the email: %+v", i, rec)
		}
	}
	if ev := wild.next(t); ev.record()["clerkId"] != users[0]["id"] {
		t.Fatalf("the wildcard connection got %+v", ev)
	}
	for _, c := range append(conns, wild) {
		c.noEvent(t, 200*time.Millisecond)
	}

	// A new subscription request finds its connection, which is then indexed again.
	conns[0].subscribe(t, "Bearer "+key.token(t, users[0]["id"].(string)), migrations.ClientsCollection+"/"+clientOf(t, app, users[0]["id"].(string)).Id+
		"?options="+url.QueryEscape(`{"query":{"fields":"firstName"}}`)) // as the JS SDK sends options
	update(0, 3000, nil)
	if ev := conns[0].next(t); len(ev.record()) != 1 || ev.record()["firstName"] != "User0@3000" {
		t.Fatalf("after resubscribing with fields: %+v", ev)
	}
	wild.next(t)
	if got := app.SubscriptionsBroker().TotalClients(); got != 1 {
		t.Fatalf("%d connections in PocketBase's broker after resubscribing", got)
	}

	// A banned client hears of its ban, then nothing more.
	update(1, 3000, func(u map[string]any) { u["banned"] = true })
	if ev := conns[1].next(t); ev.record()["banned"] != true {
		t.Fatalf("ban: %+v", ev)
	}
	update(1, 4000, nil)
	conns[1].noEvent(t, 200*time.Millisecond)

	// A deleted client hears of its deletion once.
	body := fmt.Sprintf(`{"type":"user.deleted","object":"event","timestamp":5000,"data":{"id":%q,"deleted":true,"object":"user"}}`, users[2]["id"])
	if r := deliver(t, srv.URL, "msg_del", []byte(body)); r.Body["outcome"] != "deleted" {
		t.Fatalf("delete: %+v", r)
	}
	if ev := conns[2].next(t); ev.Data["action"] != "delete" || ev.record()["clerkId"] != users[2]["id"] {
		t.Fatalf("delete event: %+v", ev)
	}
	for i, c := range conns {
		if i != 0 {
			c.noEvent(t, 100*time.Millisecond)
		}
	}
}
