package hooks

import (
	"strings"
	"testing"
	"time"
)

// On a Clerk instance without organizations the Clerk page says so: in the
// configuration, from the last sync, and on the sync's own line, with what
// a prune kept.
func TestClerkPageOnAnInstanceWithoutOrganizations(t *testing.T) {
	browser := startBrowser(t)
	app := newTestApp(t)
	f := newFakeClerkWithOrgs(t, 20, 2, 4)
	config := fakeConfig(f)
	config.WebhookSecrets = []string{testSecret}
	srv := serveDashboard(t, app, config)
	signIn := superuserSignIn(t, app)
	mustSync(t, app, f, syncOptions{})

	// The feature is then turned off in Clerk.
	f.edit(func(f *fakeClerk) { f.OrganizationsDisabled = true })
	ageClients(t, app, 2*time.Minute)
	for width, height := range map[int64]int64{1440: 1400, 390: 2600} {
		tab := openDashboard(t, browser, srv.URL+"/_/#/clerk", signIn, width, height)
		tab.waitFor(`document.getElementById("clerk-status")?.dataset.state === "ready"`)
		tab.click("#clerk-sync-dry-prune")
		tab.waitFor(`document.getElementById("clerk-sync-organizations") !== null && document.getElementById("clerk-sync-last")?.dataset.state === "done"`)
		if s := tab.text("#clerk-sync-organizations"); !strings.Contains(s, "not enabled in this Clerk instance: skipped") {
			t.Fatalf("%d px: the sync's organizations: %q", width, s)
		}
		tab.waitFor(`document.getElementById("clerk-sync-not-pruned") !== null`)
		if s := tab.text("#clerk-sync-not-pruned"); !strings.Contains(s, "the 2 organizations and 4 memberships stored are kept") {
			t.Fatalf("%d px: what the prune kept: %q", width, s)
		}
		tab.waitFor(`[...document.querySelectorAll("#clerk-config li")].some(li => li.textContent.includes("Organizations") && li.textContent.includes("not enabled in this Clerk instance"))`)
		saveScreenshot(t, tab, "clerk-no-organizations-"+map[int64]string{1440: "1440", 390: "390"}[width])
	}
}
