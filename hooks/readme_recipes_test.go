package hooks

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dop251/goja"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/mailer"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/hooks/readme"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// readmeBlock is the code block of README.md whose code starts with
// start, as written there.
func readmeBlock(t testing.TB, start string) string {
	t.Helper()
	return readme.Block(t, "../README.md", start)
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

	r := deliver(t, srv.URL, "msg_welcome", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Ada", 1000)))
	if r.Status != http.StatusOK || r.Body["outcome"] != string(outcomeCreated) {
		t.Fatalf("a delivery whose after-commit hook failed: %d %v, want 200 created", r.Status, r.Body)
	}
	client := clientOf(t, app, userA)
	if client.GetString("plan") != "free" || !client.GetDateTime("welcomedAt").IsZero() {
		t.Fatalf("plan %q, welcomedAt %v: want free and not welcomed yet", client.GetString("plan"), client.GetDateTime("welcomedAt"))
	}
	if r := deliver(t, srv.URL, "msg_welcome", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Ada", 1000))); r.Body["duplicate"] != true {
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

	// As the dashboard and the schedule run it: recorded for the Clerk page.
	p := &plugin{app: app, config: fakeConfig(f)}
	counts, err := p.recordedSync(context.Background(), migrations.TriggerCommand, syncOptions{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if run, err := lastSyncRun(app); err != nil || run.Counts.Created != 10 || run.Counts.HookFailures != counts.HookFailures {
		t.Errorf("the recorded run: %+v %v, want 10 created and the hook's failures", run, err)
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

// The README's projects recipe (organization required, no cascade): an
// organization deleted in Clerk is kept, marked deleted, at once; its
// projects keep it, and no member reaches them any more.
func TestReadmeProjectsRecipeWhenAnOrganizationIsDeleted(t *testing.T) {
	ten := newTenancy(t)
	runJSMigration(t, ten.app, readmeBlock(t, "// pb_migrations/1764900100_projects.js"))
	body := fmt.Sprintf(`{"organization":%q,"title":"Roadmap"}`, ten.orgA.Id)
	if status := sendAs(t, ten.url, ten.bob, http.MethodPost, "/api/collections/projects/records", body); status != http.StatusOK {
		t.Fatalf("bob, A's admin, creating a project of A: %d", status)
	}
	if status := sendAs(t, ten.url, ten.alice, http.MethodPost, "/api/collections/projects/records", body); status == http.StatusOK {
		t.Fatal("alice, a plain member of A, created a project of A")
	}

	deleted := orgEventBody(t, eventOrganizationDeleted, func(data map[string]any) { data["id"] = "org_a" })
	mustDeliver(t, ten.url, "msg_org_a_deleted", deleted, outcomeAnonymized)

	org := orgOf(t, ten.app, "org_a")
	if org == nil || org.GetDateTime(migrations.FieldDeletedAt).IsZero() || org.GetString(migrations.FieldName) == "" {
		t.Fatalf("organization A after its deletion: %v, want it kept with its name and deletedAt set", org)
	}
	if n := count(t, ten.app, "projects", ""); n != 1 {
		t.Fatalf("%d projects, want A's kept", n)
	}
	if n := count(t, ten.app, migrations.MembershipsCollection, "clerkOrganizationId = 'org_a'"); n != 0 {
		t.Errorf("%d memberships of deleted A are left", n)
	}
	if got := listAs(t, ten.url, authToken(t, ten.bob), "projects", "title"); len(got) != 0 {
		t.Errorf("bob still sees the projects of deleted A: %v", got)
	}
	if got := listAs(t, ten.url, authToken(t, ten.bob), migrations.OrganizationsCollection, "clerkId"); len(got) != 0 {
		t.Errorf("bob still sees organizations %v", got)
	}
	// Deleted for good: later events are gone.
	updated := orgEventBody(t, eventOrganizationUpdated, func(data map[string]any) { data["id"] = "org_a"; data["updated_at"] = 9e12 })
	mustDeliver(t, ten.url, "msg_org_a_updated", updated, outcomeGone)
	mustDeliver(t, ten.url, "msg_org_a_join", clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_carol_a", "org_a", "user_carol", "org:member", 9e12)), outcomeGone)
	mustDeliver(t, ten.url, "msg_org_a_deleted_again", orgEventBody(t, eventOrganizationDeleted, func(data map[string]any) { data["id"] = "org_a" }), outcomeGone)
}

// clerk sync --prune --force applies such a deletion the same way, once.
func TestPruneKeepsAnOrganizationThatARequiredRelationHolds(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerkWithOrgs(t, 3, 2, 4)
	mustSync(t, app, f, syncOptions{})
	runJSMigration(t, app, readmeBlock(t, "// pb_migrations/1764900100_projects.js"))
	projects, err := app.FindCollectionByNameOrId("projects")
	if err != nil {
		t.Fatal(err)
	}
	project := core.NewRecord(projects)
	project.Set("organization", orgOf(t, app, "org_fake001").Id)
	project.Set("title", "Roadmap")
	if err := app.Save(project); err != nil {
		t.Fatal(err)
	}
	f.edit(func(f *fakeClerk) { f.RemoveOrg("org_fake001") })
	for _, c := range []string{migrations.OrganizationsCollection, migrations.MembershipsCollection} {
		ageRecords(t, app, c, time.Hour)
	}

	counts, _, err := syncWith(t, app, fakeConfig(f), syncOptions{Prune: true, Force: true})
	if err != nil {
		t.Fatal(err)
	}
	if counts.Organizations.Deleted != 1 || counts.Organizations.Failed != 0 {
		t.Errorf("organizations: %+v, want 1 deleted", counts.Organizations)
	}
	org := orgOf(t, app, "org_fake001")
	if org == nil || org.GetDateTime(migrations.FieldDeletedAt).IsZero() {
		t.Fatalf("the pruned organization: %v, want it kept, marked deleted", org)
	}
	if n := count(t, app, migrations.MembershipsCollection, "clerkOrganizationId = 'org_fake001'"); n != 0 {
		t.Errorf("%d memberships of the pruned organization are left", n)
	}

	// The next prune leaves it alone, without --force.
	ageRecords(t, app, migrations.OrganizationsCollection, time.Hour)
	counts, _, err = syncWith(t, app, fakeConfig(f), syncOptions{Prune: true})
	if err != nil || counts.Organizations.Deleted != 0 {
		t.Errorf("second prune: %+v %v, want nothing to delete", counts.Organizations, err)
	}
}

// The README's fields of one's own: a user edits the nickname but cannot
// make themselves "pro", and the profile page learns which is which.
func TestReadmeOwnerFieldsUsersMayAndMayNotEdit(t *testing.T) {
	app := readmeOwnerApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Ada", 1000)))
	id := clientOf(t, app, userA).Id
	ada := "Bearer " + srv.key.token(t, userA)
	record := srv.URL + "/api/collections/clients/records/" + id

	if r := send(t, http.MethodPatch, record, ada, `{"nickname":"Countess"}`); r.Status != http.StatusOK || r.Body["nickname"] != "Countess" {
		t.Fatalf("editing the nickname: %d %v", r.Status, r.Body)
	}
	for _, body := range []string{`{"plan":"pro"}`, `{"nickname":"Ada","plan":"pro"}`, `{"welcomedAt":"2020-01-01 00:00:00.000Z"}`} {
		if r := send(t, http.MethodPatch, record, ada, body); r.Status == http.StatusOK {
			t.Errorf("PATCH %s by the user: %d, want it refused", body, r.Status)
		}
	}
	if c := clientOf(t, app, userA); c.GetString("plan") != "free" || c.GetString("nickname") != "Countess" {
		t.Errorf("plan %q, nickname %q: want free and Countess", c.GetString("plan"), c.GetString("nickname"))
	}

	r := get(t, srv.URL+EditableFieldsPath, ada)
	want := map[string]any{"nickname": true, "plan": false, "welcomedAt": false}
	if fields, _ := r.Body["fields"].(map[string]any); r.Status != http.StatusOK || fmt.Sprint(fields) != fmt.Sprint(want) {
		t.Errorf("%s: %d %v, want fields %v", EditableFieldsPath, r.Status, r.Body, want)
	}
	if r := get(t, srv.URL+EditableFieldsPath, ""); r.Status != http.StatusUnauthorized {
		t.Errorf("%s as a guest: %d, want 401", EditableFieldsPath, r.Status)
	}
}

// Deliveries that share a transaction, each with a hook failing after the
// commit: every one is answered as applied, none as a duplicate of itself.
func TestConcurrentDeliveriesWithAFailingAfterCommitHook(t *testing.T) {
	app := newTestApp(t)
	app.OnRecordAfterCreateSuccess(migrations.ClientsCollection).BindFunc(func(e *core.RecordEvent) error {
		if err := e.Next(); err != nil {
			return err
		}
		return errors.New("the owner's side effect failed")
	})
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	replies := make([]reply, 24)
	var wg sync.WaitGroup
	for i := range replies {
		wg.Go(func() {
			id := fmt.Sprintf("user_2concurrent%014d", i)
			replies[i] = deliver(t, srv.URL, "msg_"+id, clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Ada", 1000)))
		})
	}
	wg.Wait()
	for i, r := range replies {
		if r.Status != http.StatusOK || r.Body["outcome"] != string(outcomeCreated) {
			t.Errorf("delivery %d: %d %v, want 200 created", i, r.Status, r.Body)
		}
	}
	if n := count(t, app, migrations.ClientsCollection, ""); n != len(replies) {
		t.Errorf("%d clients, want %d", n, len(replies))
	}
}

// The README's Go migration in "Build your app on clients" is the function
// TestBuildYourAppOnClients runs, to the letter.
func TestReadmeGoMigrationIsTheTestedOne(t *testing.T) {
	readme := readmeBlock(t, "func addBioAndPosts(app core.App) error {")
	test, err := os.ReadFile("client_owner_app_test.go")
	if err != nil {
		t.Fatal(err)
	}
	_, fn, _ := strings.Cut(string(test), "\nfunc addBioAndPosts(")
	fn, _, _ = strings.Cut(fn, "\n}\n")
	if tested := "func addBioAndPosts(" + fn + "\n}\n"; tested != readme {
		t.Errorf("the README's migration differs from the tested one:\nREADME:\n%s\ntested:\n%s", readme, tested)
	}
}

// The README's recipe on the Clerk session, as written there, and beside
// each of its conditions the wrong form that looks right, failing.
func TestReadmeSessionRecipeAndItsWrongForms(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	for _, org := range []string{"org_1", "org_2"} {
		mustDeliver(t, srv.URL, "msg_"+org, clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_"+org, org, userA, "org:admin", 1000)), outcomeCreated)
	}
	runJSMigration(t, app, readmeBlock(t, "// pb_migrations/1764900200_posts.js"))
	posts, err := app.FindCollectionByNameOrId("org_posts")
	if err != nil {
		t.Fatal(err)
	}
	post := func(org, title string) string {
		r := core.NewRecord(posts)
		r.Set("organization", orgOf(t, app, org).Id)
		r.Set("title", title)
		if err := app.Save(r); err != nil {
			t.Fatal(err)
		}
		return r.Id
	}
	// session is a token of Alice acting in org (none: ""), with these
	// permissions, second factor age and impersonator.
	session := func(org string, permissions []string, factorAge int64, actor string) string {
		c := validClaims(userA)
		delete(c, "v")
		if org != "" {
			c["org_id"], c["org_slug"], c["org_role"], c["org_permissions"] = org, org, "org:admin", permissions
		}
		c["fva"] = []int64{0, factorAge}
		if actor != "" {
			c["act"] = map[string]any{"sub": actor}
		}
		return "Bearer " + srv.key.sign(t, c)
	}
	// wrongly rewrites the rules as the wrong form, for the rest of f.
	wrongly := func(from, to string, f func()) {
		t.Helper()
		rewriteRules(t, app, "org_posts", from, to, f)
	}
	records := "/api/collections/org_posts/records"
	status := func(method, path, authorization, body string) int {
		return send(t, method, srv.URL+records+path, authorization, body).Status
	}
	post("org_1", "one")
	post("org_2", "two")

	// The active organization's rows only.
	for org, want := range map[string][]string{"org_1": {"one"}, "org_2": {"two"}, "": nil} {
		if got := listAs(t, srv.URL, session(org, nil, -1, ""), "org_posts", "title"); !slices.Equal(got, want) {
			t.Errorf("acting in %q, Alice lists %v, want %v", org, got, want)
		}
	}
	wrongly("organization.clerkId = @request.headers.x_clerk_org_id", "organization = @request.headers.x_clerk_org_id", func() {
		if got := listAs(t, srv.URL, session("org_1", nil, -1, ""), "org_posts", "title"); len(got) != 0 {
			t.Errorf("the wrong form lists %v: it was expected to match nothing", got)
		}
	})

	// A delete needs org:posts:delete, not a permission that contains it.
	deleteOwn := session("org_1", []string{"org:posts:delete_own"}, -1, "")
	if id := post("org_1", "kept"); status(http.MethodDelete, "/"+id, deleteOwn, "") == http.StatusNoContent {
		t.Error("org:posts:delete_own deleted a post")
	}
	if id := post("org_1", "deleted"); status(http.MethodDelete, "/"+id, session("org_1", []string{"org:posts:delete"}, -1, ""), "") != http.StatusNoContent {
		t.Error("org:posts:delete could not delete a post")
	}
	wrongly(`~ ",org:posts:delete,"`, `~ "org:posts:delete"`, func() {
		if id := post("org_1", "wrongly deleted"); status(http.MethodDelete, "/"+id, deleteOwn, "") != http.StatusNoContent {
			t.Error("the wrong form refused org:posts:delete_own: it was expected to let it delete")
		}
	})

	// Publishing needs a second factor verified within the last 10 minutes.
	publish := func(factorAge int64) int {
		id := post("org_1", "draft")
		return status(http.MethodPatch, "/"+id, session("org_1", nil, factorAge, ""), `{"published":true}`)
	}
	for age, want := range map[int64]int{5: http.StatusOK, 10: http.StatusOK, 11: http.StatusNotFound, 30: http.StatusNotFound, -1: http.StatusNotFound} {
		if got := publish(age); (got == http.StatusOK) != (want == http.StatusOK) {
			t.Errorf("publishing %d minutes after the second factor: %d, want %d", age, got, want)
		}
	}
	id := post("org_1", "retitled")
	if got := status(http.MethodPatch, "/"+id, session("org_1", nil, -1, ""), `{"title":"retitled","published":false}`); got != http.StatusOK {
		t.Errorf("editing without publishing, without a second factor: %d, want 200", got)
	}
	fresh := "clerkNumber(@request.headers.x_clerk_factor_age) >= 0 && clerkNumber(@request.headers.x_clerk_factor_age) <= 10"
	wrongly(fresh, "@request.headers.x_clerk_factor_age <= 10", func() {
		if got := publish(5); got == http.StatusOK {
			t.Error("without clerkNumber, publishing 5 minutes after the second factor passed: headers are text, expected to fail")
		}
	})
	wrongly(fresh, "clerkNumber(@request.headers.x_clerk_factor_age) <= 10", func() {
		if got := publish(-1); got != http.StatusOK {
			t.Errorf("without >= 0, a user without a second factor publishing: %d, expected to pass", got)
		}
	})

	// No writes while an admin impersonates the user, nor with a PocketBase token.
	create := func(authorization string) int {
		return status(http.MethodPost, "", authorization, fmt.Sprintf(`{"organization":%q,"title":"new"}`, orgOf(t, app, "org_1").Id))
	}
	if got := create(session("org_1", nil, -1, "")); got != http.StatusOK {
		t.Errorf("Alice creating a post: %d, want 200", got)
	}
	if got := create(session("org_1", nil, -1, "user_support")); got == http.StatusOK {
		t.Error("an admin impersonating Alice created a post")
	}
	pbToken := authToken(t, clientOf(t, app, userA))
	if got := create(pbToken); got == http.StatusOK {
		t.Error("a PocketBase token of Alice created a post")
	}
	wrongly(`@request.headers.x_clerk_session_id != "" && `, "", func() {
		// The condition alone: in the recipe, the active organization's
		// condition refuses a PocketBase token too.
		col, _ := app.FindCollectionByNameOrId("org_posts")
		loose := `@request.auth.collectionName = "clients" && @request.headers.x_clerk_actor = ""`
		col.CreateRule = &loose
		if err := app.Save(col); err != nil {
			t.Fatal(err)
		}
		if got := create(pbToken); got != http.StatusOK {
			t.Errorf("without x_clerk_session_id, a PocketBase token creating a post: %d, expected to pass", got)
		}
	})
}
