package hooks

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dop251/goja"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/mailer"
)

// readmeBlock is the code block of README.md whose first line starts with
// firstLine, as written there.
func readmeBlock(t testing.TB, firstLine string) string {
	t.Helper()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.Split(string(readme), "```")
	for i := 1; i < len(blocks); i += 2 {
		_, code, _ := strings.Cut(blocks[i], "\n") // after the language
		if strings.HasPrefix(code, firstLine) {
			return code
		}
	}
	t.Fatalf("README.md has no code block starting with %q", firstLine)
	return ""
}

// runJSMigration runs a pb_migrations file's up function on app, as
// PocketBase's jsvm runs it, but only on this app (jsvm registers its
// migrations for every app of the process).
func runJSMigration(t testing.TB, app core.App, src string) {
	t.Helper()
	vm := goja.New()
	jsvm.BindCore(vm)
	jsvm.BindDbx(vm)
	jsvm.BindForms(vm)
	var up func(txApp core.App) error
	vm.Set("migrate", func(u, _ func(txApp core.App) error) { up = u })
	if _, err := vm.RunString(src); err != nil {
		t.Fatal(err)
	}
	if err := app.RunInTransaction(up); err != nil {
		t.Fatal(err)
	}
}

// loadJSHooks loads pb_hooks files into app with PocketBase's jsvm, as the
// binary does.
func loadJSHooks(t testing.TB, app core.App, files map[string]string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pb_hooks")
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	err := jsvm.Register(app, jsvm.Config{HooksDir: dir, MigrationsDir: t.TempDir(), HooksWatch: false, HooksPoolSize: 2, TypesDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
}

// readmeOwnerApp is the README's "Extend it with JavaScript": its
// migration and its hooks, as written there.
func readmeOwnerApp(t testing.TB) *tests.TestApp {
	t.Helper()
	app := newTestApp(t)
	runJSMigration(t, app, readmeBlock(t, "// pb_migrations/1764900000_client_fields.js"))
	loadJSHooks(t, app, map[string]string{
		"clients.pb.js": readmeBlock(t, "// pb_hooks/clients.pb.js"),
		"welcome.js":    readmeBlock(t, "// pb_hooks/welcome.js"),
	})
	return app
}

// mailServerDown makes every mail of app go to a mail server that refuses
// connections, as when the owner has set no mailer up yet; the returned
// function brings the test mailer back.
func mailServerDown(t testing.TB, app *tests.TestApp) (restore func()) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close() // nothing listens there now
	id := app.OnMailerSend().Bind(&hook.Handler[*core.MailerEvent]{
		Func: func(e *core.MailerEvent) error {
			e.Mailer = &mailer.SMTPClient{Host: "127.0.0.1", Port: port}
			return e.Next()
		},
		Priority: 1, // after the test app's own, which installs its mailer
	})
	return func() { app.OnMailerSend().Unbind(id) }
}

// The README's welcome mail fails after the commit (no mail server): the
// delivery is applied and answered 200, the failure shows on the Clerk
// page, and the README's cron sends the mail once the server is back.
func TestReadmeWelcomeHookFailingAfterTheCommit(t *testing.T) {
	app := readmeOwnerApp(t)
	restore := mailServerDown(t, app)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})

	r := deliver(t, srv.URL, "msg_welcome", userEvent(eventUserCreated, clerkUser(t, userA, "Ada", 1000)))
	if r.Status != http.StatusOK || r.Body["outcome"] != string(outcomeCreated) {
		t.Fatalf("a delivery whose after-commit hook failed: %d %v, want 200 created", r.Status, r.Body)
	}
	client := clientOf(t, app, userA)
	if client.GetString("plan") != "free" || !client.GetDateTime("welcomedAt").IsZero() {
		t.Fatalf("plan %q, welcomedAt %v: want free and not welcomed yet", client.GetString("plan"), client.GetDateTime("welcomedAt"))
	}
	if r := deliver(t, srv.URL, "msg_welcome", userEvent(eventUserCreated, clerkUser(t, userA, "Ada", 1000))); r.Body["duplicate"] != true {
		t.Fatalf("Svix's retry: %d %v, want a duplicate", r.Status, r.Body)
	}

	status := get(t, srv.URL+StatusPath, newSuperuserToken(t, app))
	deliveries := status.Body["deliveries"].(map[string]any)
	if deliveries["failed"] != float64(0) || deliveries["applied"] != float64(1) {
		t.Errorf("deliveries: %v, want 1 applied and none failed", deliveries)
	}
	failures := status.Body["failures"].([]any)
	if len(failures) != 1 {
		t.Fatalf("failures: %v, want the hook's", failures)
	}
	f := failures[0].(map[string]any)
	if f["outcome"] != "hook failed" || f["svixId"] != "msg_welcome" || !strings.Contains(f["reason"].(string), "connection refused") {
		t.Errorf("the hook's failure on the Clerk page: %v", f)
	}

	// The mail server is back: the README's cron sends the mail.
	restore()
	runCronJob(t, app, "welcome")
	if n := app.TestMailer.TotalSend(); n != 1 {
		t.Fatalf("%d mails sent, want the welcome mail", n)
	}
	if to := app.TestMailer.LastMessage().To[0].Address; to != client.Email() {
		t.Errorf("the welcome mail went to %s, want %s", to, client.Email())
	}
	if clientOf(t, app, userA).GetDateTime("welcomedAt").IsZero() {
		t.Error("welcomedAt is not set after the mail was sent")
	}
	runCronJob(t, app, "welcome")
	if n := app.TestMailer.TotalSend(); n != 1 {
		t.Errorf("%d mails sent after a second run, want the one", n)
	}
}

func runCronJob(t testing.TB, app core.App, id string) {
	t.Helper()
	for _, j := range app.Cron().Jobs() {
		if j.Id() == id {
			j.Run()
			return
		}
	}
	t.Fatalf("no cron job %q", id)
}

// clerk sync with the README's hooks and no mail server: the counts are
// what was stored, and the hooks' failures are reported.
func TestSyncCountsWhatAFailingAfterCommitHookStored(t *testing.T) {
	app := readmeOwnerApp(t)
	mailServerDown(t, app)
	f := newFakeClerk(t, 10)

	counts, _, err := syncWith(t, app, fakeConfig(f), syncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if counts.Created != 10 || counts.Unchanged != 0 || counts.Failed != 0 {
		t.Errorf("counts %+v, want 10 created", counts)
	}
	if n := count(t, app, "clients", ""); n != 10 {
		t.Errorf("%d clients stored, want 10", n)
	}
	if counts.HookFailures == 0 {
		t.Errorf("no hook failure counted: %+v", counts)
	}
	summary := counts.summary(false)
	mustContain(t, summary, "10 created")
	mustContain(t, summary, "an after-commit hook failed")

	// Nothing new: the second run finds everything unchanged, and runs no
	// creation hook.
	counts, _, err = syncWith(t, app, fakeConfig(f), syncOptions{})
	if err != nil || counts.Unchanged != 10 || counts.HookFailures != 0 {
		t.Errorf("second run: %+v %v, want 10 unchanged", counts, err)
	}
}
