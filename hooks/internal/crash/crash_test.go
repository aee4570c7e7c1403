package crash

import (
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

const (
	secret       = "whsec_plJ3nmyCDGBKInavdOK15jsl"
	adminEmail   = "crash@example.org"
	adminPass    = "crash-password-1234"
	users        = 170
	updatesEach  = 20
	senders      = 16   // redelivery, as Svix's workers
	inFlight     = 2500 // concurrent requests of the load the server is killed under
	killAfterAck = 700  // SIGKILL once this many events were acknowledged
)

// event is one Clerk event of the model, with what it means for the end state.
type event struct {
	loadgen.Delivery
	Type      string
	User      string
	UpdatedAt int64 // 0 for a deletion
	FirstName string
}

func TestSIGKILLUnderLoadLosesNothingAcknowledged(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and kills a server")
	}
	root, err := loadgen.ModuleRoot(".")
	if err != nil {
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
	signer, err := loadgen.NewSigner(secret)
	if err != nil {
		t.Fatal(err)
	}

	tmp := t.TempDir()
	bin, dataDir, logPath := filepath.Join(tmp, "pocketclerk"), filepath.Join(tmp, "pb_data"), filepath.Join(tmp, "server.log")
	if err := loadgen.Build(root, bin); err != nil {
		t.Fatal(err)
	}
	if err := loadgen.Superuser(bin, dataDir, adminEmail, adminPass); err != nil {
		t.Fatal(err)
	}
	env := []string{"CLERK_WEBHOOK_SECRET=" + secret}
	srv, err := loadgen.Start(bin, dataDir, logPath, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dumpLogOnFailure(t, logPath) })

	seed := uint64(time.Now().UnixNano())
	t.Logf("shuffle seed %d", seed)
	rng := rand.New(rand.NewPCG(seed, 0))
	events := modelEvents(tmpl, rng)
	t.Logf("%d events for %d users", len(events), users)

	// Load, and SIGKILL the server in the middle of it, with inFlight
	// requests sent and waiting for their answers.
	client := loadgen.NewClient(inFlight)
	var (
		mu       sync.Mutex
		acked    = map[int]string{} // event index -> outcome of its 2xx
		ackCount atomic.Int64
		killOnce sync.Once
		killed   = make(chan struct{})
		cutOff   atomic.Int64 // requests that failed: in flight at the kill or sent after it
		killAt   atomic.Int64 // Unix nanoseconds of the SIGKILL
		waiting  atomic.Int64 // requests sent before the kill and never answered
	)
	go func() {
		<-killed
		killAt.Store(time.Now().UnixNano())
		srv.Kill()
	}()
	res := loadgen.Run(context.Background(), client, inFlight, len(events),
		func(i int) (*http.Request, error) { return signer.Request(srv.URL, events[i].Delivery) },
		func(a loadgen.Answer) {
			if !a.OK() {
				if a.Status != 0 {
					t.Errorf("event %d answered %d before the kill: %s", a.Index, a.Status, a.Body)
				}
				cutOff.Add(1)
				if at := killAt.Load(); at != 0 && time.Now().Add(-a.Latency).UnixNano() < at {
					waiting.Add(1)
				}
				return
			}
			var r struct{ Outcome string }
			_ = json.Unmarshal(a.Body, &r)
			mu.Lock()
			acked[a.Index] = r.Outcome
			mu.Unlock()
			if ackCount.Add(1) >= killAfterAck {
				killOnce.Do(func() { close(killed) })
			}
		})
	killOnce.Do(func() { close(killed) }) // in case the load finished first
	if ackCount.Load() >= int64(len(events)) || cutOff.Load() == 0 {
		t.Fatalf("the kill came after the load ended (%d acknowledged, %d cut off): nothing was in flight", ackCount.Load(), cutOff.Load())
	}
	t.Logf("%d sent, %d acknowledged before the SIGKILL, %d in flight at the kill, %d cut off in all", res.Requests, len(acked), waiting.Load(), cutOff.Load())
	if waiting.Load() < 2000 {
		t.Fatalf("only %d requests were in flight at the kill", waiting.Load())
	}

	// Restart on the same data: everything acknowledged is there.
	client.CloseIdleConnections()
	srv, err = loadgen.Start(bin, dataDir, logPath, env)
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Stop()
	token, err := loadgen.SuperuserToken(client, srv.URL, adminEmail, adminPass)
	if err != nil {
		t.Fatal(err)
	}
	st := readState(t, client, srv.URL, token)
	for i, outcome := range acked {
		e := events[i]
		if !st.logged[e.SvixID] {
			t.Errorf("%s (%s %s, answered %q) was acknowledged but is not in the delivery log", e.SvixID, e.Type, e.User, outcome)
		}
		c, exists := st.clients[e.User]
		switch {
		case e.Type == "user.deleted":
			if exists || !st.tombstoned[e.User] {
				t.Errorf("acknowledged deletion of %s lost: client present %v, tombstone %v", e.User, exists, st.tombstoned[e.User])
			}
		case !exists:
			if !st.tombstoned[e.User] {
				t.Errorf("acknowledged %s for %s (%s) lost: no client and no tombstone", e.Type, e.User, outcome)
			}
		case c.updatedAt < e.UpdatedAt:
			t.Errorf("acknowledged %s for %s at %d lost: the client holds data of %d", e.Type, e.User, e.UpdatedAt, c.updatedAt)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Svix redelivers everything, in another order, concurrently.
	order := rng.Perm(len(events))
	res = loadgen.Run(context.Background(), client, senders, len(events),
		func(i int) (*http.Request, error) { return signer.Request(srv.URL, events[order[i]].Delivery) },
		func(a loadgen.Answer) {
			if !a.OK() {
				t.Errorf("redelivery of %s: %d %v %s", events[order[a.Index]].SvixID, a.Status, a.Err, a.Body)
			}
		})
	if res.Failed > 0 {
		t.FailNow()
	}

	st = readState(t, client, srv.URL, token)
	if len(st.logged) != len(events) || st.logRows != len(events) {
		t.Errorf("delivery log: %d rows, %d distinct svix-ids, want %d of each", st.logRows, len(st.logged), len(events))
	}
	if st.clientRows != len(st.clients) {
		t.Errorf("%d client records for %d Clerk users: duplicates", st.clientRows, len(st.clients))
	}
	want := model(events)
	for id, w := range want {
		c, exists := st.clients[id]
		switch {
		case w.deleted:
			if exists || !st.tombstoned[id] {
				t.Errorf("%s was deleted: client present %v, tombstone %v", id, exists, st.tombstoned[id])
			}
		case !exists:
			t.Errorf("%s has no client", id)
		case c.updatedAt != w.updatedAt || c.firstName != w.firstName:
			t.Errorf("%s holds %q of %d, want %q of %d", id, c.firstName, c.updatedAt, w.firstName, w.updatedAt)
		}
	}
	if len(st.clients) > len(want) {
		t.Errorf("%d clients for %d users", len(st.clients), len(want))
	}
}

// modelEvents gives every user a user.created and updatesEach user.updated
// with rising updated_at; every third user is deleted last. Each event has
// its own svix-id; the order is shuffled.
func modelEvents(tmpl *loadgen.Template, rng *rand.Rand) []event {
	base := time.Now().Add(-time.Hour).UnixMilli()
	var out []event
	for u := range users {
		id := fmt.Sprintf("user_crash_%03d", u)
		for v := 0; v <= updatesEach; v++ {
			typ := "user.updated"
			if v == 0 {
				typ = "user.created"
			}
			at := base + int64(v)*1000
			name := fmt.Sprintf("v%02d", v)
			body := tmpl.Body(typ, loadgen.User{ID: id, Email: fmt.Sprintf("u%03d.v%02d@example.org", u, v),
				FirstName: name, LastName: "Crash", CreatedAt: base, UpdatedAt: at})
			out = append(out, event{Delivery: loadgen.Delivery{SvixID: fmt.Sprintf("msg_%s_%02d", id, v), Body: body},
				Type: typ, User: id, UpdatedAt: at, FirstName: name})
		}
		if u%3 == 0 {
			at := base + int64(updatesEach+1)*1000
			out = append(out, event{Delivery: loadgen.Delivery{SvixID: "msg_" + id + "_deleted", Body: loadgen.DeletedBody(id, at)},
				Type: "user.deleted", User: id})
		}
	}
	rng.Shuffle(len(out), func(i, j int) { out[i], out[j] = out[j], out[i] })
	return out
}

type want struct {
	deleted   bool
	updatedAt int64
	firstName string
}

// model is the end state: deletion wins, otherwise the newest updated_at.
func model(events []event) map[string]want {
	out := map[string]want{}
	for _, e := range events {
		w := out[e.User]
		if e.Type == "user.deleted" {
			w.deleted = true
		} else if e.UpdatedAt > w.updatedAt {
			w.updatedAt, w.firstName = e.UpdatedAt, e.FirstName
		}
		out[e.User] = w
	}
	return out
}

type client struct {
	firstName string
	updatedAt int64
}

type state struct {
	logged     map[string]bool
	logRows    int
	clients    map[string]client
	clientRows int
	tombstoned map[string]bool
}

// readState reads the delivery log, clients and tombstones through the
// superuser REST API.
func readState(t *testing.T, c *http.Client, url, token string) state {
	t.Helper()
	st := state{logged: map[string]bool{}, clients: map[string]client{}, tombstoned: map[string]bool{}}
	for _, r := range list(t, c, url, token, "clerk_events", "svixId") {
		st.logRows++
		st.logged[r["svixId"].(string)] = true
	}
	for _, r := range list(t, c, url, token, "clients", "clerkId,firstName,clerkUpdatedAt") {
		st.clientRows++
		at, err := time.Parse(types.DefaultDateLayout, r["clerkUpdatedAt"].(string))
		if err != nil {
			t.Fatalf("client %v: clerkUpdatedAt: %v", r["clerkId"], err)
		}
		st.clients[r["clerkId"].(string)] = client{firstName: r["firstName"].(string), updatedAt: at.UnixMilli()}
	}
	for _, r := range list(t, c, url, token, "clerk_tombstones", "clerkId") {
		st.tombstoned[r["clerkId"].(string)] = true
	}
	return st
}

func list(t *testing.T, c *http.Client, url, token, collection, fields string) []map[string]any {
	t.Helper()
	var all []map[string]any
	for page := 1; ; page++ {
		var res struct {
			Items []map[string]any `json:"items"`
		}
		err := loadgen.Call(c, http.MethodGet, fmt.Sprintf("%s/api/collections/%s/records?page=%d&perPage=1000&skipTotal=1&sort=id&fields=%s",
			url, collection, page, fields), token, nil, &res)
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, res.Items...)
		if len(res.Items) < 1000 {
			return all
		}
	}
}

func dumpLogOnFailure(t *testing.T, logPath string) {
	if !t.Failed() {
		return
	}
	if b, err := os.ReadFile(logPath); err == nil {
		if len(b) > 4000 {
			b = b[len(b)-4000:]
		}
		t.Logf("server log tail:\n%s", b)
	}
}
