package hooks

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/logger"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/hooks/internal/fakes3"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// replicatedServer serves a new app replicating to replicaURL, with a
// superuser's token for the status.
func replicatedServer(t *testing.T, config Config) (core.App, string, string) {
	t.Helper()
	app := newTestApp(t)
	srv := serve(t, app, config)
	return app, srv.URL, newSuperuserToken(t, app)
}

// waitShipped waits until the replica holds everything Litestream has read
// from the log, and what was committed before the call with it.
func waitShipped(t *testing.T, baseURL, token string) replicationStatus {
	t.Helper()
	time.Sleep(2 * replicaMonitorInterval) // Litestream reads the log
	deadline := time.Now().Add(15 * time.Second)
	for {
		s := statusOf(t, baseURL, token).Replication
		if s.Position != "" && s.Position == s.Local && s.LagSeconds == 0 {
			return s
		}
		if time.Now().After(deadline) {
			t.Fatalf("the replica did not catch up in 15 s: %+v", s)
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// restoredApp restores replicaURL (at to, unless zero) into a new data
// folder and opens it.
func restoredApp(t *testing.T, replicaURL string, to time.Time) core.App {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pb_data")
	res, err := restoreDataDir(context.Background(), restoreOptions{From: replicaURL, To: to, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if res.Path != filepath.Join(dir, "data.db") {
		t.Fatalf("restored to %s", res.Path)
	}
	app, err := tests.NewTestAppWithConfig(core.BaseAppConfig{DataDir: dir, EncryptionEnv: "pb_test_env", DBConnect: DBConnect})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Cleanup)
	return app
}

func clerkIDs(t *testing.T, app core.App) map[string]bool {
	t.Helper()
	records, err := app.FindAllRecords(migrations.ClientsCollection)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, r := range records {
		ids[r.GetString("clerkId")] = true
	}
	return ids
}

func deliverUsers(t *testing.T, url string, from, to int) {
	t.Helper()
	for i := from; i < to; i++ {
		u := fakeUser(i)
		body := clerkfake.Event(eventUserCreated, clerkfake.NewUser(u.ID, fmt.Sprintf("User %d", i), u.UpdatedAt))
		if r := deliver(t, url, fmt.Sprintf("msg_repl_%d", i), body); r.Status != http.StatusOK {
			t.Fatalf("delivery %d: %d %s", i, r.Status, r.Body)
		}
	}
}

func TestFileReplicaRestoresLatestAndPointInTimeThenSyncCatchesUp(t *testing.T) {
	replicaURL := "file://" + filepath.Join(t.TempDir(), "replica")
	fake := newFakeClerk(t, 12)
	config := fake.config()
	config.ReplicaURL = replicaURL
	_, url, token := replicatedServer(t, config)

	if s := statusOf(t, url, token).Replication; !s.Enabled || s.Replica != replicaURL {
		t.Fatalf("status: %+v, want replication on to %s", s, replicaURL)
	}
	deliverUsers(t, url, 0, 5)
	first := waitShipped(t, url, token)
	// Litestream stamps each shipped file with the time it read it from
	// the log, to the millisecond.
	time.Sleep(50 * time.Millisecond)
	middle := time.Now()
	time.Sleep(50 * time.Millisecond)
	deliverUsers(t, url, 5, 10)
	last := waitShipped(t, url, token)
	if last.Position <= first.Position || last.ShippedAt == "" || last.LastError != "" || last.Failing {
		t.Fatalf("status after the second batch: %+v (first %+v)", last, first)
	}

	// The latest state holds every acknowledged delivery.
	latest := restoredApp(t, replicaURL, time.Time{})
	if ids := clerkIDs(t, latest); len(ids) != 10 {
		t.Fatalf("the latest restore holds %d clients, want 10: %v", len(ids), ids)
	}
	if n := count(t, latest, migrations.EventsCollection, ""); n != 10 {
		t.Fatalf("the latest restore's delivery log holds %d rows, want 10", n)
	}

	// The state in the middle holds the first five, nothing newer.
	before := restoredApp(t, replicaURL, middle)
	ids := clerkIDs(t, before)
	for i := range 10 {
		if ids[fakeUser(i).ID] != (i < 5) {
			t.Errorf("restore --to the middle: user %d present %v", i, ids[fakeUser(i).ID])
		}
	}

	// Clerk's data comes back in full with the sync: Clerk has users 0..11,
	// so 5..11 come back, and a user deleted in Clerk since goes.
	fake.Edit(func(api *clerkfake.BackendAPI) { api.RemoveUser(fakeUser(0).ID) })
	ageClients(t, before, time.Hour)
	mustSync(t, before, fake, syncOptions{Prune: true})
	ids = clerkIDs(t, before)
	want := map[string]bool{}
	for _, u := range fake.Users {
		want[u.ID] = true
	}
	if len(ids) != len(want) {
		t.Errorf("after the sync: %d clients, Clerk has %d users", len(ids), len(want))
	}
	for id := range want {
		if !ids[id] {
			t.Errorf("after the sync: Clerk's %s has no client", id)
		}
	}
}

func TestRestoreRefusesAFolderWithADatabaseUnlessForced(t *testing.T) {
	replicaURL := "file://" + filepath.Join(t.TempDir(), "replica")
	_, url, token := replicatedServer(t, Config{WebhookSecrets: []string{testSecret}, ReplicaURL: replicaURL})
	deliverUsers(t, url, 0, 1)
	waitShipped(t, url, token)

	dir := filepath.Join(t.TempDir(), "pb_data")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "data.db"), []byte("the database in use"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := restoreDataDir(context.Background(), restoreOptions{From: replicaURL, Dir: dir})
	if err == nil || !strings.Contains(err.Error(), "--force") {
		t.Fatalf("restore into a folder with a data.db: %v, want a refusal naming --force", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "data.db")); string(b) != "the database in use" {
		t.Fatal("the refused restore touched the existing data.db")
	}

	res, err := restoreDataDir(context.Background(), restoreOptions{From: replicaURL, Dir: dir, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(filepath.Join(res.SetAside, "data.db")); string(b) != "the database in use" {
		t.Fatalf("--force: the existing folder is not at %s", res.SetAside)
	}
	if err := integrityCheck(context.Background(), res.Path); err != nil {
		t.Fatal(err)
	}

	// A replica that holds nothing is said so, and nothing is written.
	empty := filepath.Join(t.TempDir(), "pb_data")
	_, err = restoreDataDir(context.Background(), restoreOptions{From: "file://" + t.TempDir(), Dir: empty})
	if err == nil || !strings.Contains(err.Error(), "holds no database") {
		t.Fatalf("restore from an empty replica: %v", err)
	}
	if _, err := os.Stat(filepath.Join(empty, "data.db")); !os.IsNotExist(err) {
		t.Fatalf("a failed restore left %s/data.db", empty)
	}
}

func TestS3ReplicaDownNeitherBlocksTheWebhookNorGoesUnseen(t *testing.T) {
	// The stop at the end tries the store that is down for a second, not 10.
	saved := replicaShutdownSync
	t.Cleanup(func() { replicaShutdownSync = saved })
	replicaShutdownSync = time.Second
	store, err := fakes3.New("backups")
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	for _, kv := range fakes3.Env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	replicaURL := store.ReplicaURL("pocketclerk")
	app, url, token := replicatedServer(t, Config{WebhookSecrets: []string{testSecret}, ReplicaURL: replicaURL})
	if s := statusOf(t, url, token).Replication; strings.Contains(s.Replica, "secret") || !strings.HasPrefix(s.Replica, "s3://backups/pocketclerk") {
		t.Fatalf("status shows the replica as %q", s.Replica)
	}
	deliverUsers(t, url, 0, 3)
	waitShipped(t, url, token)
	if ids := clerkIDs(t, restoredApp(t, replicaURL, time.Time{})); len(ids) != 3 {
		t.Fatalf("restored from S3: %d clients, want 3", len(ids))
	}

	// The store goes down: deliveries are answered as fast as before.
	store.Close()
	start := time.Now()
	deliverUsers(t, url, 3, 23)
	if took := time.Since(start); took > 5*time.Second {
		t.Fatalf("20 deliveries took %v with the store down", took)
	}
	if n := count(t, app, migrations.ClientsCollection, ""); n != 23 {
		t.Fatalf("%d clients, want 23", n)
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		s := statusOf(t, url, token).Replication
		if s.Failing && s.LastError != "" && s.LagSeconds > 0 {
			t.Logf("the status shows the error after %v", time.Since(start))
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("with the store down, after %v the status says %+v, want the last error and a lag", time.Since(start), s)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestFollowingReplicaIsAWarmStandbyReadyToServeWhenStopped(t *testing.T) {
	replicaURL := "file://" + filepath.Join(t.TempDir(), "replica")
	_, url, token := replicatedServer(t, Config{WebhookSecrets: []string{testSecret}, ReplicaURL: replicaURL})
	deliverUsers(t, url, 0, 2)
	waitShipped(t, url, token)

	dir := filepath.Join(t.TempDir(), "pb_data")
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	done := make(chan error, 1)
	go func() {
		_, err := restoreDataDir(ctx, restoreOptions{From: replicaURL, Dir: dir, Follow: true})
		done <- err
	}()
	// The standby has restored once it records its position.
	txid := filepath.Join(dir, "data.db-txid")
	for deadline := time.Now().Add(10 * time.Second); !fileExists(txid); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the follower wrote no data.db-txid in 10 s")
		}
	}
	// The primary goes on; the standby follows.
	deliverUsers(t, url, 2, 5)
	shipped := waitShipped(t, url, token)
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(100 * time.Millisecond) {
		b, _ := os.ReadFile(txid)
		if strings.TrimSpace(string(b)) == shipped.Position {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the follower is at %q, the replica at %s", b, shipped.Position)
		}
	}
	// Promotion: the follower stops, checks the database and leaves it to serve.
	stop()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if fileExists(txid) {
		t.Fatal("the stopped follower left data.db-txid: it would resume following a served database")
	}
	app, err := tests.NewTestAppWithConfig(core.BaseAppConfig{DataDir: dir, EncryptionEnv: "pb_test_env", DBConnect: DBConnect})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	if ids := clerkIDs(t, app); len(ids) != 5 {
		t.Fatalf("the promoted standby holds %d clients, want 5", len(ids))
	}
}

func TestClerkPageShowsReplication(t *testing.T) {
	browser := startBrowser(t)
	app := newTestApp(t)
	replicaURL := "file://" + filepath.Join(t.TempDir(), "replica")
	srv := serveDashboard(t, app, Config{WebhookSecrets: []string{testSecret}, ReplicaURL: replicaURL})
	signIn := superuserSignIn(t, app)
	token, err := app.FindAuthRecordByEmail(core.CollectionNameSuperusers, "admin@pocketclerk.test")
	if err != nil {
		t.Fatal(err)
	}
	bearer, err := token.NewAuthToken()
	if err != nil {
		t.Fatal(err)
	}
	deliverUsers(t, srv.URL, 0, 1)
	shipped := waitShipped(t, srv.URL, bearer)

	tab := openDashboard(t, browser, srv.URL+"/_/#/clerk", signIn, 1440, 900)
	tab.waitFor(`document.getElementById("clerk-replication-state")?.dataset.state === "ok"`)
	for selector, want := range map[string]string{
		"#clerk-replication-state":    "on Lag",
		"#clerk-replica":              replicaURL,
		"#clerk-replication-lag":      "0.0 s",
		"#clerk-replication-position": shipped.Position,
	} {
		if got := tab.text(selector); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", selector, got, want)
		}
	}
	tab.eval(`document.getElementById("clerk-replication").scrollIntoView(), true`)
	saveScreenshot(t, tab, "clerk-replication-1440")

	// A long replica URL wraps on a phone.
	phone := openDashboard(t, browser, srv.URL+"/_/#/clerk", signIn, 390, 844)
	phone.waitFor(`document.getElementById("clerk-replication-state")?.dataset.state === "ok"`)
	overflow := phone.number(`(() => { const c = document.querySelector(".page-clerk .page-content"); return c.scrollWidth - c.clientWidth; })()`)
	if overflow > 0 {
		t.Fatalf("the page is %d px wider than a 390 px screen", overflow)
	}
}

func TestLitestreamsLogsReachPocketBasesLogs(t *testing.T) {
	app := newTestApp(t)
	app.Settings().Logs.MaxDays = 1 // the test app keeps no logs otherwise
	lg := slog.New(&minLevelHandler{Handler: app.Logger().Handler(), min: slog.LevelWarn}).With("component", "replication")
	lg.Info("routine")
	lg.Error("monitor error", "error", errors.New("s3: put object: connection refused"), "backoff", 2*time.Second,
		slog.Group("db", "path", "data.db", "wait", time.Second))
	if err := app.Logger().Handler().(*logger.BatchHandler).WriteAll(context.WithValue(context.Background(), logger.BlockKey, true)); err != nil {
		t.Fatal(err)
	}
	var rows []struct {
		Message string `db:"message"`
		Data    string `db:"data"`
	}
	if err := app.AuxDB().Select("message", "data").From("_logs").All(&rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) != 1 || rows[0].Message != "monitor error" {
		t.Fatalf("logs: %+v, want the error alone", rows)
	}
	for _, want := range []string{`"backoff":"2s"`, `"error":"s3: put object: connection refused"`, `"component":"replication"`, `"wait":"1s"`} {
		if !strings.Contains(rows[0].Data, want) {
			t.Errorf("log data %s lacks %s", rows[0].Data, want)
		}
	}
}
