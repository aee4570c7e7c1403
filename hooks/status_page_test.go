package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/ui"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// The Clerk page of PocketBase's dashboard, driven in headless Chromium
// against the running app, signed in as a superuser the way the dashboard
// keeps its sign-in (its token in localStorage).
func TestClerkPageInTheDashboard(t *testing.T) {
	browser := startBrowser(t)
	app := newTestApp(t)
	// 30 users and 2 clients from elsewhere: the dry run's 3 deletions stay within
	// the prune guard's tenth.
	f := newFakeClerk(t, 30)
	config := fakeConfig(f)
	config.WebhookSecrets = []string{testSecret}
	srv := serveDashboard(t, app, config)
	signIn := superuserSignIn(t, app)

	deliver(t, srv.URL, "msg_a1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	unsigned, _ := http.NewRequest(http.MethodPost, srv.URL+WebhookPath, strings.NewReader(`{}`))
	do(t, unsigned)
	// Alice's subscription items over time, in four of Clerk's statuses.
	pro := storePlan(t, app, "pro", "user", "export")
	for _, status := range []string{migrations.ItemEnded, migrations.ItemEnded, migrations.ItemPastDue, migrations.ItemCanceled, migrations.ItemActive} {
		storeItem(t, app, clientOf(t, app, userA), pro, status, time.Now().AddDate(0, 0, 10))
	}

	tab := openDashboard(t, browser, srv.URL+"/_/#/clerk", signIn, 1440, 900)
	tab.waitFor(`document.getElementById("clerk-status")?.dataset.state === "ready"`)

	if s := tab.text(".app-main-nav"); !strings.Contains(s, "Clerk") {
		t.Fatalf("no Clerk link in the dashboard's header: %q", s)
	}
	for selector, want := range map[string]string{
		"#clerk-applied":                                "1",
		"#clerk-failed":                                 "1",
		"#clerk-clients .clerk-count-value":             "1",
		"#clerk-last-delivery":                          "Last delivery",
		`#clerk-deliveries li[data-outcome="created"]`:  "created: 1",
		`#clerk-deliveries li[data-outcome="refused"]`:  "refused (401): 1",
		`#clerk-failures tr[data-status="401"]`:         "missing required headers",
		`#clerk-config li[data-state="off"]`:            "CLERK_PUBLISHABLE_KEY",
		`#clerk-config li:first-child`:                  "CLERK_WEBHOOK_SECRET",
		"#clerk-sync-none":                              "No clerk sync recorded yet",
		"#clerk-organizations .clerk-count-value":       "0",
		"#clerk-tombstones .clerk-count-value":          "0",
		`#clerk-config li[data-state="ok"]:first-child`: "1 secret(s)",
		`#clerk-replication-state[data-state="off"]`:    "REPLICA_URL",
		`#clerk-fanout-state[data-state="ok"]`:          "0 of 64 commits",
		"#clerk-fanout-waits":                           "has not waited",
		"#clerk-realtime-connections":                   "Realtime connections: 0 open: 0 in the realtime index, 0 in PocketBase",
		"#clerk-items .clerk-items-title":               "Subscription items by status (5)",
		"#clerk-items-active":                           "1active",
		"#clerk-items-past_due":                         "1past due",
		"#clerk-items-canceled":                         "1canceled",
		"#clerk-items-ended":                            "2ended",
		"#clerk-items-upcoming":                         "0upcoming",
	} {
		if got := tab.text(selector); !strings.Contains(got, want) {
			t.Errorf("%s: %q, want %q", selector, got, want)
		}
	}
	if got := tab.text("#clerk-items .clerk-counts"); got != "1active1past due1canceled0upcoming0incomplete2ended0abandoned" {
		t.Errorf("subscription items by status, in Clerk's order: %q", got)
	}
	if n := tab.number(`document.querySelectorAll("#clerk-items .clerk-count.zero").length`); n != 3 {
		t.Errorf("%d statuses shown as empty, want 3", n)
	}
	if n := tab.number(`document.querySelectorAll("#clerk-deliveries .clerk-bar").length`); n != 24 {
		t.Errorf("%d hourly bars, want 24", n)
	}
	if n := tab.number(`document.querySelectorAll('#clerk-deliveries .clerk-bar:last-child .clerk-segment').length`); n != 2 {
		t.Errorf("the current hour's bar has %d segments, want 2 (created, refused)", n)
	}

	t.Run("refreshed live", func(t *testing.T) {
		deliver(t, srv.URL, "msg_b1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userB, "Bob", 1000)))
		tab.waitFor(`document.getElementById("clerk-applied")?.textContent === "2"`)
		storeItem(t, app, clientOf(t, app, userA), pro, migrations.ItemUpcoming, time.Now().AddDate(0, 1, 0))
		tab.waitFor(`document.querySelector("#clerk-items-upcoming .clerk-count-value")?.textContent === "1"`)
	})

	t.Run("an owner's hook failing after the commit is listed, the delivery applied", func(t *testing.T) {
		app.OnRecordAfterUpdateSuccess(migrations.ClientsCollection).BindFunc(func(e *core.RecordEvent) error {
			if err := e.Next(); err != nil {
				return err
			}
			return errors.New("sending the welcome mail: dial tcp 127.0.0.1:25: connect: connection refused")
		})
		mustDeliver(t, srv.URL, "msg_a2", clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userA, "Alicia", 2000)), outcomeUpdated)
		tab.waitFor(`document.querySelector('#clerk-failures tr[data-status="200"]')?.textContent.includes("hook failed")`)
		if s := tab.text(`#clerk-failures tr[data-status="200"]`); !strings.Contains(s, "connection refused") || !strings.Contains(s, "msg_a2") {
			t.Fatalf("the hook's failure: %q", s)
		}
		tab.waitFor(`document.getElementById("clerk-applied")?.textContent === "3" && document.getElementById("clerk-failed")?.textContent === "1"`)
	})

	t.Run("the work after the commits that waits is shown", func(t *testing.T) {
		entered, release := make(chan struct{}), make(chan struct{})
		var once sync.Once
		app.OnRecordAfterUpdateSuccess(migrations.ClientsCollection).BindFunc(func(e *core.RecordEvent) error {
			if e.Record.GetString("clerkId") == userB {
				once.Do(func() { close(entered); <-release })
			}
			return e.Next()
		})
		r := do(t, signedRequest(t, srv.URL, testSecret, "msg_b2", time.Now(), clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userB, "Bobby", 2000))))
		if r.Status != http.StatusOK {
			t.Fatalf("a delivery whose hook blocks: %d %v", r.Status, r.Body)
		}
		<-entered
		tab.waitFor(`document.getElementById("clerk-fanout-backlog")?.textContent === "1 of 64"`)
		if s := tab.text("#clerk-fanout-state"); !strings.Contains(s, "the oldest committed") {
			t.Errorf("the backlog: %q", s)
		}
		close(release)
		afterCommits(t, srv.URL)
		tab.waitFor(`document.getElementById("clerk-fanout-backlog")?.textContent === "0 of 64"`)
	})

	t.Run("clerk sync from the page", func(t *testing.T) {
		tab.click("#clerk-sync-run")
		tab.waitFor(`document.getElementById("clerk-sync-last")?.dataset.state === "done"`)
		if s := tab.text("#clerk-sync-counts"); !strings.HasPrefix(s, "30 users listed: 30 created") {
			t.Fatalf("sync counts: %q", s)
		}
		if s := tab.text("#clerk-sync-last"); !strings.Contains(s, "by dashboard") {
			t.Fatalf("last sync: %q", s)
		}
	})

	t.Run("dry run of --prune lists the clients", func(t *testing.T) {
		f.edit(func(f *fakeClerk) { f.RemoveUser("user_fake000003") })
		ageClients(t, app, 2*time.Minute)
		tab.click("#clerk-sync-dry-prune")
		tab.waitFor(`document.getElementById("clerk-sync-last")?.dataset.state === "done" && document.getElementById("clerk-sync-last").textContent.includes("--dry-run")`)
		// Alice and Bob came by webhook from another Clerk instance than the fake's.
		for _, id := range []string{"user_fake000003", userA, userB} {
			row := tab.text(fmt.Sprintf(`#clerk-pruned tr[data-clerk-id=%q]`, id))
			// Named by Clerk id: a run's record keeps no email or name.
			if c := clientOf(t, app, id); c == nil || !strings.Contains(row, id) || strings.Contains(row, c.Email()) {
				t.Fatalf("would-be deletion of %s: %q, client %v", id, row, c)
			}
		}
		if n := tab.number(`document.querySelectorAll("#clerk-pruned tbody tr").length`); n != 3 {
			t.Fatalf("%d would-be deletions listed, want 3", n)
		}
		if s := tab.text("#clerk-sync-counts"); !strings.Contains(s, "3 would be deleted") {
			t.Fatalf("dry-run counts: %q", s)
		}
		// The list has the page's whole width, not a third of it.
		if w := tab.number(`document.getElementById("clerk-sync").getBoundingClientRect().width / document.getElementById("clerk-status").getBoundingClientRect().width * 100`); w < 95 {
			t.Errorf("the dry run's list takes %d%% of the page's width", w)
		}
		whole := openDashboard(t, browser, srv.URL+"/_/#/clerk", signIn, 1440, 1900)
		whole.waitFor(`document.getElementById("clerk-pruned") !== null`)
		saveScreenshot(t, whole, "clerk-page-1440")
	})

	t.Run("fits a phone", func(t *testing.T) {
		phone := openDashboard(t, browser, srv.URL+"/_/#/clerk", signIn, 390, 844)
		phone.waitFor(`document.getElementById("clerk-status")?.dataset.state === "ready"`)
		overflow := phone.number(`(() => { const c = document.querySelector(".page-clerk .page-content"); return c.scrollWidth - c.clientWidth; })()`)
		if overflow > 0 {
			t.Fatalf("the page is %d px wider than a 390 px screen", overflow)
		}
		// The header's Clerk link is whole on screen.
		if !phone.eval(`(() => { const a = document.querySelector('.app-header a[href="#/clerk"]'); const r = a.getBoundingClientRect(); const nav = a.parentElement.getBoundingClientRect(); return r.width > 0 && r.left >= nav.left && r.right <= Math.min(nav.right, window.innerWidth); })()`) {
			t.Error("the Clerk link in the dashboard's header is clipped at 390 px")
		}
		// A failure's reason has the row's width: no word broken to fit a column.
		if w := phone.number(`document.querySelector("#clerk-failures td.clerk-reason").getBoundingClientRect().width`); w < 280 {
			t.Errorf("a failure's reason is %d px wide at 390 px", w)
		}
		whole := openDashboard(t, browser, srv.URL+"/_/#/clerk", signIn, 390, 3200)
		whole.waitFor(`document.getElementById("clerk-pruned") !== null`)
		saveScreenshot(t, whole, "clerk-page-390")
		// The parts a phone shows worst, each at its own size.
		for _, part := range []string{"clerk-sync", "clerk-failures", "clerk-fanout"} {
			saveElementScreenshot(t, whole, "#"+part, part+"-390")
		}
	})

	t.Run("a dry run that the real prune would stop on says so", func(t *testing.T) {
		clerkPageWouldStop(t, f, tab)
	})
}

