package hooks

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

func fakeConfig(f *fakeClerk) Config {
	return Config{SecretKey: f.Key, APIURL: f.URL}
}

func syncWith(t testing.TB, app core.App, config Config, opts syncOptions) (syncCounts, string, error) {
	t.Helper()
	var out bytes.Buffer
	p := &plugin{app: app, config: config}
	counts, err := syncClients(context.Background(), app, p.clerkConfig(), opts, &out)
	return counts, out.String(), err
}

func mustSync(t testing.TB, app core.App, f *fakeClerk, opts syncOptions) syncCounts {
	t.Helper()
	counts, _, err := syncWith(t, app, fakeConfig(f), opts)
	if err != nil {
		t.Fatal(err)
	}
	return counts
}

// ageClients makes every client look saved d ago, as if the previous sync
// or webhook ran then: pruning leaves recently saved clients alone.
// Test set-up only: the app itself never writes clients with SQL.
func ageClients(t testing.TB, app core.App, d time.Duration) {
	t.Helper()
	at, _ := types.ParseDateTime(time.Now().Add(-d))
	if _, err := app.DB().Update(migrations.ClientsCollection, dbx.Params{"updated": at.String()}, nil).Execute(); err != nil {
		t.Fatal(err)
	}
}

func applyLocally(t testing.TB, app core.App, ch userChange) outcome {
	t.Helper()
	var o outcome
	err := app.RunInTransaction(func(txApp core.App) error {
		var err error
		o, err = ch.apply(txApp, mappingConfig{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestSyncBackfillsThroughPagingAndTransientErrors(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerk(t, 1200)
	// The first page meets a 429, its count a 502, the second page a dropped connection.
	f.Fail(
		fakeFailure{Status: http.StatusTooManyRequests, RetryAfter: "1"}, fakeFailure{},
		fakeFailure{Status: http.StatusBadGateway}, fakeFailure{},
		fakeFailure{Hangup: true},
	)

	counts, progress, err := syncWith(t, app, fakeConfig(f), syncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if want := (syncCounts{objectCounts: objectCounts{Listed: 1200, Created: 1200}}); counts != want {
		t.Fatalf("counts %+v, want %+v", counts, want)
	}
	mustContain(t, progress, "listed 1200 users")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 1200 {
		t.Fatalf("%d clients, want 1200", n)
	}
	c := clientOf(t, app, "user_fake000777")
	if c == nil || c.Email() != "user000777@example.com" || c.GetString("firstName") != "First777" || !c.Verified() {
		t.Fatalf("client user_fake000777: %v", c)
	}
	mustContain(t, c.GetString("publicMetadata"), `"plan":"free"`)
	// 3 pages and 3 counts, plus the three failed attempts, plus one
	// (empty) page each of organizations, memberships, billing plans and
	// subscription items.
	if n := f.RequestCount(); n != 13 {
		t.Fatalf("%d requests to the Backend API, want 13", n)
	}

	before := c.GetDateTime("updated")
	counts = mustSync(t, app, f, syncOptions{Prune: true})
	if want := (syncCounts{objectCounts: objectCounts{Listed: 1200, Unchanged: 1200}}); counts != want {
		t.Fatalf("second sync: counts %+v, want %+v", counts, want)
	}
	if after := clientOf(t, app, "user_fake000777").GetDateTime("updated"); after != before {
		t.Fatalf("second sync saved an unchanged client: updated %v → %v", before, after)
	}
}

func TestSyncRepairsDrift(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerk(t, 1000)
	mustSync(t, app, f, syncOptions{})

	lateUser := fakeUser(5000)
	f.edit(func(f *fakeClerk) {
		f.RemoveUser("user_fake000010") // deleted while the endpoint was down
		changed := f.User("user_fake000020")
		changed.LastName = clerk.String("Changed")
		changed.UpdatedAt += 5000
		for i := 1000; i < 1005; i++ { // created while the endpoint was down
			f.Users = append(f.Users, fakeUser(i))
		}
	})
	// Newer data came by webhook than the listing holds.
	newer := fakeUser(30)
	newer.FirstName = clerk.String("Local")
	newer.UpdatedAt += 10000
	applyLocally(t, app, userChange{Type: eventUserUpdated, User: newer})
	// A deletion came by webhook; the listing still has the user.
	applyLocally(t, app, userChange{Type: eventUserDeleted, User: &clerk.User{ID: "user_fake000040"}, At: time.Now()})
	ageClients(t, app, 2*time.Minute)

	f.OnList = func(offset int) {
		if offset != syncPageSize {
			return
		}
		// Between two pages: a user of the first page is deleted, which shifts
		// one user out of the offset listing, and a webhook creates a client
		// for a user too new for the listing to hold.
		f.edit(func(f *fakeClerk) { f.RemoveUser("user_fake000060") })
		applyLocally(t, app, userChange{Type: eventUserCreated, User: lateUser})
	}

	counts := mustSync(t, app, f, syncOptions{Prune: true})
	want := syncCounts{objectCounts: objectCounts{Listed: 1004, Created: 5, Updated: 1, Skipped: 2, Deleted: 1, Unchanged: 1004 - 8}}
	if counts != want {
		t.Fatalf("counts %+v, want %+v", counts, want)
	}

	if clientOf(t, app, "user_fake000010") != nil || count(t, app, migrations.TombstonesCollection, "clerkId = 'user_fake000010'") != 1 {
		t.Error("the user deleted in Clerk was not pruned and tombstoned")
	}
	if c := clientOf(t, app, "user_fake000020"); c == nil || c.GetString("lastName") != "Changed" {
		t.Error("the user changed in Clerk was not updated")
	}
	if c := clientOf(t, app, "user_fake000030"); c == nil || c.GetString("firstName") != "Local" {
		t.Error("newer local data was overwritten by the listing")
	}
	if clientOf(t, app, "user_fake000040") != nil {
		t.Error("a tombstoned user came back")
	}
	if clientOf(t, app, lateUser.ID) == nil {
		t.Error("a client newer than the listing was pruned")
	}
	// Every user Clerk still has is a client (the shifted one included),
	// except the one deleted by webhook.
	f.edit(func(f *fakeClerk) {
		for _, u := range f.Users {
			if (clientOf(t, app, u.ID) == nil) != (u.ID == "user_fake000040") {
				t.Errorf("client for %s: wrong presence", u.ID)
			}
		}
	})
}

func TestSyncDryRunWritesNothing(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerk(t, 1000)
	mustSync(t, app, f, syncOptions{})
	f.edit(func(f *fakeClerk) {
		f.RemoveUser("user_fake000005")
		f.User("user_fake000006").UpdatedAt += 1000
		f.User("user_fake000006").FirstName = clerk.String("Renamed")
		f.Users = append(f.Users, fakeUser(1000), fakeUser(1001), fakeUser(1002))
	})
	ageClients(t, app, 2*time.Minute)
	snapshot := func() string {
		var rows []struct {
			ClerkID   string `db:"clerkId"`
			FirstName string `db:"firstName"`
			Updated   string `db:"updated"`
		}
		if err := app.DB().Select("clerkId", "firstName", "updated").From(migrations.ClientsCollection).OrderBy("clerkId").All(&rows); err != nil {
			t.Fatal(err)
		}
		return fmt.Sprint(rows, count(t, app, migrations.TombstonesCollection, ""))
	}
	before := snapshot()

	predicted := mustSync(t, app, f, syncOptions{Prune: true, DryRun: true})
	if predicted.Created != 3 || predicted.Updated != 1 || predicted.Deleted != 1 {
		t.Fatalf("dry run predicted %+v, want 3 created, 1 updated, 1 deleted", predicted)
	}
	if after := snapshot(); after != before {
		t.Fatal("the dry run wrote to the database")
	}

	if done := mustSync(t, app, f, syncOptions{Prune: true}); done != predicted {
		t.Fatalf("the sync did %+v, the dry run predicted %+v", done, predicted)
	}
}

func TestSyncStopsOnPermanentErrorsAndSaysWhatToCheck(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerk(t, 10)

	_, _, err := syncWith(t, app, Config{SecretKey: "sk_test_wrong", APIURL: f.URL}, syncOptions{})
	if err == nil {
		t.Fatal("a wrong secret key was accepted")
	}
	mustContain(t, err, "401")
	mustContain(t, err, "CLERK_SECRET_KEY")

	_, _, err = syncWith(t, app, Config{SecretKey: f.Key, APIURL: f.URL + "/not-clerk"}, syncOptions{})
	if err == nil {
		t.Fatal("a wrong API URL was accepted")
	}
	mustContain(t, err, "404")
	mustContain(t, err, "CLERK_API_URL")

	if n := f.RequestCount(); n != 2 {
		t.Fatalf("%d requests: permanent errors must not be retried", n)
	}
	if n := count(t, app, migrations.ClientsCollection, ""); n != 0 {
		t.Fatalf("%d clients written", n)
	}
}

func TestSyncCommand(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	_, err := clerkCLI(t, app, Config{}, "sync")
	if err == nil {
		t.Fatal("clerk sync without CLERK_SECRET_KEY succeeded")
	}
	mustContain(t, err, "CLERK_SECRET_KEY")

	f := newFakeClerk(t, 20)
	out, err := clerkCLI(t, app, fakeConfig(f), "sync", "--dry-run")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "Dry run, nothing written; would have: 20 users listed: 20 created")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 0 {
		t.Fatalf("%d clients after a dry run", n)
	}

	out, err = clerkCLI(t, app, fakeConfig(f), "sync", "--prune")
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, out, "20 users listed: 20 created, 0 updated, 0 unchanged, 0 skipped (stale or deleted), 0 deleted")
	// The operator sees which database the sync wrote to, and its clients.
	mustContain(t, out, "Database "+filepath.Join(app.DataDir(), "data.db")+": 0 clients before, 20 after")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 20 {
		t.Fatalf("%d clients, want 20", n)
	}
}

func TestScheduledSync(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerk(t, 30)
	config := fakeConfig(f)
	config.SyncSchedule = "30 3 * * *"
	if err := Register(app, nil, config); err != nil {
		t.Fatal(err)
	}
	var job interface{ Run() }
	for _, j := range app.Cron().Jobs() {
		if j.Id() == syncJobID && j.Expression() == config.SyncSchedule {
			job = j
		}
	}
	if job == nil {
		t.Fatal("no scheduled sync in PocketBase's cron")
	}
	job.Run()
	if n := count(t, app, migrations.ClientsCollection, ""); n != 30 {
		t.Fatalf("%d clients after the scheduled sync, want 30", n)
	}

	// The scheduled sync prunes.
	f.edit(func(f *fakeClerk) { f.RemoveUser("user_fake000003") })
	ageClients(t, app, 2*time.Minute)
	job.Run()
	if clientOf(t, app, "user_fake000003") != nil {
		t.Fatal("the scheduled sync did not prune a user deleted in Clerk")
	}
}

func TestSyncScheduleIsCheckedAtStart(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		config Config
		want   string
	}{
		{Config{SyncSchedule: "every night", SecretKey: fakeSecretKey}, "CLERK_SYNC_SCHEDULE"},
		{Config{SyncSchedule: "30 3 * * *"}, "CLERK_SECRET_KEY"},
	} {
		t.Run(tc.want, func(t *testing.T) {
			err := Register(newTestApp(t), nil, tc.config)
			if err == nil {
				t.Fatalf("%+v: accepted", tc.config)
			}
			mustContain(t, err, tc.want)
		})
	}
	app := newTestApp(t)
	if err := Register(app, nil, Config{SecretKey: fakeSecretKey}); err != nil {
		t.Fatal(err)
	}
	for _, j := range app.Cron().Jobs() {
		if j.Id() == syncJobID {
			t.Fatal("a sync is scheduled although CLERK_SYNC_SCHEDULE is empty")
		}
	}
}

func TestClerkTransportStaysInsideTheRateLimit(t *testing.T) {
	t.Parallel()
	f := newFakeClerk(t, 1)
	f.Key = fakeDevSecretKey
	tr := newClerkTransport(f.Key, nil)
	if want := time.Second / 9; tr.interval < want {
		t.Fatalf("a development instance gets a request every %v, want at least %v (100 per 10 s, 90%% used)", tr.interval, want)
	}
	client := &http.Client{Transport: tr}
	started := time.Now()
	const n = 10
	for range n {
		req, _ := http.NewRequest(http.MethodGet, f.URL+"/v1/users/count", nil)
		req.Header.Set("Authorization", "Bearer "+f.Key)
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
	}
	if elapsed := time.Since(started); elapsed < (n-1)*tr.interval {
		t.Fatalf("%d requests in %v: faster than the limit allows", n, elapsed)
	}
	if live := newClerkTransport("sk_live_x", nil); live.interval >= tr.interval || live.interval < 10*time.Millisecond {
		t.Fatalf("a production instance gets a request every %v", live.interval)
	}
}

// The transport answers as net/http's RoundTripper must: an answer is a
// response, whatever its status; the SDK turns it into its own error type.
func TestClerkTransportReturnsErrorAnswers(t *testing.T) {
	t.Parallel()
	f := newFakeClerk(t, 1)
	client := &http.Client{Transport: newClerkTransport(fakeSecretKey, nil)}
	req, _ := http.NewRequest(http.MethodGet, f.URL+"/v1/users/user_nobody", nil)
	req.Header.Set("Authorization", "Bearer "+f.Key)
	res, err := client.Do(req)
	if err != nil {
		t.Fatalf("a 404 answer is an error: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusNotFound {
		t.Fatalf("status %d, want 404", res.StatusCode)
	}
	mustContain(t, string(body), `"code":"resource_not_found"`)

	_, err = user.NewClient(withClerkTransport(clerkAPIConfig(f.URL, f.Key), nil)).Get(context.Background(), "user_nobody")
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusNotFound || !isClerkNotFound(err) {
		t.Fatalf("the SDK's error for Clerk's 404: %#v", err)
	}
}

// clerkAPIConfig is the SDK's configuration for the Backend API at url.
func clerkAPIConfig(url, key string) *clerk.ClientConfig {
	return &clerk.ClientConfig{BackendConfig: clerk.BackendConfig{Key: clerk.String(key), URL: clerk.String(url + "/v1")}}
}

// An answer that is not Clerk's JSON says where to look.
func TestSyncSaysWhenCLERK_API_URLIsNotClerk(t *testing.T) {
	t.Parallel()
	notClerk := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprint(w, "<html><body>404 Not Found, nginx</body></html>")
	}))
	t.Cleanup(notClerk.Close)
	app := newTestApp(t)
	_, _, err := syncWith(t, app, Config{SecretKey: fakeSecretKey, APIURL: notClerk.URL}, syncOptions{Prune: true})
	if err == nil {
		t.Fatal("a sync against a server that is not Clerk succeeded")
	}
	for _, want := range []string{"404 Not Found", "not Clerk's Backend API", "CLERK_API_URL", "nginx"} {
		mustContain(t, err, want)
	}
	_, err = user.NewClient(withClerkTransport(clerkAPIConfig(notClerk.URL, fakeSecretKey), nil)).Get(context.Background(), "user_1")
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || apiErr.HTTPStatusCode != http.StatusNotFound || isClerkNotFound(err) {
		t.Fatalf("a 404 from another server: %#v, want the SDK's error, not Clerk's \"no such object\"", err)
	}
}

func TestRetryAfter(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	if d := retryAfter(h, 3*time.Second); d != 3*time.Second {
		t.Fatalf("without Retry-After: %v", d)
	}
	h.Set("Retry-After", "7")
	if d := retryAfter(h, time.Second); d != 7*time.Second {
		t.Fatalf("Retry-After: 7 → %v", d)
	}
	h.Set("Retry-After", time.Now().Add(20*time.Second).UTC().Format(http.TimeFormat))
	if d := retryAfter(h, time.Second); d < 18*time.Second || d > 20*time.Second {
		t.Fatalf("Retry-After as a date → %v", d)
	}
}

func TestSyncWillNotPruneMostClientsUnlessForced(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	mustSync(t, app, newFakeClerk(t, 50), syncOptions{})
	ageClients(t, app, 2*time.Minute)

	// The secret key of another instance, whose users are other people.
	other := newFakeClerk(t, 0)
	other.edit(func(f *fakeClerk) {
		for i := 100; i < 103; i++ {
			f.Users = append(f.Users, fakeUser(i))
		}
	})
	_, _, err := syncWith(t, app, fakeConfig(other), syncOptions{Prune: true})
	if err == nil {
		t.Fatal("pruned 50 of 53 clients without --force")
	}
	mustContain(t, err, "CLERK_SECRET_KEY")
	mustContain(t, err, "--force")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 53 {
		t.Fatalf("%d clients, want 53: nothing may be pruned", n)
	}

	counts := mustSync(t, app, other, syncOptions{Prune: true, Force: true})
	if counts.Deleted != 50 || count(t, app, migrations.ClientsCollection, "") != 3 {
		t.Fatalf("forced prune: %+v", counts)
	}
}

// On a small install too, a key whose instance lists none of the clients
// prunes nothing without --force: tombstoned users never come back.
func TestSyncWillNotPruneEveryClientOfASmallInstall(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	mustSync(t, app, newFakeClerk(t, 8), syncOptions{})
	ageClients(t, app, 2*time.Minute)
	_, _, err := syncWith(t, app, fakeConfig(newFakeClerk(t, 0)), syncOptions{Prune: true})
	if err == nil {
		t.Fatal("pruned every client without --force")
	}
	mustContain(t, err, "--force")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 8 {
		t.Fatalf("%d clients left of 8", n)
	}
}

func TestSyncInterruptedMidListingPrunesNothing(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerk(t, 1000)
	mustSync(t, app, f, syncOptions{})
	f.edit(func(f *fakeClerk) { f.RemoveUser("user_fake000001") })
	ageClients(t, app, 2*time.Minute)

	ctx, cancel := context.WithCancel(context.Background())
	f.OnList = func(offset int) {
		if offset == syncPageSize {
			cancel() // Ctrl-C while the second page downloads
		}
	}
	cfg := (&plugin{config: fakeConfig(f)}).clerkConfig()
	if _, err := syncClients(ctx, app, cfg, syncOptions{Prune: true}, nil); err == nil {
		t.Fatal("an interrupted sync reported success")
	}
	if clientOf(t, app, "user_fake000001") == nil || count(t, app, migrations.TombstonesCollection, "") != 0 {
		t.Fatal("an interrupted listing was pruned against")
	}
}

func TestSyncOneRejectedUserCostsOnlyItself(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	// The app owner's own hook refuses one record.
	app.OnRecordCreate(migrations.ClientsCollection).BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString("clerkId") == "user_fake000007" {
			return errors.New("rejected by the owner's hook")
		}
		return e.Next()
	})
	f := newFakeClerk(t, 300)
	counts, _, err := syncWith(t, app, fakeConfig(f), syncOptions{})
	if err == nil {
		t.Fatal("a sync with a user that could not be applied reported success")
	}
	mustContain(t, err, "rejected by the owner's hook")
	if counts.Created != 299 || counts.Failed != 1 || count(t, app, migrations.ClientsCollection, "") != 299 {
		t.Fatalf("counts %+v, %d clients; want 299 created and 1 failed", counts, count(t, app, migrations.ClientsCollection, ""))
	}
}
