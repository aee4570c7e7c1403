package hooks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// misbehavingAPI serves /v1/users pages made by page (from the offset) and
// a fixed /v1/users/count.
func misbehavingAPI(t *testing.T, total int, page func(offset int) string) (url string, requests *atomic.Int64) {
	t.Helper()
	requests = new(atomic.Int64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/v1/users/count" {
			fmt.Fprintf(w, `{"object":"total_count","total_count":%d}`, total)
			return
		}
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		fmt.Fprint(w, page(offset))
	}))
	t.Cleanup(srv.Close)
	return srv.URL, requests
}

func fakeUsersJSON(from, n int) string {
	users := make([]*clerk.User, n)
	for i := range users {
		users[i] = fakeUser(from + i)
	}
	b, _ := json.Marshal(users)
	return string(b)
}

func TestSyncRefusesWhatTheBackendAPIWouldNotSend(t *testing.T) {
	for name, c := range map[string]struct {
		total int
		page  func(offset int) string
		want  string
	}{
		"a null entry": {10, func(int) string {
			return strings.Replace(fakeUsersJSON(0, 10), "{", "null,{", 1)
		}, "not a user"},
		"an entry without id": {10, func(int) string { return `[{"object":"user","first_name":"x"}]` }, "not a user"},
		"offset ignored":      {100000, func(int) string { return fakeUsersJSON(0, syncPageSize) }, "repeats the previous"},
		"past the count":      {600, func(offset int) string { return fakeUsersJSON(offset, syncPageSize) }, "counts 600"},
		"a page too large":    {2000, func(int) string { return fakeUsersJSON(0, syncPageSize+1) }, "more than the 500"},
	} {
		t.Run(name, func(t *testing.T) {
			app := newTestApp(t)
			url, requests := misbehavingAPI(t, c.total, c.page)
			done := make(chan error, 1)
			go func() {
				_, _, err := syncWith(t, app, Config{SecretKey: fakeSecretKey, APIURL: url}, syncOptions{Prune: true})
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil {
					t.Fatal("the sync succeeded")
				}
				mustContain(t, err, c.want)
				mustContain(t, err, "CLERK_API_URL")
			case <-time.After(90 * time.Second): // pages of 500 users take a while on a busy machine
				t.Fatalf("the sync still runs after %d requests", requests.Load())
			}
			if n := count(t, app, migrations.TombstonesCollection, ""); n != 0 {
				t.Fatalf("%d tombstones", n)
			}
		})
	}
}

func TestSyncRefusesAnAnswerTooLargeToHold(t *testing.T) {
	app := newTestApp(t)
	huge := `[` + strings.Repeat(`{"id":"user_x","first_name":"`+strings.Repeat("a", 1<<20)+`"},`, clerkMaxAnswer>>20) + `{"id":"user_y"}]`
	url, requests := misbehavingAPI(t, 10, func(int) string { return huge })
	_, _, err := syncWith(t, app, Config{SecretKey: fakeSecretKey, APIURL: url}, syncOptions{})
	if err == nil {
		t.Fatal("an answer over the cap was accepted")
	}
	mustContain(t, err, "MiB")
	if n := requests.Load(); n != 1 {
		t.Fatalf("%d requests: an answer too large must not be asked for again", n)
	}
}

func TestScheduledSyncPanicReachesTheLogs(t *testing.T) {
	app := newTestApp(t)
	app.Settings().Logs.MaxDays = 7 // PocketBase's test app keeps no logs
	// An owner's hook that panics on the sync's save.
	app.OnRecordCreate(migrations.ClientsCollection).BindFunc(func(e *core.RecordEvent) error {
		panic("owner's hook exploded")
	})
	f := newFakeClerk(t, 3)
	p := &plugin{app: app, config: fakeConfig(f)}
	p.runScheduledSync(t.Context())
	rows := logRows(t, app, "Scheduled Clerk sync failed%")
	if len(rows) != 1 {
		t.Fatalf("%d log rows for a failed scheduled run", len(rows))
	}
}

