package crash

import (
	"bufio"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tools/types"
	_ "modernc.org/sqlite" // ageClients

	"github.com/pocketclerk/pocketclerk/hooks/internal/fakes3"
	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

const (
	replicaSenders = 32 // Svix's concurrent deliveries during the load
	// ackedBefore: what was acknowledged this long before the kill must
	// be on the replica.
	ackedBefore = 2 * time.Second
	fakeKey     = "sk_test_replica"
)

// TestReplicaAfterSIGKILL serves with a replica under the webhook's load
// and the app's own writes, SIGKILLs the server, restores into a new data
// folder and serves that: everything acknowledged 2 s before the kill is
// there, a restore --to a time in the middle holds nothing newer, and
// after the restore's clerk sync the clients are Clerk's users.
func TestReplicaAfterSIGKILL(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server")
	}
	root, err := loadgen.ModuleRoot(".")
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	bin := filepath.Join(tmp, "pocketclerk")
	if err := loadgen.Build(root, bin); err != nil {
		t.Fatal(err)
	}
	fixture, err := os.ReadFile(filepath.Join(root, "testdata", "user.created.json"))
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := loadgen.NewTemplate(fixture)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("file", func(t *testing.T) {
		replicaAfterKill(t, bin, tmpl, "file://"+filepath.Join(t.TempDir(), "replica"), nil)
	})
	t.Run("s3", func(t *testing.T) {
		store, err := fakes3.New("backups")
		if err != nil {
			t.Fatal(err)
		}
		defer store.Close()
		replicaAfterKill(t, bin, tmpl, store.ReplicaURL("pocketclerk"), fakes3.Env)
	})
}