// clerkPageWouldStop checks, once the phone's view is taken, that a dry run
// whose real prune would stop on the guard says so.
func clerkPageWouldStop(t *testing.T, f *fakeClerk, tab *tab) {
	t.Helper()
	f.edit(func(f *fakeClerk) {
		for i := 10; i < 20; i++ {
			f.RemoveUser(fmt.Sprintf("user_fake%06d", i))
		}
	})
	tab.click("#clerk-sync-dry-prune")
	tab.waitFor(`document.getElementById("clerk-sync-last")?.dataset.state === "would stop"`)
	if s := tab.text("#clerk-sync-error"); !strings.Contains(s, "The real prune would stop") || !strings.Contains(s, "clients") {
		t.Fatalf("the dry run's guard: %q", s)
	}
}

// serveDashboard serves the app with PocketBase's dashboard at /_/, as
// "serve" does.
func serveDashboard(t *testing.T, app core.App, config Config) *httptest.Server {
	t.Helper()
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.GET("/_/{path...}", apis.Static(ui.DistDirFS, false))
		return se.Next()
	})
	return serve(t, app, config)
}

// superuserSignIn is a script that stores a superuser's sign-in where the
// dashboard keeps it.
func superuserSignIn(t *testing.T, app core.App) string {
	t.Helper()
	token := newSuperuserToken(t, app)
	su, err := app.FindAuthRecordByEmail(core.CollectionNameSuperusers, "admin@pocketclerk.test")
	if err != nil {
		t.Fatal(err)
	}
	auth, _ := json.Marshal(map[string]any{"token": token, "record": su})
	return fmt.Sprintf(`localStorage.setItem("__pb_superusers__/_", %q);`, auth)
}