func TestPruneGuardEdges(t *testing.T) {
	for _, c := range []struct {
		deletions, clients int
		allowed            bool
	}{
		{0, 0, true}, {0, 5, true},
		{1, 1, false}, // never all
		{1, 2, true}, {2, 2, false},
		{1, 9, true}, {2, 9, false}, // at least 1
		{1, 19, true}, {2, 19, false}, // a tenth rounded down
		{2, 20, true}, {3, 20, false}, {9, 20, false},
		{300, 3002, true}, {301, 3002, false}, {2, 3002, true},
	} {
		if got := pruneAllowed(c.deletions, c.clients); got != c.allowed {
			t.Errorf("%d of %d clients: allowed %v, want %v", c.deletions, c.clients, got, c.allowed)
		}
	}
}

// The guard counts every client: clients that this very sync just saved
// are no reason to stop a prune of two.
func TestPruneGuardCountsEveryClient(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerk(t, 1000)
	mustSync(t, app, f, syncOptions{})
	ageClients(t, app, 2*time.Minute)
	f.edit(func(f *fakeClerk) {
		for _, u := range f.Users {
			u.UpdatedAt += 1000 // every user changed: the sync saves them all again
		}
		f.RemoveUser("user_fake000001")
		f.RemoveUser("user_fake000002")
	})
	counts := mustSync(t, app, f, syncOptions{Prune: true})
	if counts.Deleted != 2 || counts.Updated != 998 {
		t.Fatalf("counts %+v, want 2 deleted", counts)
	}
}

// 3 of 20 stops, 2 of 20 goes.
func TestPruneGuardStopsAboveATenth(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerk(t, 20)
	mustSync(t, app, f, syncOptions{})
	ageClients(t, app, 2*time.Minute)
	f.edit(func(f *fakeClerk) {
		for _, id := range []string{"user_fake000001", "user_fake000002", "user_fake000003"} {
			f.RemoveUser(id)
		}
	})
	_, _, err := syncWith(t, app, fakeConfig(f), syncOptions{Prune: true})
	if err == nil {
		t.Fatal("pruned 3 of 20 clients without --force")
	}
	mustContain(t, err, "3 of 20 clients")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 20 {
		t.Fatalf("%d clients left of 20", n)
	}
	f.edit(func(f *fakeClerk) { f.Users = append(f.Users, fakeUser(3)) })
	if counts := mustSync(t, app, f, syncOptions{Prune: true}); counts.Deleted != 2 {
		t.Fatalf("2 of 20: %+v", counts)
	}
}

func TestSyncCommandOutput(t *testing.T) {
	run := func(app core.App, config Config, args ...string) (string, error) {
		return runCommand(t, app, config, args...)
	}
	app := newTestApp(t)
	f := newFakeClerk(t, 20)
	if _, err := run(app, fakeConfig(f), "clerk", "sync"); err != nil {
		t.Fatal(err)
	}
	ageClients(t, app, 2*time.Minute)
	f.edit(func(f *fakeClerk) { f.RemoveUser("user_fake000004") })

	// A dry run names the clients it would delete.
	out, err := run(app, fakeConfig(f), "clerk", "sync", "--prune", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "would delete user_fake000004 user000004@example.com First4 Last")
	if clientOf(t, app, "user_fake000004") == nil {
		t.Fatal("a dry run deleted")
	}

	// A failed run (another instance's key) prints no summary.
	out, err = run(app, Config{SecretKey: "sk_live_another", APIURL: f.URL}, "clerk", "sync")
	if err == nil {
		t.Fatal("a failed run succeeded")
	}
	if strings.Contains(out, "users listed") {
		t.Fatalf("a failed run printed a summary: %q", out)
	}
	if strings.Contains(err.Error(), "Svix") {
		t.Fatalf("a sync error speaks of Svix: %v", err)
	}
}

// A Backend API that cannot be reached is retried, and each wait says so.
func TestSyncSaysWhenItRetriesAndWhy(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerk(t, 5)
	f.Fail(fakeFailure{Hangup: true}, fakeFailure{Status: http.StatusServiceUnavailable})
	_, progress, err := syncWith(t, app, fakeConfig(f), syncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, progress, "unreachable")
	mustContain(t, progress, "retrying in")
	mustContain(t, progress, "503")
}
