package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/pocketbase/core"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// These tests run the binary as an owner does: built, in a folder of its
// own with pb_hooks, pb_migrations and pb_data beside it.

const (
	testVersion = "v9.9.9-test"
	testCommit  = "0123456789ab"
	testSecret  = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
)

var built struct {
	once sync.Once
	bin  string
	err  error
}

// pocketclerk builds the binary once per test run, stamped as a release is.
func pocketclerk(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "pocketclerk-bin-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "pocketclerk")
		// "go test" puts its own toolchain's go first in PATH.
		cmd := exec.Command("go", "build", "-o", built.bin,
			"-ldflags", "-X main.version="+testVersion+" -X main.commit="+testCommit, ".")
		if out, err := cmd.CombinedOutput(); err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// run runs the binary in dir (a binary under the temp dir takes the
// working directory as its base, as "go run" does) and returns its output.
func run(t *testing.T, dir string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(pocketclerk(t), args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestVersionPrintsVersionAndCommit(t *testing.T) {
	dir := t.TempDir()
	out, err := run(t, dir, nil, "--version")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	for _, want := range []string{testVersion, testCommit, "PocketBase v0.40.4"} {
		if !strings.Contains(out, want) {
			t.Errorf("--version printed %q, without %q", out, want)
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "pb_data")); err == nil {
		t.Error("--version created pb_data")
	}
}

func TestClerkSendOpensNoDatabase(t *testing.T) {
	dir := t.TempDir()
	// Nothing listens on port 1: the send fails, after having built and
	// signed the event.
	out, err := run(t, dir, []string{"CLERK_WEBHOOK_SECRET=" + testSecret},
		"clerk", "send", "user.created", "--url", "http://127.0.0.1:1/api/webhooks/clerk")
	if err == nil || !strings.Contains(out, "is the server running?") {
		t.Fatalf("want a failed post, got err %v:\n%s", err, out)
	}
	if _, err := os.Stat(filepath.Join(dir, "pb_data")); err == nil {
		t.Fatal("clerk send created pb_data")
	}
}

// The owner's extension files: a migration adding a field to clients and a
// collection the hooks write to; hooks inside the delivery's transaction
// and after its commit; a route.
var ownerFiles = map[string]string{
	"pb_migrations/1764900000_owner_fields.js": `/// <reference path="../pb_data/types.d.ts" />
migrate((app) => {
  const clients = app.findCollectionByNameOrId("clients")
  clients.fields.add(new SelectField({ name: "plan", values: ["free", "pro"], maxSelect: 1 }))
  app.save(clients)
  app.save(new Collection({
    type: "base",
    name: "hook_log",
    fields: [{ name: "clerkId", type: "text" }, { name: "stage", type: "text" }],
  }))
}, (app) => {
  app.delete(app.findCollectionByNameOrId("hook_log"))
  const clients = app.findCollectionByNameOrId("clients")
  clients.fields.removeByName("plan")
  app.save(clients)
})
`,
	"pb_hooks/clients.pb.js": `/// <reference path="../pb_data/types.d.ts" />
// In the delivery's transaction: the client and this row are saved together
// or not at all.
onRecordCreate((e) => {
  e.record.set("plan", "free")
  e.next()
  const row = new Record(e.app.findCollectionByNameOrId("hook_log"))
  row.set("clerkId", e.record.getString("clerkId"))
  row.set("stage", "transaction")
  e.app.save(row)
  if (e.record.getString("clerkId").startsWith("user_rejected")) {
    throw new Error("rejected by the owner's hook")
  }
}, "clients")

// After the commit, once per client that exists: a welcome mail would go here.
onRecordAfterCreateSuccess((e) => {
  const row = new Record(e.app.findCollectionByNameOrId("hook_log"))
  row.set("clerkId", e.record.getString("clerkId"))
  row.set("stage", "committed")
  e.app.save(row)
  e.next()
}, "clients")

// A membership, applied from its webhook, after the commit.
onRecordAfterCreateSuccess((e) => {
  const row = new Record(e.app.findCollectionByNameOrId("hook_log"))
  row.set("clerkId", e.record.getString("clerkUserId"))
  row.set("stage", "membership")
  e.app.save(row)
  e.next()
}, "memberships")

routerAdd("GET", "/hello/{name}", (e) => e.string(200, "hello " + e.request.pathValue("name")))
`,
	"site/index.html": "<h1>the owner's page</h1>",
}

// serveDir is the binary serving dir until the test ends.
func serveDir(t *testing.T, dir string, env []string, args ...string) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()

	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, pocketclerk(t), append([]string{"serve", "--http=" + addr}, args...)...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), env...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cancel()
		<-exited
		if t.Failed() {
			t.Logf("server output:\n%s", log.String())
		}
	})

	url := "http://" + addr
	for deadline := time.Now().Add(30 * time.Second); ; {
		res, err := http.Get(url + "/api/health")
		if err == nil {
			res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case <-exited:
			t.Fatalf("the server exited:\n%s", log.String())
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("no /api/health within 30 s:\n%s", log.String())
		}
	}
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(res.Body)
	return res.StatusCode, body.String()
}

