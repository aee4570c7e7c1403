package hooks

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// After a user's deletion, neither the Clerk page's tables nor the logs
// hold the user's email or name: failures and sync runs name users by
// Clerk id, and the deletion clears what still names the user.
func TestADeletedUsersEmailAndNameAreNotKept(t *testing.T) {
	for _, mode := range []string{UserDeleteDelete, UserDeleteAnonymize} {
		t.Run(mode, func(t *testing.T) {
			app := newTestApp(t)
			app.Settings().Logs.MaxDays = 7 // PocketBase's test app keeps no logs
			f := newFakeClerk(t, 10)
			config := fakeConfig(f)
			config.WebhookSecrets, config.UserDelete = []string{testSecret}, mode
			srv := serve(t, app, config)
			token := newSuperuserToken(t, app)
			send(t, http.MethodPost, srv.URL+SyncPath, token, `{}`)
			waitForSync(t, srv.URL, token)

			const victim, email, name = "user_fake000003", "user000003@example.com", "First3"
			if c := clientOf(t, app, victim); c == nil || c.Email() != email || c.GetString(migrations.FieldFirstName) != name {
				t.Fatalf("the victim's client: %v", c)
			}
			// An older event of another user claiming the address: refused, Svix retries.
			claim := userEventBody(eventUserUpdated, func(u map[string]any) {
				u["id"], u["updated_at"] = "user_claimer", 100
				u["phone_numbers"] = []any{}
				u["email_addresses"] = []any{map[string]any{"id": "idn_claim", "email_address": email}}
				u["primary_email_address_id"] = "idn_claim"
			})
			if r := deliver(t, srv.URL, "msg_claim", claim); r.Status < 500 {
				t.Fatalf("a claim on a newer client's address: %+v", r)
			}
			// A dry run of the prune lists the victim.
			f.edit(func(f *fakeClerk) { f.RemoveUser(victim) })
			ageClients(t, app, 10*time.Minute)
			send(t, http.MethodPost, srv.URL+SyncPath, token, `{"prune":true,"dryRun":true}`)
			// A prune that anonymizes lists its client as one that deletes does.
			if run := waitForSync(t, srv.URL, token); len(run.Pruned) != 1 || run.Pruned[0].ClerkID != victim || run.Counts.Deleted != 1 {
				t.Fatalf("dry run: %+v", run)
			}
			// A superuser's search by email: the request's URL is logged.
			if r := get(t, srv.URL+"/api/collections/clients/records?filter="+url.QueryEscape("email='"+email+"'"), token); r.Status != http.StatusOK {
				t.Fatalf("search: %+v", r)
			}
			// What versions before this one wrote.
			legacy := []string{
				"INSERT INTO clerk_failures (id, status, reason, svixId, count, firstAt, lastAt) VALUES ('legacyfailure01', 500, 'the primary email belongs to another client with newer Clerk data (" + email + ", client x, Clerk user " + victim + ")', '', 1, '', '')",
				"INSERT INTO clerk_sync_runs (id, trigger, prune, dryRun, startedAt, finishedAt, counts, pruned, error) VALUES ('legacysyncrun01', 'command', 1, 1, '2026-01-01 00:00:00.000Z', '2026-01-01 00:00:01.000Z', '{}', " +
					"'[{\"id\":\"x\",\"clerkId\":\"" + victim + "\",\"email\":\"" + email + "\",\"name\":\"" + name + " Last\"},{\"id\":\"y\",\"clerkId\":\"user_other\",\"email\":\"other@example.com\"}]', 'client " + victim + ": " + email + " is taken')",
			}
			for _, q := range legacy {
				if _, err := app.DB().NewQuery(q).Execute(); err != nil {
					t.Fatal(err)
				}
			}
			// PocketBase logs a request after answering it: wait for the row.
			for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
				flushLogs(t, app)
				if rowsNaming(t, app.AuxDB(), "_logs", "message,data", email) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the logs do not name the user before the deletion: the test proves nothing")
				}
			}

			if r := deliver(t, srv.URL, "msg_del", userDeletedEvent(victim, time.Now().UnixMilli())); r.Status != http.StatusOK {
				t.Fatalf("deletion: %+v", r)
			}

			s := statusOf(t, srv.URL, token)
			for _, f := range s.Failures {
				if strings.Contains(f.Reason, email) {
					t.Errorf("a failure names the deleted user: %+v", f)
				}
			}
			for _, p := range s.LastSync.Pruned {
				if p.Email != "" || p.Name != "" {
					t.Errorf("a sync run names the deleted user: %+v", p)
				}
			}
			for table, columns := range map[string]string{migrations.DeliveryFailuresCollection: "reason", migrations.SyncRunsCollection: "pruned,error"} {
				if n := rowsNaming(t, app.DB(), table, columns, email, name+" Last"); n > 0 {
					t.Errorf("%d rows of %s name the deleted user", n, table)
				}
			}
			// Another user's entry stays as it was.
			if n := rowsNaming(t, app.DB(), migrations.SyncRunsCollection, "pruned", "other@example.com"); n != 1 {
				t.Errorf("another user's entry in a sync run: %d rows, want 1", n)
			}
			deadline := time.Now().Add(5 * time.Second)
			for rowsNaming(t, app.AuxDB(), "_logs", "message,data", email, name+" Last") > 0 {
				if time.Now().After(deadline) {
					t.Fatal("the logs name the deleted user")
				}
				flushLogs(t, app)
				time.Sleep(20 * time.Millisecond)
			}
		})
	}
}

// rowsNaming counts the rows of table whose columns hold any of names.
func rowsNaming(t *testing.T, db dbx.Builder, table, columns string, names ...string) int {
	t.Helper()
	n := 0
	for _, name := range names {
		var c int
		q := "SELECT count(*) FROM " + table + " WHERE instr(" + strings.ReplaceAll(columns, ",", ", {:name}) > 0 OR instr(") + ", {:name}) > 0"
		if err := db.NewQuery(q).Bind(dbx.Params{"name": name}).Row(&c); err != nil {
			t.Fatal(err)
		}
		n += c
	}
	return n
}

// flushLogs writes PocketBase's batched logs out.
func flushLogs(t *testing.T, app core.App) {
	t.Helper()
	if err := app.OnBootstrapClear().Trigger(&core.BootstrapEvent{App: app}, func(e *core.BootstrapEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
}
