package hooks

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// sessionEvent is a Clerk session event ending the session sid of userID.
func sessionEvent(t *testing.T, typ, sid, userID string) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(readFixture(t, "session.revoked.json"), &env); err != nil {
		t.Fatal(err)
	}
	env["type"] = typ
	data := env["data"].(map[string]any)
	data["id"], data["user_id"], data["status"] = sid, userID, typ[len("session."):]
	b, _ := json.Marshal(env)
	return b
}

func TestEndedSessionsSignOutTheirRealtimeConnections(t *testing.T) {
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))

	// One user, three sessions (three devices), one connection each, and a
	// fourth session still waiting for a user that has no client yet.
	// sess_ended listens to its own record only, as the README advises,
	// which takes it out of PocketBase's broker.
	connect := func(sub, sid, topic string) *realtimeConn {
		c := validClaims(sub)
		c["sid"] = sid
		conn := connectRealtime(t, srv.URL)
		conn.subscribe(t, "Bearer "+srv.key.sign(t, c), topic)
		return conn
	}
	conns := map[string]*realtimeConn{}
	for _, sid := range []string{"sess_revoked", "sess_ended", "sess_removed", "sess_kept"} {
		topic := "clients/*"
		if sid == "sess_ended" {
			topic = "clients/" + clientOf(t, app, userA).Id
		}
		conns[sid] = connect(userA, sid, topic)
		if authOf(app, conns[sid].clientID) == nil {
			t.Fatalf("%s: not signed in", sid)
		}
	}
	waiting := connect(newcomer, "sess_waiting", "clients/*")

	for i, ev := range []struct{ typ, sid, user string }{
		{eventSessionRevoked, "sess_revoked", userA},
		{eventSessionEnded, "sess_ended", userA},
		{eventSessionRemoved, "sess_removed", userA},
		{eventSessionEnded, "sess_waiting", newcomer},
	} {
		r := deliver(t, srv.URL, "msg_s"+string(rune('0'+i)), sessionEvent(t, ev.typ, ev.sid, ev.user))
		if r.Status != http.StatusOK || r.Body["outcome"] != string(outcomeSignedOut) {
			t.Fatalf("%s: %+v", ev.typ, r)
		}
	}
	for _, sid := range []string{"sess_revoked", "sess_ended", "sess_removed"} {
		if authOf(app, conns[sid].clientID) != nil {
			t.Errorf("the connection of %s is still signed in", sid)
		}
	}
	if authOf(app, conns["sess_kept"].clientID) == nil {
		t.Error("another session's connection was signed out")
	}

	// The waiting connection is not signed in when its client appears.
	deliver(t, srv.URL, "msg_n", clerkfake.Event(eventUserCreated, clerkfake.NewUser(newcomer, "Nina", 1000)))
	if authOf(app, waiting.clientID) != nil {
		t.Error("an ended session's waiting connection was signed in")
	}

	// A token of an ended session, still unexpired, cannot sign in again.
	c := validClaims(userA)
	c["sid"] = "sess_revoked"
	status, reason, _ := sessionHeaders(t, srv.URL, "Bearer "+srv.key.sign(t, c))
	if status != "refused" || reason != refusedSignedOut {
		t.Errorf("a token of a revoked session: %q/%q", status, reason)
	}
	again := connectRealtime(t, srv.URL)
	again.subscribe(t, "Bearer "+srv.key.sign(t, c), "clients/*")
	if authOf(app, again.clientID) != nil {
		t.Error("a token of a revoked session signed a new realtime connection in")
	}

	// Logged once per delivery, with the user.
	if n := count(t, app, migrations.EventsCollection, "outcome = 'signedOut' && clerkId = '"+userA+"'"); n != 3 {
		t.Fatalf("%d signedOut rows for %s, want 3", n, userA)
	}
}

// A revoked session's tokens stay refused across a restart, for as long as
// a token issued before the end may live; the prune forgets them after.
func TestARevokedSessionStaysRefusedAfterARestart(t *testing.T) {
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{AuthorizedParties: []string{testOrigin}})
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	if r := deliver(t, srv.URL, "msg_s", sessionEvent(t, eventSessionRevoked, "sess_revoked", userA)); r.Body["outcome"] != string(outcomeSignedOut) {
		t.Fatalf("revocation: %+v", r)
	}

	// A restart: a new app on a copy of this data.
	restarted, err := tests.NewTestAppWithConfig(core.BaseAppConfig{DataDir: app.DataDir(), EncryptionEnv: "pb_test_env", DBConnect: DBConnect})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(restarted.Cleanup)
	srv2 := serve(t, restarted, srv.config)
	revoked, kept := validClaims(userA), validClaims(userA)
	revoked["sid"], kept["sid"] = "sess_revoked", "sess_kept"
	if status, reason, _ := sessionHeaders(t, srv2.URL, "Bearer "+srv.key.sign(t, revoked)); status != "refused" || reason != refusedSignedOut {
		t.Errorf("a token of a revoked session after a restart: %q/%q", status, reason)
	}
	conn := connectRealtime(t, srv2.URL)
	conn.subscribe(t, "Bearer "+srv.key.sign(t, revoked), "clients/*")
	if authOf(restarted, conn.clientID) != nil {
		t.Error("a token of a revoked session signed a realtime connection in after a restart")
	}
	if status, _, _ := sessionHeaders(t, srv2.URL, "Bearer "+srv.key.sign(t, kept)); status != "signed-in" {
		t.Errorf("another session's token: %q", status)
	}

	// Once no token of it can be alive, the prune forgets it.
	if err := pruneEvents(restarted, time.Now().Add(-time.Hour)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, restarted, migrations.EndedSessionsCollection, ""); n != 1 {
		t.Fatalf("%d ended sessions kept while its tokens may live, want 1", n)
	}
	if err := pruneEndedSessions(restarted, time.Now().Add(endedSessionTTL+time.Minute)); err != nil {
		t.Fatal(err)
	}
	if n := count(t, restarted, migrations.EndedSessionsCollection, ""); n != 0 {
		t.Fatalf("%d ended sessions kept after their tokens expired", n)
	}
}
