package hooks

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// sessionHeaders sends a GET with authorization and returns the answer's
// session status and reason headers.
func sessionHeaders(t *testing.T, url, authorization string) (status, reason, exposed string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/api/collections/clients/records", nil)
	req.Header.Set("Authorization", authorization)
	req.Header.Set("Origin", testOrigin)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	return res.Header.Get(SessionStatusHeader), res.Header.Get(SessionReasonHeader), strings.Join(res.Header.Values("Access-Control-Expose-Headers"), ",")
}

func TestRefusedSessionTokensSayWhy(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t), AuthorizedParties: []string{testOrigin}})
	for _, u := range []map[string]any{clerkfake.NewUser(userA, "Alice", 1000), clerkfake.NewUser(userB, "Bob", 1000)} {
		deliver(t, srv.URL, "msg_"+u["id"].(string), clerkfake.Event(eventUserCreated, u))
	}
	banned := clerkfake.NewUser(userB, "Bob", 2000)
	banned["banned"] = true
	deliver(t, srv.URL, "msg_ban", clerkfake.Event(eventUserUpdated, banned))
	deliver(t, srv.URL, "msg_del", clerkfake.Event(eventUserDeleted, map[string]any{"id": newcomer, "deleted": true}))

	now := time.Now()
	with := func(edit func(claims)) string {
		c := validClaims(userA)
		edit(c)
		return key.sign(t, c)
	}
	for token, want := range map[string]string{
		with(func(c claims) { c["exp"] = now.Add(-time.Minute).Unix() }): refusedExpired,
		with(func(c claims) { c["nbf"] = now.Add(time.Minute).Unix() }):  refusedNotYetValid,
		with(func(c claims) { c["azp"] = "https://evil.example" }):       refusedWrongParty,
		with(func(c claims) { delete(c, "sid") }):                        refusedNotASession,
		with(func(c claims) { c["sts"] = "pending" }):                    refusedPending,
		with(func(c claims) { c["iss"] = "https://evil.example" }):       refusedInvalid,
		newSigningKey(t, 1, "ins_key1").token(t, userA):                  refusedBadSignature,
		key.token(t, userB):    refusedBanned,
		key.token(t, newcomer): refusedDeleted,
	} {
		status, reason, exposed := sessionHeaders(t, srv.URL, "Bearer "+token)
		if status != "refused" || reason != want {
			t.Errorf("want refused/%s, got %q/%q", want, status, reason)
		}
		mustContain(t, exposed, SessionReasonHeader)
	}
	if status, reason, _ := sessionHeaders(t, srv.URL, "Bearer "+key.token(t, userA)); status != "signed-in" || reason != "" {
		t.Errorf("a valid token: %q/%q", status, reason)
	}

	// Without keys, every Clerk token is refused as not configured.
	other := serve(t, newTestApp(t), Config{})
	if status, reason, _ := sessionHeaders(t, other.URL, "Bearer "+key.token(t, userA)); status != "refused" || reason != refusedNotConfigured {
		t.Errorf("no keys configured: %q/%q", status, reason)
	}
}

func TestSessionTokenRefusalsReachTheLogsOncePerMinute(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	app := newTestApp(t)
	app.Settings().Logs.MaxDays = 7 // PocketBase's test app keeps no logs
	srv := serve(t, app, Config{JWTKey: key.publicPEM(t)})

	expired := validClaims(userA)
	expired["exp"] = time.Now().Add(-time.Minute).Unix()
	token := key.sign(t, expired)
	for range 5 {
		sessionHeaders(t, srv.URL, "Bearer "+token)
	}
	sessionHeaders(t, srv.URL, "Bearer "+newSigningKey(t, 1, "ins_key1").token(t, userB))

	rows := logRows(t, app, "Clerk session token refused%")
	if len(rows) != 2 {
		t.Fatalf("%d log rows for 6 refusals of 2 users, want 2: %v", len(rows), rows)
	}
	for i, want := range []string{`"reason":"expired"`, `"reason":"bad-signature"`} {
		mustContain(t, rows[i], want)
	}
	mustContain(t, rows[0], `"clerkId":"`+userA)
	mustContain(t, rows[0], `NTP`)
}

// logRows flushes the app's logs and returns the data of the rows at info
// level or above whose message is like pattern, oldest first.
func logRows(t *testing.T, app *tests.TestApp, pattern string) []string {
	t.Helper()
	// PocketBase writes its logs in batches and flushes them before it stops.
	if err := app.OnBootstrapClear().Trigger(&core.BootstrapEvent{App: app}, func(e *core.BootstrapEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var rows []string
	err := app.AuxDB().NewQuery("SELECT data FROM _logs WHERE message LIKE {:p} AND level >= 0 ORDER BY rowid").
		Bind(map[string]any{"p": pattern}).Column(&rows)
	if err != nil {
		t.Fatal(err)
	}
	return rows
}
