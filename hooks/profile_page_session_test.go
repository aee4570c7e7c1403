package hooks

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// clerkSession is a script that gives standInClerk's session an active
// organization (none when orgID is empty) and an impersonator (none when
// actor is empty), and lets the test call the page's Clerk listeners, as
// Clerk's SDK does when the active organization changes.
func clerkSession(orgID, orgName, actor string) string {
	org, act := "null", "null"
	if orgID != "" {
		org = fmt.Sprintf(`{id: %q, name: %q, slug: %q}`, orgID, orgName, orgID)
	}
	if actor != "" {
		act = fmt.Sprintf(`{sub: %q}`, actor)
	}
	return fmt.Sprintf(`
window.Clerk.organization = %s;
window.Clerk.session && (window.Clerk.session.actor = %s);
window.Clerk.addListener = (fn) => { (window.clerkListeners ??= []).push(fn); return () => {}; };`, org, act)
}

// The profile page shows the session's active organization and its
// impersonator; when Clerk's active organization changes, the page's
// realtime subscriptions are made again, with a token of the new one.
func TestProfilePageShowsTheSessionAndFollowsItsActiveOrganization(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	key := newSigningKey(t, 0, "ins_key1")
	app := newTestApp(t)
	srv := servePageOf(t, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t)})
	alice := clerkfake.NewUser(userA, "Alice", 1000)
	alice["image_url"] = ""
	deliver(t, srv.URL, "msg_a1", clerkfake.Event(eventUserCreated, alice))
	mustDeliver(t, srv.URL, "msg_m1", pageMembership(eventMembershipCreated, "orgmem_a1", "org_1", "Acme", userA, "org:admin", "", 1000), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_m2", pageMembership(eventMembershipCreated, "orgmem_a2", "org_2", "Globex", userA, "org:member", "", 1000), outcomeCreated)
	token := func(org, actor string) string {
		c := validClaims(userA)
		c["exp"] = time.Now().Add(10 * time.Minute).Unix()
		c["o"] = map[string]any{"id": org, "slg": org, "rol": "admin"}
		if actor != "" {
			c["act"] = map[string]any{"sub": actor}
		}
		return key.sign(t, c)
	}

	tab := openPage(t, browser, srv.URL, standInClerk(userA, token("org_1", "user_support"))+clerkSession("org_1", "Acme", "user_support"))
	tab.waitFor(`document.body.dataset.state === "profile" && !document.getElementById("active-org").hidden && document.getElementById("active-org-name").textContent === "Acme"`)
	tab.waitFor(`!document.getElementById("impersonation").hidden && document.getElementById("impersonator").textContent === "user_support"`)
	waitSubscribedIn(t, app, "org_1")

	switchTo := fmt.Sprintf(`(() => {
  window.Clerk.organization = {id: "org_2", name: "Globex", slug: "org_2"};
  window.Clerk.session.actor = null;
  window.Clerk.session.getToken = async () => %q;
  window.clerkListeners.forEach((fn) => fn({}));
  return true;
})()`, token("org_2", ""))
	if !tab.eval(switchTo) {
		t.Fatal("switching the active organization failed")
	}
	tab.waitFor(`document.getElementById("active-org-name").textContent === "Globex" && document.getElementById("impersonation").hidden`)
	waitSubscribedIn(t, app, "org_2")
	tab.waitFor(`document.body.dataset.state === "profile" && document.querySelectorAll("#section-organizations li").length === 2`)
	// The new connection hears the organizations' changes, and the record's.
	mustDeliver(t, srv.URL, "msg_m3", pageMembership(eventMembershipCreated, "orgmem_a3", "org_3", "Initech", userA, "org:member", "", 2000), outcomeCreated)
	tab.waitFor(`document.querySelectorAll("#section-organizations li").length === 3`)
	alice["first_name"], alice["updated_at"] = "Alicia", 2000
	mustDeliver(t, srv.URL, "msg_a2", clerkfake.Event(eventUserUpdated, alice), outcomeUpdated)
	tab.waitFor(`document.getElementById("name").textContent.startsWith("Alicia")`)
}

// waitSubscribedIn waits until the page's realtime connections, and no
// other, hold subscriptions made in the active organization orgID.
func waitSubscribedIn(t *testing.T, app core.App, orgID string) {
	t.Helper()
	var seen []string
	conns, want := 0, len(ProfilePageTopics(""))
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		seen, conns = nil, 0
		for _, c := range realtimeClients(app) {
			subs := c.Subscriptions() // with the headers that rules read
			if len(subs) > 0 {
				conns++
			}
			for _, options := range subs {
				seen = append(seen, options.Headers["x_clerk_org_id"])
			}
		}
		slices.Sort(seen)
		seen = slices.Compact(seen)
		if slices.Equal(seen, []string{orgID}) && conns == want {
			return
		}
	}
	t.Fatalf("the page's subscriptions were made in %q on %d connections, want %s alone, on %d", seen, conns, orgID, want)
}
