package hooks

import (
	"bufio"
	"encoding/json"
	"fmt"
	"maps"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/hooks/internal/realtimeindex"
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

// ends fails unless the server ends the connection within 5 s, with no
// event before.
func (c *realtimeConn) ends(t *testing.T, what string) {
	t.Helper()
	select {
	case ev, ok := <-c.events:
		if ok {
			t.Fatalf("unexpected realtime event: %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatalf("%s did not end", what)
	}
}

// Connections listening to their own client's record leave PocketBase's
// broker, whose walks cost per connection, and each still gets exactly its
// own record's changes: updates, a new subscription, a ban, a deletion.
func TestRealtimeOwnRecordSubscribersGetExactlyTheirOwnChanges(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})

	const n = 6
	users := make([]map[string]any, n)
	conns := make([]*realtimeConn, n)
	for i := range n {
		users[i] = clerkfake.NewUser(fmt.Sprintf("user_2own%023d", i), fmt.Sprint("User", i), 1000)
		if r := deliver(t, srv.URL, fmt.Sprint("msg_c", i), clerkfake.Event(eventUserCreated, users[i])); r.Status != 200 {
			t.Fatalf("creating user %d: %+v", i, r)
		}
		conns[i] = srv.signIn(t, users[i]["id"].(string), "clients/"+clientOf(t, app, users[i]["id"].(string)).Id)
	}
	// One more, on the wildcard topic, indexed under it.
	wild := srv.signIn(t, users[0]["id"].(string), "clients/*")
	if got, indexed := app.SubscriptionsBroker().TotalClients(), realtimeIndexOf(app).Stats().Indexed; got != 0 || indexed != n+1 {
		t.Fatalf("%d connections in PocketBase's broker and %d in the index, want all %d in the index", got, indexed, n+1)
	}

	update := func(i int, at int64, edit func(u map[string]any)) {
		t.Helper()
		users[i]["first_name"], users[i]["updated_at"] = fmt.Sprint("User", i, "@", at), at
		if edit != nil {
			edit(users[i])
		}
		if r := deliver(t, srv.URL, fmt.Sprint("msg_u", i, "_", at), clerkfake.Event(eventUserUpdated, users[i])); r.Body["outcome"] != "updated" {
			t.Fatalf("updating user %d: %+v", i, r)
		}
	}
	for i := range n {
		update(i, 2000, func(u map[string]any) { u["last_name"] = "Lovelace & <Byron>" })
	}
	var own0 sseEvent
	for i, c := range conns {
		ev := c.next(t)
		rec := ev.Record()
		if ev.Data["action"] != "update" || rec["clerkId"] != users[i]["id"] || rec["firstName"] != fmt.Sprint("User", i, "@2000") {
			t.Fatalf("connection %d got %+v", i, ev)
		}
		if _, ok := rec["privateMetadata"]; ok {
			t.Fatalf("connection %d got the hidden privateMetadata", i)
		}
		if rec["email"] == "" || rec["email"] == nil {
			t.Fatalf("connection %d: its owner does not see the email: %+v", i, rec)
		}
		if i == 0 {
			own0 = ev
		}
	}
	if ev := wild.next(t); ev.Record()["clerkId"] != users[0]["id"] {
		t.Fatalf("the wildcard connection got %+v", ev)
	} else if ev.Raw != own0.Raw {
		t.Fatalf("the same change as PocketBase sends it and as the index sends it:\n%s\n%s", ev.Raw, own0.Raw)
	}
	for _, c := range append(conns, wild) {
		c.noEvent(t, 200*time.Millisecond)
	}

	// A new subscription request finds its connection, which is then indexed again.
	conns[0].subscribe(t, "Bearer "+srv.key.token(t, users[0]["id"].(string)), migrations.ClientsCollection+"/"+clientOf(t, app, users[0]["id"].(string)).Id+
		"?options="+url.QueryEscape(`{"query":{"fields":"firstName"}}`)) // as the JS SDK sends options
	update(0, 3000, nil)
	if ev := conns[0].next(t); len(ev.Record()) != 1 || ev.Record()["firstName"] != "User0@3000" {
		t.Fatalf("after resubscribing with fields: %+v", ev)
	}
	// The next event bounds the wait for none above: nothing came between.
	if ev := wild.next(t); ev.Record()["firstName"] != "User0@3000" {
		t.Fatalf("the wildcard connection, after nothing: %+v", ev)
	}
	if got, indexed := app.SubscriptionsBroker().TotalClients(), indexedUnder(realtimeIndexOf(app), "clients/"+clientOf(t, app, users[0]["id"].(string)).Id); got != 0 || indexed != 1 {
		t.Fatalf("after resubscribing: %d connections in PocketBase's broker, %d indexed under the record's topic", got, indexed)
	}

	// A banned client hears of its ban, then nothing more.
	update(1, 3000, func(u map[string]any) { u["banned"] = true })
	if ev := conns[1].next(t); ev.Record()["banned"] != true {
		t.Fatalf("ban: %+v", ev)
	}
	update(1, 4000, nil)
	conns[1].noEvent(t, 200*time.Millisecond)

	// A deleted client hears of its deletion once.
	body := fmt.Sprintf(`{"type":"user.deleted","object":"event","timestamp":5000,"data":{"id":%q,"deleted":true,"object":"user"}}`, users[2]["id"])
	if r := deliver(t, srv.URL, "msg_del", []byte(body)); r.Body["outcome"] != "deleted" {
		t.Fatalf("delete: %+v", r)
	}
	if ev := conns[2].next(t); ev.Data["action"] != "delete" || ev.Record()["clerkId"] != users[2]["id"] {
		t.Fatalf("delete event: %+v", ev)
	}
	for i, c := range conns {
		if i != 0 {
			c.noEvent(t, 100*time.Millisecond)
		}
	}
	// Each connection still signed in hears next of its own next change,
	// and of nothing before it.
	for i := 3; i < n; i++ {
		update(i, 6000, nil)
		if ev := conns[i].next(t); ev.Record()["firstName"] != fmt.Sprint("User", i, "@6000") {
			t.Fatalf("connection %d, after nothing: %+v", i, ev)
		}
	}
}

// detachedStreams is how many realtime connections run detached from
// PocketBase's connection loop.
func detachedStreams(app core.App) int {
	return realtimeIndexOf(app).Stats().Detached
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

// A connection that listens to its own record leaves PocketBase's connection
// loop as well: the request's goroutine returns and the stream goes on from
// the connection itself, with the same bytes on the wire (HTTP/1.1 chunks).
// It ends when the client goes away, and after the idle timeout.
func TestRealtimeOwnRecordConnectionsAreDetached(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	idle := make(chan time.Duration, 1)
	idle <- 5 * time.Minute
	app.OnRealtimeConnectRequest().BindFunc(func(e *core.RealtimeConnectRequestEvent) error {
		select {
		case d := <-idle:
			e.IdleTimeout = d
		default:
			e.IdleTimeout = time.Second
		}
		return e.Next()
	})
	srv := serveWithClerk(t, app, Config{})
	owners := realtimeIndexOf(app)

	user := clerkfake.NewUser("user_2detached0000000000000000", "Detached", 1000)
	if r := deliver(t, srv.URL, "msg_c", clerkfake.Event(eventUserCreated, user)); r.Status != 200 {
		t.Fatalf("creating the user: %+v", r)
	}
	client := clientOf(t, app, user["id"].(string))

	// A raw connection, to read the bytes as they arrive.
	raw, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	fmt.Fprintf(raw, "GET /api/realtime HTTP/1.1\r\nHost: %s\r\n\r\n", raw.RemoteAddr())
	r := bufio.NewReader(raw)
	res, err := http.ReadResponse(r, nil)
	if err != nil || res.StatusCode != 200 || res.TransferEncoding == nil || res.TransferEncoding[0] != "chunked" {
		t.Fatalf("realtime answer: %v %+v", err, res)
	}
	// res.Body decodes the chunks: the same reader before and after the detach.
	events := bufio.NewReader(res.Body)
	readEvent := func() (name, data string) {
		t.Helper()
		_ = raw.SetReadDeadline(time.Now().Add(5 * time.Second))
		for {
			line, err := events.ReadString('\n')
			if err != nil {
				t.Fatalf("reading the stream: %v", err)
			}
			switch {
			case strings.HasPrefix(line, "event:"):
				name = strings.TrimSpace(strings.TrimPrefix(line, "event:"))
			case strings.HasPrefix(line, "data:"):
				data = strings.TrimSpace(strings.TrimPrefix(line, "data:"))
			case line == "\n" && name != "":
				return name, data
			}
		}
	}
	name, data := readEvent()
	var connect struct{ ClientID string }
	if name != "PB_CONNECT" || json.Unmarshal([]byte(data), &connect) != nil {
		t.Fatalf("first event %q %s", name, data)
	}
	sub := &realtimeConn{baseURL: srv.URL, clientID: connect.ClientID}
	sub.subscribe(t, "Bearer "+srv.key.token(t, user["id"].(string)), "clients/"+client.Id)
	waitFor(t, "the connection detached", func() bool { return detachedStreams(app) == 1 })

	user["first_name"], user["updated_at"] = "Detached@2000", int64(2000)
	if r := deliver(t, srv.URL, "msg_u1", clerkfake.Event(eventUserUpdated, user)); r.Body["outcome"] != "updated" {
		t.Fatalf("update: %+v", r)
	}
	if name, data := readEvent(); name != "clients/"+client.Id || !strings.Contains(data, `"firstName":"Detached@2000"`) {
		t.Fatalf("after the detach: %q %s", name, data)
	}
	// A new subscription finds the connection, which stays detached.
	sub.subscribe(t, "Bearer "+srv.key.token(t, user["id"].(string)), "clients/"+client.Id+"?options="+url.QueryEscape(`{"query":{"fields":"firstName"}}`))
	user["first_name"], user["updated_at"] = "Detached@3000", int64(3000)
	if r := deliver(t, srv.URL, "msg_u2", clerkfake.Event(eventUserUpdated, user)); r.Body["outcome"] != "updated" {
		t.Fatalf("update: %+v", r)
	}
	name, data = readEvent()
	var ev struct {
		Action string
		Record map[string]any
	}
	if !strings.HasPrefix(name, "clients/"+client.Id+"?") || json.Unmarshal([]byte(data), &ev) != nil ||
		ev.Action != "update" || len(ev.Record) != 1 || ev.Record["firstName"] != "Detached@3000" {
		t.Fatalf("after resubscribing: %q %s", name, data)
	}
	if got := app.SubscriptionsBroker().TotalClients(); got != 0 || owners.Stats().Indexed != 1 || detachedStreams(app) != 1 {
		t.Fatalf("broker %d, index %d, detached %d", got, owners.Stats().Indexed, detachedStreams(app))
	}

	// The client goes away: the stream ends and the index forgets it.
	raw.Close()
	waitFor(t, "the closed connection forgotten", func() bool { return detachedStreams(app) == 0 && owners.Stats().Indexed == 0 })

	// Another connection, with a one-second idle timeout: the stream ends,
	// as PocketBase's would, and the client sees its end.
	c := srv.signIn(t, user["id"].(string), "clients/"+client.Id)
	waitFor(t, "the second connection detached", func() bool { return detachedStreams(app) == 1 })
	c.ends(t, "the idle stream")
	waitFor(t, "the idle connection forgotten", func() bool { return detachedStreams(app) == 0 && owners.Stats().Indexed == 0 })

	// A detached connection that subscribes to a topic other than a
	// record's (an owner's own topic) goes back to PocketBase's broker, where
	// the owner's code looks for it, still detached; when it ends (idle
	// again), it leaves the broker too.
	back := srv.signIn(t, user["id"].(string), "clients/"+client.Id)
	waitFor(t, "the third connection detached", func() bool { return detachedStreams(app) == 1 })
	back.subscribe(t, "Bearer "+srv.key.token(t, user["id"].(string)), "clients/"+client.Id, "announcements")
	if got := app.SubscriptionsBroker().TotalClients(); got != 1 || owners.Stats().Indexed != 0 {
		t.Fatalf("after subscribing to more: broker %d, index %d", got, owners.Stats().Indexed)
	}
	waitFor(t, "the given-back connection ended and forgotten", func() bool {
		return detachedStreams(app) == 0 && app.SubscriptionsBroker().TotalClients() == 0
	})
}

// A connection that cannot be taken over from PocketBase's loop (here, an
// owner's hook encodes the response) ends once; its client's next
// connection stays on the loop and gets its record's changes there.
func TestRealtimeConnectionThatCannotBeDetachedReconnectsOnce(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	app.OnRealtimeConnectRequest().BindFunc(func(e *core.RealtimeConnectRequestEvent) error {
		e.Response.Header().Set("Content-Encoding", "identity")
		return e.Next()
	})
	srv := serveWithClerk(t, app, Config{})
	user := clerkfake.NewUser("user_2undetached00000000000000", "Kept", 1000)
	if r := deliver(t, srv.URL, "msg_c", clerkfake.Event(eventUserCreated, user)); r.Status != 200 {
		t.Fatalf("creating the user: %+v", r)
	}
	client := clientOf(t, app, user["id"].(string))
	token := "Bearer " + srv.key.token(t, user["id"].(string))

	first := connectRealtime(t, srv.URL)
	first.subscribe(t, token, "clients/"+client.Id)
	first.ends(t, "the connection that could not be detached")

	again := connectRealtime(t, srv.URL)
	again.subscribe(t, token, "clients/"+client.Id)
	user["first_name"], user["updated_at"] = "Kept@2000", int64(2000)
	if r := deliver(t, srv.URL, "msg_u", clerkfake.Event(eventUserUpdated, user)); r.Body["outcome"] != "updated" {
		t.Fatalf("update: %+v", r)
	}
	if ev := again.next(t); ev.Name != "clients/"+client.Id || ev.Data["record"].(map[string]any)["firstName"] != "Kept@2000" {
		t.Fatalf("event %+v", ev)
	}
	if n := detachedStreams(app); n != 0 {
		t.Fatalf("%d detached connections", n)
	}
}

// indexedUnder is how many connections the index holds under topic.
func indexedUnder(s *realtimeindex.Index, topic string) int {
	return s.Stats().Topics[topic]
}

// The index answers the shipped view rule without a query, and leaves any
// other rule to PocketBase: an owner's rule still decides what is sent.
func TestRealtimeOwnRecordSubscribersFollowTheOwnersViewRule(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	u := clerkfake.NewUser(userA, "Alice", 1000)
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, u))
	conn := srv.signIn(t, userA, "clients/"+clientOf(t, app, userA).Id)

	clients, err := app.FindCollectionByNameOrId(migrations.ClientsCollection)
	if err != nil {
		t.Fatal(err)
	}
	rule := migrations.OwnRecordRule + ` && firstName != "Hidden"`
	clients.ViewRule = &rule
	if err := app.Save(clients); err != nil {
		t.Fatal(err)
	}
	u["first_name"], u["updated_at"] = "Hidden", 2000
	deliver(t, srv.URL, "msg_2", clerkfake.Event(eventUserUpdated, u))
	conn.noEvent(t, 300*time.Millisecond)
	u["first_name"], u["updated_at"] = "Shown", 3000
	deliver(t, srv.URL, "msg_3", clerkfake.Event(eventUserUpdated, u))
	if ev := conn.next(t); ev.Record()["firstName"] != "Shown" {
		t.Fatalf("after the owner's rule admits the record again: %+v", ev)
	}
}