func replicaAfterKill(t *testing.T, bin string, tmpl *loadgen.Template, replicaURL string, env []string) {
	tmp := t.TempDir()
	dataDir, logPath := filepath.Join(tmp, "pb_data"), filepath.Join(tmp, "server.log")
	t.Cleanup(func() { dumpLogOnFailure(t, logPath) })
	if err := loadgen.Superuser(bin, dataDir, adminEmail, adminPass); err != nil {
		t.Fatal(err)
	}
	signer, err := loadgen.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}
	env = append(slices.Clone(env), "CLERK_WEBHOOK_SECRET="+secret, "REPLICA_URL="+replicaURL)
	srv, err := loadgen.Start(bin, dataDir, logPath, env)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Kill()
	client := loadgen.NewClient(replicaSenders)
	token, err := loadgen.SuperuserToken(client, srv.URL, adminEmail, adminPass)
	if err != nil {
		t.Fatal(err)
	}
	// The app's own collection, which only superusers read.
	err = loadgen.Call(client, http.MethodPost, srv.URL+"/api/collections", token, map[string]any{
		"name": "notes", "type": "base", "fields": []map[string]any{{"name": "n", "type": "number"}},
	}, nil)
	if err != nil {
		t.Fatal(err)
	}

	events := modelEvents(tmpl, rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 0)))
	var (
		mu      sync.Mutex
		ackedAt = map[string]time.Time{} // svix-id -> when its 2xx came
		notesAt = map[int]time.Time{}    // note n -> when its create was answered
		middle  atomic.Int64             // Unix ns: the restore --to target
		stop    = make(chan struct{})
		writer  sync.WaitGroup
	)
	// App writes beside the webhook: one note at a time, as fast as they go.
	writer.Add(1)
	go func() {
		defer writer.Done()
		for n := 1; ; n++ {
			select {
			case <-stop:
				return
			default:
			}
			if err := loadgen.Call(client, http.MethodPost, srv.URL+"/api/collections/notes/records", token, map[string]any{"n": n}, nil); err != nil {
				return // the kill
			}
			mu.Lock()
			notesAt[n] = time.Now()
			mu.Unlock()
		}
	}()
	// The load runs in two halves with a pause between them, so that a
	// restore --to the pause's middle has a clear before and after.
	half := len(events) / 2
	deliver := func(from, to int) {
		loadgen.Run(context.Background(), client, replicaSenders, to-from,
			func(i int) (*http.Request, error) { return signer.Request(srv.URL, events[from+i].Delivery) },
			func(a loadgen.Answer) {
				if a.OK() {
					mu.Lock()
					ackedAt[events[from+a.Index].SvixID] = time.Now()
					mu.Unlock()
				}
			})
	}
	deliver(0, half)
	time.Sleep(time.Second)
	middle.Store(time.Now().UnixNano())
	time.Sleep(time.Second)
	// SIGKILL once 40% of the second half is acknowledged: the first half
	// and the app's writes of the pause were acknowledged 2 s before.
	secondStart := time.Now()
	go deliver(half, len(events))
	for {
		mu.Lock()
		n := len(ackedAt)
		mu.Unlock()
		if n >= half+(len(events)-half)*2/5 || time.Since(secondStart) > 30*time.Second {
			break
		}
		time.Sleep(time.Millisecond)
	}
	mu.Lock()
	killAt := time.Now()
	srv.Kill()
	mu.Unlock()
	close(stop)
	writer.Wait()
	client.CloseIdleConnections()

	mu.Lock()
	var mustHave []string
	for id, at := range ackedAt {
		if at.Before(killAt.Add(-ackedBefore)) {
			mustHave = append(mustHave, id)
		}
	}
	var mustHaveNotes []int
	for n, at := range notesAt {
		if at.Before(killAt.Add(-ackedBefore)) {
			mustHaveNotes = append(mustHaveNotes, n)
		}
	}
	t.Logf("%d deliveries and %d notes acknowledged before the SIGKILL, %d and %d of them 2 s before", len(ackedAt), len(notesAt), len(mustHave), len(mustHaveNotes))
	if len(ackedAt) <= half || len(ackedAt) == len(events) {
		t.Fatalf("the kill came with %d of %d deliveries acknowledged: not in the second half's load", len(ackedAt), len(events))
	}
	mu.Unlock()

	// Latest state, into an empty folder, without the sync: served, it
	// holds everything acknowledged 2 s before the kill.
	restored := filepath.Join(tmp, "restored")
	out := restore(t, bin, env, "--from", replicaURL, "--dir", restored, "--no-sync")
	if !strings.Contains(out, "integrity check: ok") {
		t.Fatalf("restore says:\n%s", out)
	}
	srv2, token2 := serveAsSuperuser(t, bin, restored, logPath, env, client)
	defer srv2.Stop()
	st := readState(t, client, srv2.URL, token2)
	for _, id := range mustHave {
		if !st.logged[id] {
			t.Errorf("%s was acknowledged %v before the kill and is not in the restored delivery log", id, killAt.Sub(ackedAt[id]))
		}
	}
	notes := map[int]bool{}
	for _, r := range list(t, client, srv2.URL, token2, "notes", "n") {
		notes[int(r["n"].(float64))] = true
	}
	for _, n := range mustHaveNotes {
		if !notes[n] {
			t.Errorf("note %d was saved %v before the kill and is not restored", n, killAt.Sub(notesAt[n]))
		}
	}
	// The rules hold: a guest reads no note; and realtime works.
	var guest struct {
		Items []any `json:"items"`
	}
	if err := loadgen.Call(client, http.MethodGet, srv2.URL+"/api/collections/notes/records", "", nil, &guest); err == nil {
		t.Errorf("a guest listed the restored notes: %d items", len(guest.Items))
	}
	realtimeCreate(t, client, srv2.URL, token2)
	srv2.Stop()
	if t.Failed() {
		t.FailNow()
	}

	// The state in the middle: nothing newer than that time, everything
	// acknowledged 2 s before it.
	at := time.Unix(0, middle.Load()).UTC()
	pit := filepath.Join(tmp, "middle")
	restore(t, bin, env, "--from", replicaURL, "--dir", pit, "--no-sync", "--to", at.Format(time.RFC3339Nano))
	srv3, token3 := serveAsSuperuser(t, bin, pit, logPath, env, client)
	defer srv3.Stop()
	for _, r := range list(t, client, srv3.URL, token3, "clerk_events", "svixId,created") {
		created, err := time.Parse(types.DefaultDateLayout, r["created"].(string))
		if err != nil {
			t.Fatal(err)
		}
		if created.After(at) {
			t.Errorf("restore --to %s holds %s, written at %s", at.Format(time.RFC3339Nano), r["svixId"], created.Format(time.RFC3339Nano))
		}
	}
	st = readState(t, client, srv3.URL, token3)
	for id, acked := range ackedAt {
		if acked.Before(at.Add(-ackedBefore)) && !st.logged[id] {
			t.Errorf("restore --to %s lacks %s, acknowledged at %s", at.Format(time.RFC3339Nano), id, acked.Format(time.RFC3339Nano))
		}
	}
	srv3.Stop()

	// With CLERK_SECRET_KEY, the restore's clerk sync --prune makes the
	// clients Clerk's users, whatever the replica missed.
	want := model(events)
	var users []loadgen.User
	for id, w := range want {
		if !w.deleted {
			users = append(users, loadgen.User{ID: id, Email: id + "@example.org", FirstName: w.firstName, LastName: "Crash",
				CreatedAt: w.updatedAt - 1000*updatesEach, UpdatedAt: w.updatedAt})
		}
	}
	api, err := loadgen.FakeBackendAPI(tmpl, fakeKey, users)
	if err != nil {
		t.Fatal(err)
	}
	clerkSrv := httptest.NewServer(api)
	defer clerkSrv.Close()
	synced := filepath.Join(tmp, "synced")
	clerkEnv := append(env, "CLERK_SECRET_KEY="+fakeKey, "CLERK_API_URL="+clerkSrv.URL)
	out = restore(t, bin, clerkEnv, "--from", replicaURL, "--dir", synced, "--to", at.Format(time.RFC3339Nano))
	if !strings.Contains(out, fmt.Sprintf("%d users listed", len(users))) {
		t.Fatalf("the restore's sync did not run:\n%s", out)
	}
	after := readSynced(t, bin, synced, logPath, env, client)
	for _, u := range users {
		c, ok := after.clients[u.ID]
		if !ok || c.firstName != u.FirstName || c.updatedAt != u.UpdatedAt {
			t.Errorf("after the restore's sync, %s is %+v (present %v), Clerk has %q of %d", u.ID, c, ok, u.FirstName, u.UpdatedAt)
		}
	}
	// The clients of users deleted since were saved within the last
	// minute, and a prune leaves those for a minute (a webhook may have
	// just created them); a restore of data written longer ago, as after a
	// lost machine, prunes them at once. Set the clock of the data there,
	// and run the sync as the restore does (forced: a quarter of the
	// clients go, beyond the prune guard's tenth).
	ageClients(t, filepath.Join(synced, "data.db"), time.Hour)
	sync := exec.Command(bin, "clerk", "sync", "--prune", "--force", "--dir", synced)
	sync.Env = append(os.Environ(), clerkEnv...)
	if b, err := sync.CombinedOutput(); err != nil {
		t.Fatalf("clerk sync --prune --force: %v\n%s", err, b)
	}
	synced2 := readSynced(t, bin, synced, logPath, env, client)
	st = synced2.state
	if len(st.clients) != len(users) || st.clientRows != len(users) {
		t.Errorf("after the restore's sync: %d clients (%d rows), Clerk has %d users\n%s", len(st.clients), st.clientRows, len(users), out)
	}
	for _, u := range users {
		c, ok := st.clients[u.ID]
		if !ok || c.firstName != u.FirstName || c.updatedAt != u.UpdatedAt {
			t.Errorf("after the restore's sync, %s is %+v (present %v), Clerk has %q of %d", u.ID, c, ok, u.FirstName, u.UpdatedAt)
		}
	}
	if synced2.organizations != len(api.Orgs) {
		t.Errorf("after the restore's sync: %d organizations, Clerk has %d", synced2.organizations, len(api.Orgs))
	}
}