// openDashboard opens url in a new tab of width × height pixels, signed in.
func openDashboard(t *testing.T, browser context.Context, url, signIn string, width, height int64) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, 2*time.Minute)
	t.Cleanup(cancelTimeout)
	inject := func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, target, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: signIn})
		return chromedp.Void{}, err
	}
	viewport := func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		_, err := cdp.Call(ctx, target, emulation.SetDeviceMetricsOverride, emulation.SetDeviceMetricsOverrideParams{
			Width: width, Height: height, DeviceScaleFactor: 1, Mobile: width < 600,
		})
		return chromedp.Void{}, err
	}
	if err := chromedp.Do(ctx, viewport, inject, chromedp.Navigate(url)); err != nil {
		t.Fatalf("opening the dashboard: %v", err)
	}
	return &tab{t: t, ctx: ctx}
}

func (tb *tab) number(expression string) int {
	tb.t.Helper()
	n, err := chromedp.Run(tb.ctx, chromedp.Evaluate[int](expression))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", expression, err)
	}
	return n
}

func (tb *tab) click(selector string) {
	tb.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](fmt.Sprintf(`(document.querySelector(%q).click(), true)`, selector))); err != nil {
		tb.t.Fatalf("clicking %s: %v", selector, err)
	}
}

// saveElementScreenshot writes the element selector names as name.png into
// screenshotDir, when set.
func saveElementScreenshot(t *testing.T, tb *tab, selector, name string) {
	t.Helper()
	dir := screenshotDir()
	if dir == "" {
		return
	}
	png, err := chromedp.Run(tb.ctx, chromedp.Screenshot(chromedp.CSS(selector)))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