// openData opens the data folder the binary wrote, as a second process
// (such as "clerk sync") does.
func openData(t *testing.T, dir string) core.App {
	t.Helper()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: filepath.Join(dir, "pb_data")})
	if err := app.Bootstrap(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.ClearBootstrap() })
	return app
}

func TestJSHooksMigrationsAndPublicDir(t *testing.T) {
	dir := t.TempDir()
	for name, content := range ownerFiles {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	env := []string{"CLERK_WEBHOOK_SECRET=" + testSecret}
	url := serveDir(t, dir, env, "--publicDir", filepath.Join(dir, "site"))

	if _, err := os.Stat(filepath.Join(dir, "pb_data", "types.d.ts")); err != nil {
		t.Errorf("no TypeScript declarations for the hooks: %v", err)
	}
	if code, body := get(t, url+"/hello/ada"); code != 200 || body != "hello ada" {
		t.Errorf("the pb_hooks route answered %d %q", code, body)
	}
	if code, body := get(t, url+"/"); code != 200 || !strings.Contains(body, "the owner's page") {
		t.Errorf("--publicDir did not replace the embedded page: %d %q", code, body)
	}

	// Concurrent deliveries share transactions: one the owner's hook
	// rejects must fail alone.
	webhook := url + "/api/webhooks/clerk"
	good := []string{}
	for i := range 8 {
		good = append(good, fmt.Sprintf("user_good%02d", i))
	}
	var wg sync.WaitGroup
	outs := map[string]string{}
	errs := map[string]error{}
	var mu sync.Mutex
	for _, id := range append([]string{"user_rejected"}, good...) {
		wg.Go(func() {
			out, err := run(t, dir, env, "clerk", "send", "user.created", "--url", webhook, "--user-id", id)
			mu.Lock()
			outs[id], errs[id] = out, err
			mu.Unlock()
		})
	}
	wg.Wait()
	if errs["user_rejected"] == nil || !strings.Contains(outs["user_rejected"], "500") {
		t.Fatalf("the delivery the hook rejected was not answered 500:\n%s", outs["user_rejected"])
	}
	for _, id := range good {
		if errs[id] != nil {
			t.Fatalf("%s failed beside the rejected one: %v\n%s", id, errs[id], outs[id])
		}
	}

	app := openData(t, dir)
	countOf := func(collection, filter string) int {
		t.Helper()
		records, err := app.FindAllRecords(collection)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, r := range records {
			if filter == "" || r.GetString("clerkId")+"/"+r.GetString("stage") == filter {
				n++
			}
		}
		return n
	}
	if n := countOf("clients", ""); n != len(good) {
		t.Fatalf("%d clients, want %d", n, len(good))
	}
	// The hooks after the commit run once the deliveries are answered.
	poll(t, "the hooks after the commits", func() bool {
		n := 0
		for _, id := range good {
			n += countOf("hook_log", id+"/committed")
		}
		return n >= len(good)
	})
	for _, id := range good {
		c, err := app.FindFirstRecordByData("clients", "clerkId", id)
		if err != nil {
			t.Fatalf("%s: %v", id, err)
		}
		if c.GetString("plan") != "free" {
			t.Errorf("%s: plan %q, want the hook's \"free\"", id, c.GetString("plan"))
		}
		if countOf("hook_log", id+"/transaction") != 1 || countOf("hook_log", id+"/committed") != 1 {
			t.Errorf("%s: want one row from each hook, got %d in the transaction and %d after the commit",
				id, countOf("hook_log", id+"/transaction"), countOf("hook_log", id+"/committed"))
		}
	}
	if n := countOf("hook_log", "user_rejected/transaction") + countOf("hook_log", "user_rejected/committed"); n != 0 {
		t.Errorf("%d hook rows kept for the rejected delivery", n)
	}
	if events, _ := app.FindAllRecords("clerk_events"); len(events) != len(good) {
		t.Errorf("%d deliveries logged, want %d: the rejected one must stay retryable", len(events), len(good))
	}

	// A membership of a client, from Clerk's webhook.
	postSigned(t, webhook, membershipCreated(t, good[0]))
	poll(t, "the memberships hook", func() bool { return countOf("hook_log", good[0]+"/membership") > 0 })
	if n := countOf("hook_log", good[0]+"/membership"); n != 1 {
		t.Errorf("the memberships hook ran %d times for one membership", n)
	}

	// The owner sets the field; a sync that updates the client leaves it.
	c, err := app.FindFirstRecordByData("clients", "clerkId", good[0])
	if err != nil {
		t.Fatal(err)
	}
	c.Set("plan", "pro")
	if err := app.Save(c); err != nil {
		t.Fatal(err)
	}
	api := httptest.NewServer(fakeUsers(t, "sk_test_fake", good[0]))
	defer api.Close()
	out, err := run(t, dir, append(env, "CLERK_SECRET_KEY=sk_test_fake", "CLERK_API_URL="+api.URL), "clerk", "sync")
	if err != nil || !strings.Contains(out, "1 updated") {
		t.Fatalf("sync: %v\n%s", err, out)
	}
	if !strings.Contains(out, filepath.Join(dir, "pb_data", "data.db")+": 8 clients before, 8 after") {
		t.Errorf("the sync did not name the database it wrote to:\n%s", out)
	}
	c, err = app.FindRecordById("clients", c.Id)
	if err != nil {
		t.Fatal(err)
	}
	if c.GetString("lastName") != "Synced" || c.GetString("plan") != "pro" {
		t.Errorf("after the sync: lastName %q (want Synced), plan %q (want the owner's pro)", c.GetString("lastName"), c.GetString("plan"))
	}
}

// poll checks done every 50 ms until it holds, for at most 30 s: what
// follows a commit in the server is done after the delivery's answer.
func poll(t *testing.T, what string, done func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !done(); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not done within 30 s", what)
		}
	}
}