type syncedState struct {
	state
	organizations int
}

// readSynced serves dir for as long as it takes to read its state.
func readSynced(t *testing.T, bin, dir, logPath string, env []string, client *http.Client) syncedState {
	t.Helper()
	srv, token := serveAsSuperuser(t, bin, dir, logPath, env, client)
	defer srv.Stop()
	return syncedState{state: readState(t, client, srv.URL, token), organizations: len(list(t, client, srv.URL, token, "organizations", "id"))}
}

// serveAsSuperuser serves dir and signs in as its superuser.
func serveAsSuperuser(t *testing.T, bin, dir, logPath string, env []string, client *http.Client) (*loadgen.Server, string) {
	t.Helper()
	srv, err := loadgen.Start(bin, dir, logPath, env)
	if err != nil {
		t.Fatal(err)
	}
	token, err := loadgen.SuperuserToken(client, srv.URL, adminEmail, adminPass)
	if err != nil {
		srv.Stop()
		t.Fatal(err)
	}
	return srv, token
}

// ageClients makes every client look saved d ago. Test set-up only: the
// app never writes clients with SQL.
func ageClients(t *testing.T, dbPath string, d time.Duration) {
	t.Helper()
	db, err := sql.Open("sqlite", dbPath)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	at, _ := types.ParseDateTime(time.Now().Add(-d))
	if _, err := db.Exec("UPDATE clients SET updated = ?", at.String()); err != nil {
		t.Fatal(err)
	}
}

// restore runs the binary's restore and returns its output.
func restore(t *testing.T, bin string, env []string, args ...string) string {
	t.Helper()
	out, err := restoreOutput(bin, env, args...)
	if err != nil {
		t.Fatalf("restore %v: %v\n%s", args, err, out)
	}
	return out
}

func restoreOutput(bin string, env []string, args ...string) (string, error) {
	cmd := exec.Command(bin, append([]string{"restore"}, args...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// realtimeCreate subscribes a superuser to notes over realtime, creates a
// note and waits for its create message.
func realtimeCreate(t *testing.T, client *http.Client, baseURL, token string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/realtime", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	lines := bufio.NewScanner(res.Body)
	next := func(event string) string {
		var current string
		for lines.Scan() {
			line := lines.Text()
			if v, ok := strings.CutPrefix(line, "event:"); ok {
				current = strings.TrimSpace(v)
			}
			if v, ok := strings.CutPrefix(line, "data:"); ok && current == event {
				return strings.TrimSpace(v)
			}
		}
		t.Fatalf("realtime: no %s message (%v)", event, lines.Err())
		return ""
	}
	var connect struct {
		ClientID string `json:"clientId"`
	}
	if err := json.Unmarshal([]byte(next("PB_CONNECT")), &connect); err != nil {
		t.Fatal(err)
	}
	err = loadgen.Call(client, http.MethodPost, baseURL+"/api/realtime", token,
		map[string]any{"clientId": connect.ClientID, "subscriptions": []string{"notes"}}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := loadgen.Call(client, http.MethodPost, baseURL+"/api/collections/notes/records", token, map[string]any{"n": -1}, nil); err != nil {
		t.Fatal(err)
	}
	if msg := next("notes"); !strings.Contains(msg, `"action":"create"`) {
		t.Fatalf("realtime: %s", msg)
	}
}
