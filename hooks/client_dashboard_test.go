package hooks

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// The clients collection in PocketBase's dashboard, as an admin first sees
// it: people's names, email and phone before how they are synced, and an
// owner's relation to clients shown by name, not by a user_... id.
func TestClientsInTheDashboard(t *testing.T) {
	browser := startBrowser(t)
	app := newTestApp(t)
	srv := serveDashboard(t, app, Config{WebhookSecrets: []string{testSecret}})
	signIn := superuserSignIn(t, app)

	grace := userFixture(t, "oauth-several-emails")
	grace["first_name"], grace["last_name"] = "Grace", "Hopper"
	for i, u := range []map[string]any{
		clerkfake.NewUser(userA, "Alice", 1000),
		clerkfake.NewUser(userB, "Bob", 1000),
		userFixture(t, "phone-only"),
		grace,
	} {
		deliver(t, srv.URL, fmt.Sprintf("msg_%d", i), clerkfake.Event(eventUserCreated, u))
	}
	addPosts(t, app, clientOf(t, app, userA))

	for _, width := range []int64{1440, 390} {
		t.Run(fmt.Sprint(width), func(t *testing.T) {
			tab := openDashboard(t, browser, srv.URL+"/_/#/collections?collection=clients", signIn, width, 844)
			// The count shows before the rows are drawn.
			tab.waitFor(`document.body.innerText.includes("Total: 4") && document.querySelectorAll(".records-table tbody td.col-field-name-id").length === 4`)
			columns, err := chromedp.Run(tab.ctx, chromedp.Evaluate[[]string](`[...document.querySelectorAll(".records-table thead th")].map(th => (th.className.match(/col-field-name-(\S+)/) || [])[1]).filter(Boolean)`))
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"id", "firstName", "lastName", "username", "email", "phone"}
			if len(columns) < len(want) || !slices.Equal(columns[:len(want)], want) {
				t.Fatalf("the list's first columns are %q, want %q", columns, want)
			}
			if rows := tab.text(".records-table tbody"); !strings.Contains(rows, "Alice") || !strings.Contains(rows, "Hopper") {
				t.Fatalf("the names are not in the list: %q", rows)
			}
			saveScreenshot(t, tab, fmt.Sprintf("dashboard-clients-%d", width))

			// A client's panel says which fields are Clerk's.
			alice := clientOf(t, app, userA)
			panel := openDashboard(t, browser, srv.URL+"/_/#/collections?collection=clients&record="+alice.Id, signIn, width, 844)
			panel.waitFor(`document.querySelectorAll(".field-help").length > 0`)
			if help := panel.text("body"); !strings.Contains(help, "Synced from Clerk") {
				t.Fatalf("the record panel does not say which fields are Clerk's: %q", help)
			}
			// Clerk's fields are shown read-only, not refused only on save.
			panel.waitFor(`document.querySelectorAll(".clerk-owned").length > 5`)
			for _, name := range []string{"firstName", "lastName", "clerkId"} {
				if !panel.eval(fmt.Sprintf(`(() => { const i = document.querySelector('.clerk-owned [name=%q]'); return !!i && i.readOnly; })()`, name)) {
					t.Errorf("%s is offered for editing in the record panel", name)
				}
			}
			saveScreenshot(t, panel, fmt.Sprintf("dashboard-client-%d", width))

			posts := openDashboard(t, browser, srv.URL+"/_/#/collections?collection=posts", signIn, width, 844)
			posts.waitFor(`document.body.innerText.includes("Total: 1") && document.querySelector(".records-table tbody td.col-field-name-author") !== null`)
			if author := posts.text(".records-table tbody td.col-field-name-author"); !strings.HasPrefix(author, "AliceExample") {
				t.Fatalf("a post's author shows as %q, want the client's name", author)
			}
		})
	}
}

// screenshotDir is the folder that SCREENSHOTS names (docs/screenshots in
// the repository; a relative path is taken from the repository's root), or
// "" when it is not set.
func screenshotDir() string {
	dir := os.Getenv("SCREENSHOTS")
	if dir != "" && !filepath.IsAbs(dir) {
		dir = filepath.Join("..", dir)
	}
	return dir
}

// saveScreenshot writes the tab as name.png into screenshotDir, when set.
func saveScreenshot(t *testing.T, tb *tab, name string) {
	t.Helper()
	dir := screenshotDir()
	if dir == "" {
		return
	}
	png, err := chromedp.Run(tb.ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, name+".png"), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