// fakeUsers is the Backend API stand-in holding one user, changed after
// its creation, checked against Clerk's spec as the hooks' tests are.
func fakeUsers(t *testing.T, key, id string) http.Handler {
	user := clerkfake.ExampleUser()
	user["id"], user["last_name"], user["updated_at"] = id, "Synced", time.Now().Add(time.Minute).UnixMilli()
	user.SetEmail(id + "@example.com")
	api := clerkfake.New(key)
	api.Users = []*clerk.User{user.Served()}
	spec, err := clerkfake.LoadSpec(clerkfake.SpecFile)
	if err != nil {
		t.Fatal(err)
	}
	return spec.Check(api, func(msg string) { t.Errorf("Clerk's Backend API spec: %s", msg) }, nil)
}

// membershipCreated is Clerk's organizationMembership.created for userID.
func membershipCreated(t *testing.T, userID string) []byte {
	t.Helper()
	raw, err := os.ReadFile("testdata/organizationMembership.created.json")
	if err != nil {
		t.Fatal(err)
	}
	var event map[string]any
	if err := json.Unmarshal(raw, &event); err != nil {
		t.Fatal(err)
	}
	event["data"].(map[string]any)["public_user_data"].(map[string]any)["user_id"] = userID
	body, err := json.Marshal(event)
	if err != nil {
		t.Fatal(err)
	}
	return body
}

// postSigned posts body to the webhook signed as Svix does and expects a 2xx.
func postSigned(t *testing.T, url string, body []byte) {
	t.Helper()
	wh, err := svix.NewWebhook(testSecret)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	msgID := fmt.Sprintf("msg_test%d", now.UnixNano())
	sig, err := wh.Sign(msgID, now, body)
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("svix-id", msgID)
	req.Header.Set("svix-timestamp", fmt.Sprint(now.Unix()))
	req.Header.Set("svix-signature", sig)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var answer bytes.Buffer
	answer.ReadFrom(res.Body)
	if res.StatusCode/100 != 2 {
		t.Fatalf("the webhook answered %s %s", res.Status, answer.String())
	}
}

// serve creates pb_hooks, so that a hook file written while it serves is
// loaded without a restart by hand.
func TestHooksWrittenWhileServingAreLoaded(t *testing.T) {
	dir := t.TempDir()
	url := serveDir(t, dir, []string{"CLERK_WEBHOOK_SECRET=" + testSecret})
	if info, err := os.Stat(filepath.Join(dir, "pb_hooks")); err != nil || !info.IsDir() {
		t.Fatalf("serve did not create pb_hooks: %v", err)
	}
	hook := `routerAdd("GET", "/late", (e) => e.string(200, "loaded"))`
	if err := os.WriteFile(filepath.Join(dir, "pb_hooks", "late.pb.js"), []byte(hook), 0o644); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(200 * time.Millisecond) {
		res, err := http.Get(url + "/late")
		if err == nil {
			var body bytes.Buffer
			body.ReadFrom(res.Body)
			res.Body.Close()
			if res.StatusCode == http.StatusOK && body.String() == "loaded" {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hook written while serving was not loaded within 30 s (last: %v)", err)
		}
	}
}