// An indexed connection's messages are those PocketBase's broker sends, byte
// for byte (the record of a subscription with fields, as PocketBase encodes
// it in no set order, compared decoded), for records as old data may hold
// them, including one that PocketBase cannot encode whole.
func TestRealtimeMessageIsPocketBases(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	id := clientOf(t, app, userA).Id
	// The same record topics, one with options, on two connections: one
	// with an owner's topic besides, which keeps it in PocketBase's broker.
	topics := []string{"clients/" + id, "clients/" + id + "?options=" + url.QueryEscape(`{"query":{"fields":"id,firstName,publicMetadata"}}`)}
	pocketBase := srv.signIn(t, userA, append(topics, "announcements")...)
	index := srv.signIn(t, userA, topics...)
	waitFor(t, "one connection indexed, the other in the broker", func() bool {
		return indexedUnder(realtimeIndexOf(app), "clients/"+id) == 1 && app.SubscriptionsBroker().TotalClients() == 1
	})
	// A change's messages by topic, the record of the one with fields
	// decoded: PocketBase encodes the picked fields from a map, whose order
	// it does not keep (encoding/json/v2).
	messages := func(c *realtimeConn, n int) map[string]string {
		out := map[string]string{}
		for range n {
			ev := c.next(t)
			if strings.Contains(ev.Name, "?options=") {
				out[ev.Name] = fmt.Sprint(ev.Data)
			} else {
				out[ev.Name] = ev.Raw
			}
		}
		return out
	}
	for _, c := range []struct {
		name string
		set  map[string]any
		sent int // a member named twice: PocketBase cannot encode the whole record, only its picked fields
	}{
		{"markup", map[string]any{"firstName": "Ada & <b>", "lastName": "\u2028"}, 2},
		{"invalid UTF-8", map[string]any{"firstName": "Ada \xff"}, 2},
		{"JSON with spaces", map[string]any{"publicMetadata": types.JSONRaw(`{ "role" : "admin" }`)}, 2},
		{"a member named twice", map[string]any{"publicMetadata": types.JSONRaw(`{"role":"a","role":"b"}`)}, 1},
	} {
		changed := clientOf(t, app, userA)
		for field, value := range c.set {
			changed.SetRaw(field, value)
		}
		// Unvalidated, as old data may have been written.
		if err := app.SaveNoValidate(changed); err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		// One change at a time: two changes' messages may arrive in either order.
		if got, want := messages(index, c.sent), messages(pocketBase, c.sent); !maps.Equal(got, want) {
			t.Errorf("%s: the index sends %q, PocketBase %q", c.name, got, want)
		}
	}
	// Neither sent more than that.
	last := clientOf(t, app, userA)
	last.Set("firstName", "last")
	last.Set("publicMetadata", map[string]any{"role": "member"})
	if err := app.Save(last); err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]*realtimeConn{"the index": index, "PocketBase": pocketBase} {
		for _, ev := range []sseEvent{c.next(t), c.next(t)} {
			if got := ev.Record()["firstName"]; got != "last" {
				t.Errorf("%s sent an extra message (firstName %v) before the last change", name, got)
			}
		}
	}
}

// The Clerk page's status counts the realtime connections by where they
// are served from, with the index on and off.
func TestStatusCountsTheRealtimeConnections(t *testing.T) {
	t.Parallel()
	for _, off := range []bool{false, true} {
		app := newTestApp(t)
		srv := serveWithClerk(t, app, Config{RealtimeIndexOff: off})
		deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
		topic := "clients/" + clientOf(t, app, userA).Id
		srv.signIn(t, userA, topic)
		srv.signIn(t, userA, topic, "announcements") // an owner's topic: in PocketBase's broker
		want := realtimeStatus{Index: true, Broker: 1, Indexed: 1, Detached: 2}
		if off {
			want = realtimeStatus{Broker: 2}
		}
		superuser := newSuperuserToken(t, app)
		var got realtimeStatus
		waitFor(t, fmt.Sprintf("the status counting %+v (index off: %v)", want, off), func() bool {
			got = statusOf(t, srv.URL, superuser).Realtime
			return got == want
		})
	}
}
