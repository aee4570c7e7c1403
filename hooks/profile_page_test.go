package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
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
	"github.com/pocketbase/pocketbase/tools/subscriptions"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// The profile page in pb_public, driven in headless Chromium against the
// running app. Clerk's servers are out of reach, so each tab gets a
// stand-in window.Clerk whose getToken hands out tokens signed by a test
// key, which the app trusts through CLERK_JWT_KEY.
//
// chromedp drives the browser from Go, so "go test ./..." runs this test
// with the others: no Node, no browser download, only Debian's chromium.
func TestProfilePageInABrowser(t *testing.T) {
	t.Parallel()
	browser := startBrowser(t)
	key := newSigningKey(t, 0, "ins_key1")
	app := newTestApp(t)
	addBioField(t, app)
	srv := servePageOf(t, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t)})
	seed := func(id, name string, updatedAt int64) map[string]any {
		u := clerkfake.NewUser(id, name, updatedAt)
		u["image_url"] = "" // the browser must not leave loopback
		return u
	}
	alice, bob := seed(userA, "Alice", 1000), seed(userB, "Bob", 1000)
	deliver(t, srv.URL, "msg_a1", clerkfake.Event(eventUserCreated, alice))
	deliver(t, srv.URL, "msg_b1", clerkfake.Event(eventUserCreated, bob))

	// A token that outlives the test on a slow machine.
	token := func(sub string) string {
		c := validClaims(sub)
		c["exp"] = time.Now().Add(10 * time.Minute).Unix()
		return key.sign(t, c)
	}

	t.Run("own profile only, updated live", func(t *testing.T) {
		tab := openPage(t, browser, srv.URL, standInClerk(userA, token(userA)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		text := tab.text("#profile")
		for _, want := range []string{"Alice", strings.ToLower(userA) + "@example.org", userA} {
			if !strings.Contains(text, want) {
				t.Fatalf("profile lacks %q:\n%s", want, text)
			}
		}
		for _, leak := range []string{"Bob", userB, "private-of-"} {
			if strings.Contains(tab.text("body"), leak) {
				t.Fatalf("the page shows %q", leak)
			}
		}

		for _, want := range []string{"Verified", "About you", "Member since"} {
			if !strings.Contains(text, want) {
				t.Fatalf("profile lacks %q:\n%s", want, text)
			}
		}

		alice["first_name"], alice["updated_at"] = "Alicia", 2000
		deliver(t, srv.URL, "msg_a2", clerkfake.Event(eventUserUpdated, alice))
		tab.waitFor(`document.getElementById("name").textContent === "Alicia Example"`)
		// The change is highlighted.
		tab.waitFor(`document.getElementById("name").classList.contains("changed")`)
	})

	t.Run("the app's own field is edited in place, Clerk's are not", func(t *testing.T) {
		tab := openPage(t, browser, srv.URL, standInClerk(userB, token(userB)))
		tab.waitFor(`document.body.dataset.state === "profile" && document.getElementById("field-bio") !== null`)
		for _, clerkField := range []string{"field-firstName", "field-email", "field-clerkId", "field-banned"} {
			if tab.eval(fmt.Sprintf(`document.getElementById(%q) !== null`, clerkField)) {
				t.Fatalf("%s is offered for editing", clerkField)
			}
		}
		tab.run(chromedp.SendKeys("#field-bio", "Likes realtime."), chromedp.Click(`#section-details button[type=submit]`))
		tab.waitFor(`document.querySelector("#section-details .form-status").textContent === "Saved"`)
		if bio := clientOf(t, app, userB).GetString("bio"); bio != "Likes realtime." {
			t.Fatalf("bio = %q", bio)
		}
	})

	t.Run("a field the update rule keeps from the user is shown read-only", func(t *testing.T) {
		runJSMigration(t, app, readmeBlock(t, "// pb_migrations/1764900000_client_fields.js"))
		client := clientOf(t, app, userB)
		client.Set("plan", "pro")
		if err := app.Save(client); err != nil {
			t.Fatal(err)
		}
		tab := openPage(t, browser, srv.URL, standInClerk(userB, token(userB)))
		tab.waitFor(`document.body.dataset.state === "profile" && document.getElementById("field-plan") !== null`)
		if !tab.eval(`document.getElementById("field-plan").tagName === "P" && document.getElementById("field-plan").textContent === "pro"`) {
			t.Fatalf("plan is not shown read-only: %s", tab.text("#section-details"))
		}
		if !tab.eval(`document.getElementById("field-welcomedAt").tagName === "P" && document.getElementById("field-nickname").tagName === "INPUT" && document.getElementById("field-bio").tagName === "TEXTAREA"`) {
			t.Fatalf("welcomedAt read-only, nickname and bio editable: %s", tab.text("#section-details"))
		}
		tab.run(chromedp.SendKeys("#field-nickname", "Bobby"), chromedp.Click(`#section-details button[type=submit]`))
		tab.waitFor(`document.querySelector("#section-details .form-status").textContent === "Saved"`)
		if c := clientOf(t, app, userB); c.GetString("nickname") != "Bobby" || c.GetString("plan") != "pro" {
			t.Fatalf("nickname %q, plan %q after saving", c.GetString("nickname"), c.GetString("plan"))
		}
	})

	t.Run("a user without a name is shown by phone, and a failed avatar by initials", func(t *testing.T) {
		phoneOnly := userFixture(t, "phone-only")
		deliver(t, srv.URL, "msg_phone_only", clerkfake.Event(eventUserCreated, phoneOnly))
		id := phoneOnly["id"].(string)
		tab := openPage(t, browser, srv.URL, standInClerk(id, token(id)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		if name := tab.text("#name"); name != "+15555550142" {
			t.Fatalf("heading %q, want the phone number", name)
		}
		// img.clerk.com does not resolve here: the image fails, the initials show.
		tab.waitFor(`document.getElementById("avatar").hidden && document.getElementById("initials").textContent !== ""`)
	})

	t.Run("fits a phone: nothing scrolls sideways", func(t *testing.T) {
		grace := userFixture(t, "oauth-several-emails")
		grace["email_addresses"].([]any)[0].(map[string]any)["email_address"] = "a.very.long.address.that.would.overflow.a.phone@subdomain.example.com"
		grace["public_metadata"] = map[string]any{"favouriteUrl": "https://example.com/" + strings.Repeat("long-path-segment/", 8)}
		deliver(t, srv.URL, "msg_grace", clerkfake.Event(eventUserCreated, grace))
		id := grace["id"].(string)
		longName := "The " + strings.Repeat("Extraordinarily", 4) + " Long Organization Name Foundation"
		mustDeliver(t, srv.URL, "msg_m_grace", pageMembership(eventMembershipCreated, "orgmem_grace_long", "org_page_long", longName, id, "org:admin", "Administrator of everything", 1000), outcomeCreated)
		tab := openPage(t, browser, srv.URL, standInClerk(id, token(id)))
		for _, width := range []int64{390, 1440} {
			tab.run(chromedp.EmulateViewport(width, 844))
			tab.waitFor(`document.body.dataset.state === "profile"`)
			tab.waitOrgs(longName + " · Administrator of everything")
			if !tab.eval(`document.documentElement.scrollWidth <= window.innerWidth`) {
				t.Fatalf("at %d px the page scrolls sideways", width)
			}
		}
	})

	t.Run("a refusal says why and offers a way out", func(t *testing.T) {
		for reason, want := range map[string]string{
			"banned":      "suspended",
			"deleted":     "deleted",
			"expired":     "expired",
			"unknown-key": "CLERK_JWT_KEY",
			"wrong-party": "CLERK_AUTHORIZED_PARTIES",
		} {
			tab := openPage(t, browser, srv.URL, standInClerk(userA, "refuse-"+reason))
			tab.waitFor(`document.body.dataset.state === "error"`)
			if s := tab.text("#status"); !strings.Contains(s, want) {
				t.Fatalf("%s: status %q lacks %q", reason, s, want)
			}
			if !tab.eval(`!document.getElementById("actions").hidden && !document.getElementById("sign-out").hidden`) {
				t.Fatalf("%s: no retry or sign-out", reason)
			}
			// A ban or a deletion ends the profile for good, whichever the
			// page hears of first: the change, or a read it refuses.
			if reason == "banned" || reason == "deleted" {
				tab.eval(`render({id: "x", updated: "9999-12-31 00:00:00.000Z", firstName: "Ghost"}), true`)
				if !tab.eval(`document.body.dataset.state === "error" && getComputedStyle(document.getElementById("profile")).display === "none"`) {
					t.Fatalf("%s: a read still in flight brings the profile back", reason)
				}
			}
		}
	})

	t.Run("the page opens the realtime connections that ProfilePageTopics names", func(t *testing.T) {
		// The bench holds ProfilePageTopics for each open page: it must be
		// what the page subscribes to.
		var mu sync.Mutex
		last := map[string][]string{} // by connection: its latest subscription
		app.OnRealtimeSubscribeRequest().BindFunc(func(e *core.RealtimeSubscribeRequestEvent) error {
			if isClient(e.Auth) && e.Auth.GetString(migrations.FieldClerkID) == userA {
				mu.Lock()
				last[e.Client.Id()] = slices.Sorted(slices.Values(e.Subscriptions))
				mu.Unlock()
			}
			return e.Next()
		})
		tab := openPage(t, browser, srv.URL, standInClerk(userA, token(userA)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		var want []string
		for _, topics := range ProfilePageTopics(clientOf(t, app, userA).Id) {
			want = append(want, strings.Join(slices.Sorted(slices.Values(topics)), " "))
		}
		slices.Sort(want)
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(50 * time.Millisecond) {
			mu.Lock()
			var got []string
			for _, topics := range last {
				got = append(got, strings.Join(topics, " "))
			}
			mu.Unlock()
			slices.Sort(got)
			if slices.Equal(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the page's connections subscribe to %q, ProfilePageTopics names %q", got, want)
			}
		}
	})

	t.Run("the user's organizations and roles, live, without the other members'", func(t *testing.T) {
		const carol, dave = "user_2pagecarolxxxxxxxxxxxxxxxx", "user_2pagedavexxxxxxxxxxxxxxxxx"
		deliver(t, srv.URL, "msg_carol", clerkfake.Event(eventUserCreated, seed(carol, "Carol", 1000)))
		deliver(t, srv.URL, "msg_dave", clerkfake.Event(eventUserCreated, seed(dave, "Dave", 1000)))
		mustDeliver(t, srv.URL, "msg_m_carol_acme", pageMembership(eventMembershipCreated, "orgmem_carol_acme", "org_page_acme", "Acme Corp", carol, "org:admin", "", 1000), outcomeCreated)
		globex := pageMembership(eventMembershipCreated, "orgmem_carol_globex", "org_page_globex", "Globex", carol, "org:member", "Member", 1000)
		globex = withOrgImage(t, globex, "https://img.clerk.com/globex") // out of reach here: the image fails
		mustDeliver(t, srv.URL, "msg_m_carol_globex", globex, outcomeCreated)
		mustDeliver(t, srv.URL, "msg_m_dave_acme", pageMembership(eventMembershipCreated, "orgmem_dave_acme", "org_page_acme", "Acme Corp", dave, "org:member", "Member", 1000), outcomeCreated)

		tab := openPage(t, browser, srv.URL, standInClerk(carol, token(carol)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		tab.waitOrgs("Acme Corp · Admin", "Globex · Member")
		// A failed organization image leaves its initials.
		tab.waitFor(orgRow("Globex") + `.querySelector("img").hidden && ` + orgRow("Globex") + `.querySelector(".org-initials").textContent === "GL"`)
		if tab.eval(fmt.Sprintf(`document.querySelector('#section-organizations li[data-id=%q]') !== null`, membershipOf(t, app, "orgmem_dave_acme").Id)) {
			t.Fatal("another member's membership is listed")
		}

		// A new membership, with a role that has no name, shows up highlighted.
		mustDeliver(t, srv.URL, "msg_m_carol_initech", pageMembership(eventMembershipCreated, "orgmem_carol_initech", "org_page_initech", "Initech", carol, "org:billing_manager", "", 1000), outcomeCreated)
		tab.waitOrgs("Acme Corp · Admin", "Globex · Member", "Initech · Billing manager")
		tab.waitFor(orgRow("Initech") + `.classList.contains("changed")`)

		// So does a role change.
		mustDeliver(t, srv.URL, "msg_m_carol_globex2", pageMembership(eventMembershipUpdated, "orgmem_carol_globex", "org_page_globex", "Globex", carol, "org:admin", "", 2000), outcomeUpdated)
		tab.waitOrgs("Acme Corp · Admin", "Globex · Admin", "Initech · Billing manager")
		tab.waitFor(orgRow("Globex") + `.classList.contains("changed")`)

		// Another member joins one of the user's organizations, then that
		// organization is renamed: the rename shows, the other member does not.
		mustDeliver(t, srv.URL, "msg_m_dave_globex", pageMembership(eventMembershipCreated, "orgmem_dave_globex", "org_page_globex", "Globex", dave, "org:member", "Member", 2000), outcomeCreated)
		rename := orgEventBody(t, eventOrganizationUpdated, func(o map[string]any) {
			o["id"], o["slug"], o["name"], o["image_url"], o["updated_at"] = "org_page_acme", "org_page_acme", "Acme Corporation", "", 3000
		})
		mustDeliver(t, srv.URL, "msg_o_acme_renamed", rename, outcomeUpdated)
		tab.waitOrgs("Acme Corporation · Admin", "Globex · Admin", "Initech · Billing manager")
		tab.waitFor(orgRow("Acme Corporation") + `.classList.contains("changed")`)
		time.Sleep(300 * time.Millisecond) // for a stray event
		tab.waitOrgs("Acme Corporation · Admin", "Globex · Admin", "Initech · Billing manager")

		// Leaving an organization takes it off the list.
		mustDeliver(t, srv.URL, "msg_m_carol_initech_gone", pageMembership(eventMembershipDeleted, "orgmem_carol_initech", "org_page_initech", "Initech", carol, "org:billing_manager", "", 3000), outcomeDeleted)
		tab.waitOrgs("Acme Corporation · Admin", "Globex · Admin")
	})

	t.Run("after its connection drops, the page reconnects and shows what changed meanwhile", func(t *testing.T) {
		const grace = "user_2pagegracexxxxxxxxxxxxxxxx"
		mustDeliver(t, srv.URL, "msg_reconnect_grace", clerkfake.Event(eventUserCreated, seed(grace, "Grace", 1000)), outcomeCreated)
		mustDeliver(t, srv.URL, "msg_reconnect_m_grace_acme", pageMembership(eventMembershipCreated, "orgmem_grace_acme", "org_page_hooli", "Hooli", grace, "org:admin", "", 1000), outcomeCreated)
		tab := openPage(t, browser, srv.URL, standInClerk(grace, token(grace)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		tab.waitOrgs("Hooli · Admin")
		record := clientOf(t, app, grace)
		before := pageConnections(t, app, record)

		// The server ends the connection, and the changes come while the
		// page has none.
		for _, c := range before {
			c.Discard()
		}
		waitFor(t, "the page's connection ended", func() bool { return len(pageConnections(t, app, record)) == 0 })
		mustDeliver(t, srv.URL, "msg_reconnect_grace_renamed", clerkfake.Event(eventUserUpdated, seed(grace, "Gracie", 2000)), outcomeUpdated)
		mustDeliver(t, srv.URL, "msg_reconnect_m_grace_globex", pageMembership(eventMembershipCreated, "orgmem_grace_globex", "org_page_umbrella", "Umbrella", grace, "org:member", "Member", 2000), outcomeCreated)

		// EventSource reconnects; the page subscribes again, reads again,
		// and highlights what changed.
		tab.waitFor(`document.getElementById("name").textContent.startsWith("Gracie")`)
		tab.waitOrgs("Hooli · Admin", "Umbrella · Member")
		tab.waitFor(orgRow("Umbrella") + `.classList.contains("changed")`)
		after := pageConnections(t, app, record)
		if len(after) != len(ProfilePageTopics(record.Id)) || after[0].Id() == before[0].Id() {
			t.Fatalf("after the reconnection the page holds %d connections (want %d, new)", len(after), len(ProfilePageTopics(record.Id)))
		}
		// And hears the next change live.
		mustDeliver(t, srv.URL, "msg_reconnect_m_grace_globex2", pageMembership(eventMembershipUpdated, "orgmem_grace_globex", "org_page_umbrella", "Umbrella", grace, "org:admin", "", 3000), outcomeUpdated)
		tab.waitOrgs("Hooli · Admin", "Umbrella · Admin")
	})

	t.Run("the user's plan and each organization's, live", func(t *testing.T) {
		const ivy = "user_2pageivyxxxxxxxxxxxxxxxxxx"
		deliver(t, srv.URL, "msg_ivy", clerkfake.Event(eventUserCreated, seed(ivy, "Ivy", 1000)))
		mustDeliver(t, srv.URL, "msg_m_ivy_acme", pageMembership(eventMembershipCreated, "orgmem_ivy_acme", "org_plan_acme", "Acme Corp", ivy, "org:member", "Member", 1000), outcomeCreated)
		mustDeliver(t, srv.URL, "msg_m_ivy_globex", pageMembership(eventMembershipCreated, "orgmem_ivy_globex", "org_plan_globex", "Globex", ivy, "org:admin", "", 1000), outcomeCreated)
		pro := storePlan(t, app, "pro", "user", "export")
		team := storePlan(t, app, "team", "org", "teams")
		renews := time.Now().AddDate(0, 0, 20)
		ivyItem := storeItem(t, app, clientOf(t, app, ivy), pro, "active", renews)
		acmeItem := storeItem(t, app, orgOf(t, app, "org_plan_acme"), team, "active", renews)
		// Another user's plan, and the plan of an organization Ivy is not
		// in: none of hers to see.
		storeItem(t, app, clientOf(t, app, userB), storePlan(t, app, "max", "user", "export"), "active", renews)
		mustDeliver(t, srv.URL, "msg_m_bob_initech", pageMembership(eventMembershipCreated, "orgmem_bob_initech", "org_plan_initech", "Initech", userB, "org:admin", "", 1000), outcomeCreated)
		storeItem(t, app, orgOf(t, app, "org_plan_initech"), storePlan(t, app, "enterprise", "org", "sso"), "active", renews)

		// dateShown is how the page writes a date: Chromium's en-US.
		dateShown := func(d time.Time) string { return d.Local().Format("January 2, 2006") }
		planCard := `(document.querySelector("#section-plan:not([hidden]) .card-body")?.textContent ?? "")`
		orgPlan := func(name string) string { return "(" + orgRow(name) + `?.querySelector(".org-plan").textContent)` }
		tab := openPage(t, browser, srv.URL, standInClerk(ivy, token(ivy)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		tab.waitFor(fmt.Sprintf(`%s === %q`, planCard, "PlanPro ActiveRenews on"+dateShown(renews)))
		tab.waitOrgs("Acme Corp · Member", "Globex · Admin")
		tab.waitFor(fmt.Sprintf(`%s === %q && %s === ""`, orgPlan("Acme Corp"), "Team plan · renews on "+dateShown(renews), orgPlan("Globex")))
		if !tab.eval(`[...subscriptionItems.values()].map((i) => i.planSlug).sort().join() === "pro,team"`) {
			t.Fatalf("the page holds other payers' items: %s", tab.text("#sections"))
		}
		// The items' topic, a record topic, keeps the connection in the
		// server's realtime index (which indexes a topic without its options).
		index := realtimeIndexOf(app)
		for deadline := time.Now().Add(10 * time.Second); index.Stats().Topics[migrations.SubscriptionItemsCollection+"/*"] == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the connection subscribed to the subscription items is not in the realtime index")
			}
		}

		// Ivy cancels: her plan is kept until the period's end, and says so.
		changeItem(t, app, ivyItem, "canceled", renews)
		tab.waitFor(fmt.Sprintf(`%s === %q`, planCard, "PlanPro CanceledEnds on"+dateShown(renews)))
		tab.waitFor(`document.querySelector('#section-plan dd[data-key="plan"]').classList.contains("changed")`)
		// With the free plan to follow, the card names it.
		free := storeItem(t, app, clientOf(t, app, ivy), storePlan(t, app, "free_user", "user"), "upcoming", renews.AddDate(0, 1, 0))
		free.Set(migrations.FieldPeriodStart, renews)
		if err := app.Save(free); err != nil {
			t.Fatal(err)
		}
		tab.waitFor(fmt.Sprintf(`%s === %q`, planCard, "PlanPro CanceledEnds on"+dateShown(renews)+"ThenFree user, from "+dateShown(renews)))

		// The period ends while the page is open: no event says so, the page does.
		changeItem(t, app, ivyItem, "canceled", time.Now().Add(2*time.Second))
		tab.waitFor(fmt.Sprintf(`(%s).startsWith("PlanPro Canceled")`, planCard))
		tab.waitFor(fmt.Sprintf(`%s === "PlanYou have no plan at the moment."`, planCard))

		// A free trial of Pro, then its payment fails.
		trial := storeItem(t, app, clientOf(t, app, ivy), pro, "active", renews)
		trial.Set(migrations.FieldIsFreeTrial, true)
		if err := app.Save(trial); err != nil {
			t.Fatal(err)
		}
		tab.waitFor(fmt.Sprintf(`%s === %q`, planCard, "PlanPro Free trialTrial ends on"+dateShown(renews)))
		changeItem(t, app, trial, "past_due", renews)
		tab.waitFor(fmt.Sprintf(`%s === %q`, planCard, "PlanPro Past duePaymentPast due: update your payment method to keep your plan."))

		// The organizations' plans: Acme's payment fails, Globex subscribes.
		changeItem(t, app, acmeItem, "past_due", renews)
		tab.waitFor(fmt.Sprintf(`%s === "Team plan · payment past due"`, orgPlan("Acme Corp")))
		storeItem(t, app, orgOf(t, app, "org_plan_globex"), team, "canceled", renews)
		tab.waitFor(fmt.Sprintf(`%s === %q`, orgPlan("Globex"), "Team plan · ends on "+dateShown(renews)))
		tab.waitFor(orgRow("Globex") + `.classList.contains("changed")`)
		// Its item deleted (the organization's subscription removed): no plan line.
		if err := app.Delete(acmeItem); err != nil {
			t.Fatal(err)
		}
		tab.waitFor(fmt.Sprintf(`%s === ""`, orgPlan("Acme Corp")))
	})

	t.Run("no plan card without Clerk Billing", func(t *testing.T) {
		tab := openPage(t, browser, srv.URL, standInClerk(userA, token(userA)))
		tab.waitFor(`document.body.dataset.state === "profile" && subscriptionItems !== null`)
		if !tab.eval(`document.getElementById("section-plan").hidden`) {
			t.Fatalf("a user without any subscription item sees a plan card: %s", tab.text("#section-plan"))
		}
	})

	t.Run("no organization, then one, live", func(t *testing.T) {
		const erin = "user_2pageerinxxxxxxxxxxxxxxxxx"
		deliver(t, srv.URL, "msg_erin", clerkfake.Event(eventUserCreated, seed(erin, "Erin", 1000)))
		tab := openPage(t, browser, srv.URL, standInClerk(erin, token(erin)))
		tab.waitFor(`document.querySelector("#section-organizations .card-body")?.textContent === "You are not a member of any organization."`)
		mustDeliver(t, srv.URL, "msg_m_erin", pageMembership(eventMembershipCreated, "orgmem_erin_acme", "org_page_acme", "Acme Corp", erin, "org:member", "Member", 4000), outcomeCreated)
		tab.waitOrgs("Acme Corp · Member")
		tab.waitFor(orgRow("Acme Corp") + `.classList.contains("changed")`)
	})

	// endedLive waits for the page to end the profile for reason, with
	// want in its message, its realtime connection closed, and nothing
	// able to bring the profile back.
	endedLive := func(t *testing.T, tab *tab, reason, want string) {
		t.Helper()
		tab.waitFor(fmt.Sprintf(`document.body.dataset.state === "error" && document.body.dataset.reason === %q`, reason))
		if s := tab.text("#status"); !strings.Contains(s, want) {
			t.Fatalf("status %q lacks %q", s, want)
		}
		if !tab.eval(`!document.getElementById("actions").hidden && !document.getElementById("retry").hidden && !document.getElementById("sign-out").hidden`) {
			t.Fatal("no retry or sign-out")
		}
		if !tab.eval(`realtime === null`) {
			t.Fatal("a realtime connection is still open")
		}
		// As a read still in flight would.
		tab.eval(`render({id: "x", updated: "9999-12-31 00:00:00.000Z", firstName: "Ghost"}), true`)
		if !tab.eval(`document.body.dataset.state === "error" && getComputedStyle(document.getElementById("profile")).display === "none"`) {
			t.Fatal("the profile came back")
		}
	}

	t.Run("a ban while the page is open ends it", func(t *testing.T) {
		const frank = "user_2pagefrankxxxxxxxxxxxxxxxx"
		u := seed(frank, "Frank", 1000)
		deliver(t, srv.URL, "msg_frank", clerkfake.Event(eventUserCreated, u))
		mustDeliver(t, srv.URL, "msg_m_frank", pageMembership(eventMembershipCreated, "orgmem_frank_acme", "org_page_acme", "Acme Corp", frank, "org:member", "Member", 5000), outcomeCreated)
		tab := openPage(t, browser, srv.URL, standInClerk(frank, token(frank)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		tab.waitOrgs("Acme Corp · Member")
		u["banned"], u["updated_at"] = true, 2000
		mustDeliver(t, srv.URL, "msg_frank_banned", clerkfake.Event(eventUserUpdated, u), outcomeUpdated)
		endedLive(t, tab, "banned", "suspended")
	})

	t.Run("a deletion while the page is open ends it", func(t *testing.T) {
		const grete = "user_2pagegretexxxxxxxxxxxxxxxx"
		deliver(t, srv.URL, "msg_grete", clerkfake.Event(eventUserCreated, seed(grete, "Grete", 1000)))
		tab := openPage(t, browser, srv.URL, standInClerk(grete, token(grete)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		mustDeliver(t, srv.URL, "msg_grete_deleted", userDeletedEvent(grete, 2000), outcomeDeleted)
		endedLive(t, tab, "deleted", "deleted")
	})

	t.Run("an anonymization while the page is open ends it", func(t *testing.T) {
		const hal = "user_2pagehalxxxxxxxxxxxxxxxxxx"
		deliver(t, srv.URL, "msg_hal", clerkfake.Event(eventUserCreated, seed(hal, "Hal", 1000)))
		tab := openPage(t, browser, srv.URL, standInClerk(hal, token(hal)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		// A post of Hal's holds the client: its deletion anonymizes it.
		addPosts(t, app, clientOf(t, app, hal))
		mustDeliver(t, srv.URL, "msg_hal_deleted", userDeletedEvent(hal, 2000), outcomeAnonymized)
		endedLive(t, tab, "deleted", "deleted")
	})

	t.Run("waiting, then the profile when the webhook lands", func(t *testing.T) {
		tab := openPage(t, browser, srv.URL, standInClerk(newcomer, token(newcomer))+"window.pocketClerkWaitPatience = 1500;")
		tab.waitFor(`document.body.dataset.state === "waiting"`)
		if s := tab.text("#status"); !strings.Contains(s, "Waiting") {
			t.Fatalf("waiting status: %q", s)
		}
		tab.waitFor(`/^\d+ s$/.test(document.getElementById("wait-time").textContent)`)
		// A wait past its patience says so and offers a retry.
		tab.waitFor(`!document.getElementById("actions").hidden && document.getElementById("status").textContent.includes("longer than usual")`)

		nina := seed(newcomer, "Nina", 1000)
		deliver(t, srv.URL, "msg_n1", clerkfake.Event(eventUserCreated, nina))
		tab.waitFor(`document.body.dataset.state === "profile" && document.getElementById("name").textContent === "Nina Example"`)
		// The page's connection moves to the record's own topic, which the
		// server serves from its index.
		own := realtimeIndexOf(app)
		for deadline := time.Now().Add(10 * time.Second); indexedUnder(own, "clients/"+clientOf(t, app, newcomer).Id) == 0; time.Sleep(50 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the page's connection did not move to its record's own topic")
			}
		}

		nina["first_name"], nina["updated_at"] = "Nina Live", 2000
		deliver(t, srv.URL, "msg_n2", clerkfake.Event(eventUserUpdated, nina))
		tab.waitFor(`document.getElementById("name").textContent === "Nina Live Example"`)
	})

	t.Run("signed out", func(t *testing.T) {
		tab := openPage(t, browser, srv.URL, standInClerk("", ""))
		tab.waitFor(`document.body.dataset.state === "signed-out"`)
		if s := tab.text("#sign-in"); s != "stand-in sign-in" {
			t.Fatalf("sign-in was not mounted: %q", s)
		}
	})

	t.Run("refused token is an error, not waiting", func(t *testing.T) {
		forged := newSigningKey(t, 1, "ins_key1").sign(t, validClaims(userA))
		tab := openPage(t, browser, srv.URL, standInClerk(userA, forged))
		tab.waitFor(`document.body.dataset.state === "error"`)
		if s := tab.text("#status"); !strings.Contains(s, "refused") {
			t.Fatalf("error status: %q", s)
		}
	})

	t.Run("publishable key loads clerk-js from the Frontend API", func(t *testing.T) {
		// pk_test_ + base64("pocketclerk.clerk.accounts.dev$"); that host is
		// out of reach here, so the page must say that Clerk did not load.
		configured := servePage(t, Config{PublishableKey: "pk_test_cG9ja2V0Y2xlcmsuY2xlcmsuYWNjb3VudHMuZGV2JA"})
		tab := openPage(t, browser, configured.URL, "")
		tab.waitFor(`document.body.dataset.state === "error"`)
		src, err := chromedp.Run(tab.ctx, chromedp.Evaluate[string](`document.querySelector("script[data-clerk-publishable-key]").src`))
		if want := "https://pocketclerk.clerk.accounts.dev/npm/@clerk/clerk-js@5.128.0/dist/clerk.browser.js"; err != nil || src != want {
			t.Fatalf("clerk-js from %q (%v), want %q", src, err, want)
		}
		if !tab.eval(`document.querySelector("script[data-clerk-publishable-key]").integrity.startsWith("sha384-")`) {
			t.Fatal("clerk-js is loaded without an integrity hash")
		}
		if s := tab.text("#status"); !strings.Contains(s, "did not load") {
			t.Fatalf("error status: %q", s)
		}
	})

	t.Run("not configured", func(t *testing.T) {
		tab := openPage(t, browser, srv.URL, "") // no stand-in, no publishable key
		tab.waitFor(`document.body.dataset.state === "not-configured"`)
		// A first page, not an error: the three keys together, and the way
		// to the dashboard.
		setup := tab.text("#setup")
		for _, want := range []string{"PocketClerk is running", "CLERK_PUBLISHABLE_KEY", "CLERK_SECRET_KEY", "CLERK_WEBHOOK_SECRET", "Connect Clerk"} {
			if !strings.Contains(setup, want) {
				t.Fatalf("the first page lacks %q: %q", want, setup)
			}
		}
		if !tab.eval(`getComputedStyle(document.getElementById("notice")).display === "none" && document.querySelector('#setup a[href="/_/"]') !== null && document.querySelector('#setup a[href="/_/#/clerk"]') !== null`) {
			t.Fatal("the first page shows an error box, or no link to the dashboard")
		}
	})

	t.Run("initials are the first and last names' first letters", func(t *testing.T) {
		const lin = "user_2pagelinxxxxxxxxxxxxxxxxxx"
		u := seed(lin, "Ada", 1000)
		u["last_name"] = "Lovelace"
		deliver(t, srv.URL, "msg_lin", clerkfake.Event(eventUserCreated, u))
		tab := openPage(t, browser, srv.URL, standInClerk(lin, token(lin)))
		tab.waitFor(`document.body.dataset.state === "profile"`)
		if got := tab.text("#initials"); got != "AL" {
			t.Fatalf("initials of Ada Lovelace: %q", got)
		}
	})

	t.Run("a deleted account leads with Sign out", func(t *testing.T) {
		tab := openPage(t, browser, srv.URL, standInClerk(userA, "refuse-deleted"))
		tab.waitFor(`document.body.dataset.state === "error"`)
		if !tab.eval(`(() => {
			const [first] = [...document.querySelectorAll("#actions button")].filter((b) => !b.hidden)
				.sort((a, b) => a.getBoundingClientRect().left - b.getBoundingClientRect().left);
			return first.id === "sign-out" && !first.classList.contains("secondary") && document.getElementById("retry").classList.contains("secondary");
		})()`) {
			t.Fatal("Sign out does not lead on a deleted account")
		}
	})
}

// pageMembership is an organizationMembership event of user in the
// organization orgID named orgName, with role and roleName (empty: none),
// both dated updated.
func pageMembership(typ, id, orgID, orgName, userID, role, roleName string, updated int64) []byte {
	m := clerkfake.NewMembership(id, orgID, userID, role, updated)
	m["role_name"] = roleName
	org := m["organization"].(map[string]any)
	org["name"], org["updated_at"] = orgName, updated
	org["image_url"], org["has_image"] = "", false // the browser must not leave loopback
	return clerkfake.Event(typ, m)
}

// withOrgImage is a membership event whose organization has image url.
func withOrgImage(t *testing.T, body []byte, url string) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatal(err)
	}
	org := env["data"].(map[string]any)["organization"].(map[string]any)
	org["image_url"], org["has_image"] = url, true
	b, _ := json.Marshal(env)
	return b
}

// pageConnections are the open realtime connections signed in as record.
func pageConnections(t *testing.T, app core.App, record *core.Record) []subscriptions.Client {
	t.Helper()
	var out []subscriptions.Client
	for _, c := range realtimeClients(app) {
		if auth, _ := c.Get(apis.RealtimeClientAuthKey).(*core.Record); auth != nil && auth.Id == record.Id && !c.IsDiscarded() {
			out = append(out, c)
		}
	}
	return out
}

// orgRow is the expression of the organizations card's row of name.
func orgRow(name string) string {
	return fmt.Sprintf(`[...document.querySelectorAll("#section-organizations li")].find((li) => li.querySelector(".org-name").textContent === %q)`, name)
}

// waitOrgs waits until the organizations card lists exactly rows
// ("name · role"), in that order.
func (tb *tab) waitOrgs(rows ...string) {
	tb.t.Helper()
	want, _ := json.Marshal(strings.Join(rows, "\n"))
	tb.waitFor(fmt.Sprintf(`[...document.querySelectorAll("#section-organizations li")].map((li) => li.querySelector(".org-name").textContent + " · " + li.querySelector(".org-role").textContent).join("\n") === %s`, want))
}

// servePage serves a new app with pb_public at /, as main.go serves its
// embedded copy.
func servePage(t *testing.T, config Config) *httptest.Server {
	t.Helper()
	return servePageOf(t, newTestApp(t), config)
}

// servePageOf serves app with pb_public at /. A request whose token is
// "refuse-<reason>" is answered as the session middleware answers a
// refused session, with that reason, so that the page's messages can be
// seen for every reason.
func servePageOf(t *testing.T, app core.App, config Config) *httptest.Server {
	t.Helper()
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.BindFunc(func(e *core.RequestEvent) error {
			if reason, ok := strings.CutPrefix(e.Request.Header.Get("Authorization"), "Bearer refuse-"); ok {
				e.Response.Header().Set(SessionStatusHeader, "refused")
				e.Response.Header().Set(SessionStatusHeader+"-Reason", reason)
			}
			return e.Next()
		})
		se.Router.GET("/{path...}", apis.Static(os.DirFS("../pb_public"), false))
		return se.Next()
	})
	return serve(t, app, config)
}

// standInClerk is the part of Clerk's browser SDK that the page uses, for
// userID (signed out when empty).
func standInClerk(userID, token string) string {
	user, session := "null", "null"
	if userID != "" {
		user = fmt.Sprintf(`{id: %q}`, userID)
		session = fmt.Sprintf(`{getToken: async () => %q}`, token)
	}
	return fmt.Sprintf(`window.Clerk = {
  user: %s,
  session: %s,
  load: async () => {},
  addListener: () => () => {},
  mountSignIn: (el) => { el.textContent = "stand-in sign-in"; },
  unmountSignIn: () => {},
  mountUserButton: () => {},
  unmountUserButton: () => {},
  signOut: async () => { window.Clerk.user = null; window.Clerk.session = null; },
};`, user, session)
}

// startBrowser starts headless Chromium for the test. Without one the test
// is skipped, except under CI=true, where it fails.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	var path string
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			path = p
			break
		}
	}
	if path == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("no Chromium found, and CI=true requires the browser test: apt-get install -y chromium")
		}
		t.Skip("no Chromium found (apt-get install -y chromium); skipping the browser test")
	}

	opts := append(chromedp.DefaultExecAllocatorOptions[:],
		chromedp.ExecPath(path),
		chromedp.Headless,
		chromedp.NoSandbox, // root in a container has no user namespaces
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		// Nothing but loopback resolves: the page must not reach the internet.
		chromedp.Flag("host-resolver-rules", "MAP * ~NOTFOUND, EXCLUDE 127.0.0.1"),
		chromedp.UserDataDir(t.TempDir()),
	)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(allocCtx)
	t.Cleanup(func() { cancel(); cancelAlloc() })
	if err := chromedp.Do(ctx); err != nil { // starts the browser
		t.Fatalf("starting %s: %v", path, err)
	}
	return ctx
}

// tab is one browser tab showing the profile page.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// openPage opens baseURL in a new tab, running script before the page's own.
func openPage(t *testing.T, browser context.Context, baseURL, script string) *tab {
	t.Helper()
	ctx, cancel := chromedp.NewContext(browser)
	t.Cleanup(cancel)
	ctx, cancelTimeout := context.WithTimeout(ctx, time.Minute)
	t.Cleanup(cancelTimeout)
	inject := func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
		if script == "" {
			return chromedp.Void{}, nil
		}
		_, err := cdp.Call(ctx, target, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: script})
		return chromedp.Void{}, err
	}
	if err := chromedp.Do(ctx, inject, chromedp.Navigate(baseURL+"/")); err != nil {
		t.Fatalf("opening the page: %v", err)
	}
	return &tab{t: t, ctx: ctx}
}

// waitFor waits until the JavaScript condition holds.
func (tb *tab) waitFor(condition string) {
	tb.t.Helper()
	if _, err := chromedp.Run(tb.ctx, chromedp.Poll[bool](condition, chromedp.WithPollingTimeout(20*time.Second))); err != nil {
		state, _ := chromedp.Run(tb.ctx, chromedp.Evaluate[string](`document.body.dataset.state + ": " + document.body.innerText`))
		tb.t.Fatalf("waiting for %s: %v\npage: %s", condition, err, state)
	}
}

func (tb *tab) eval(expression string) bool {
	tb.t.Helper()
	ok, err := chromedp.Run(tb.ctx, chromedp.Evaluate[bool](expression))
	if err != nil {
		tb.t.Fatalf("evaluating %s: %v", expression, err)
	}
	return ok
}

func (tb *tab) run(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	if err := chromedp.Do(tb.ctx, actions...); err != nil {
		tb.t.Fatal(err)
	}
}

func (tb *tab) text(selector string) string {
	tb.t.Helper()
	s, err := chromedp.Run(tb.ctx, chromedp.Evaluate[string](fmt.Sprintf(`document.querySelector(%q).textContent`, selector)))
	if err != nil {
		tb.t.Fatalf("reading %s: %v", selector, err)
	}
	return s
}

// TestProfilePageScreenshots writes the page's states at phone and desktop
// width into the folder SCREENSHOTS names (see screenshotDir); without it,
// the test is skipped.
func TestProfilePageScreenshots(t *testing.T) {
	dir := screenshotDir()
	if dir == "" {
		t.Skip("set SCREENSHOTS to a folder to write the screenshots")
	}
	browser := startBrowser(t)
	key := newSigningKey(t, 0, "ins_key1")
	app := newTestApp(t)
	addBioField(t, app)
	srv := servePageOf(t, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t)})
	grace := userFixture(t, "oauth-several-emails")
	graceID := grace["id"].(string)
	grace["first_name"], grace["last_name"], grace["image_url"] = "Grace", "Hopper", ""
	grace["public_metadata"] = map[string]any{"plan": "team", "role": "editor"}
	deliver(t, srv.URL, "msg_grace", clerkfake.Event(eventUserCreated, grace))
	// The README's fields of the owner's: a nickname Grace edits, a plan she cannot.
	runJSMigration(t, app, readmeBlock(t, "// pb_migrations/1764900000_client_fields.js"))
	client := clientOf(t, app, graceID)
	client.Set("bio", "Compilers, COBOL and the first bug.")
	client.Set("nickname", "Amazing Grace")
	client.Set("plan", "pro")
	if err := app.Save(client); err != nil {
		t.Fatal(err)
	}
	// Two organizations, one with a name long enough to wrap on a phone.
	mustDeliver(t, srv.URL, "msg_m_grace_eckert", pageMembership(eventMembershipCreated, "orgmem_grace_eckert", "org_eckert", "Eckert–Mauchly Computer Corporation", graceID, "org:admin", "", 1000), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_m_grace_codasyl", pageMembership(eventMembershipCreated, "orgmem_grace_codasyl", "org_codasyl", "Conference on Data Systems Languages, Short Range Committee for a Common Business Language", graceID, "org:member", "Member", 1000), outcomeCreated)
	// Grace canceled Pro: kept until its period's end, then the free plan.
	// One organization renews its plan, the other's payment failed.
	ends := time.Now().AddDate(0, 0, 12)
	storeItem(t, app, clientOf(t, app, graceID), storePlan(t, app, "pro", "user", "export"), "canceled", ends)
	freePlan := storePlan(t, app, "free_user", "user")
	freePlan.Set(migrations.FieldName, "Free") // as Clerk names its default plans
	if err := app.Save(freePlan); err != nil {
		t.Fatal(err)
	}
	free := storeItem(t, app, clientOf(t, app, graceID), freePlan, "upcoming", ends.AddDate(0, 1, 0))
	free.Set(migrations.FieldPeriodStart, ends)
	if err := app.Save(free); err != nil {
		t.Fatal(err)
	}
	storeItem(t, app, orgOf(t, app, "org_eckert"), storePlan(t, app, "team", "org", "teams"), "active", time.Now().AddDate(0, 0, 25))
	storeItem(t, app, orgOf(t, app, "org_codasyl"), storePlan(t, app, "business", "org", "teams", "sso"), "past_due", time.Now().AddDate(0, 0, -2))

	// Ada is banned while her page is open, and let back in after each shot.
	const ada = "user_2shotadaxxxxxxxxxxxxxxxxxx"
	adaUser := clerkfake.NewUser(ada, "Ada", 1000)
	adaUser["last_name"], adaUser["image_url"] = "Lovelace", ""
	deliver(t, srv.URL, "msg_ada", clerkfake.Event(eventUserCreated, adaUser))
	setBanned := func(t *testing.T, banned bool) {
		adaUser["banned"], adaUser["updated_at"] = banned, adaUser["updated_at"].(int64)+1000
		mustDeliver(t, srv.URL, fmt.Sprint("msg_ada_", adaUser["updated_at"]), clerkfake.Event(eventUserUpdated, adaUser), outcomeUpdated)
	}

	token := func(sub string) string {
		c := validClaims(sub)
		c["exp"] = time.Now().Add(10 * time.Minute).Unix()
		return key.sign(t, c)
	}
	const profile = `document.body.dataset.state === "profile" && document.querySelector("#section-organizations li, #no-organizations") !== null && subscriptionItems !== null`
	shots := []profileShot{
		{name: "profile", script: standInClerk(graceID, token(graceID)), ready: profile},
		{name: "profile-dark", script: standInClerk(graceID, token(graceID)), ready: profile, dark: true},
		{name: "organizations", script: standInClerk(graceID, token(graceID)), ready: profile, crop: "#section-organizations"},
		{name: "organizations-dark", script: standInClerk(graceID, token(graceID)), ready: profile, crop: "#section-organizations", dark: true},
		{name: "plan", script: standInClerk(graceID, token(graceID)), ready: profile, crop: "#section-plan"},
		{name: "plan-dark", script: standInClerk(graceID, token(graceID)), ready: profile, crop: "#section-plan", dark: true},
		{name: "session-impersonated", script: standInClerk(graceID, token(graceID)) + clerkSession("org_eckert", "Eckert–Mauchly Computer Corporation", "user_2supportxxxxxxxxxxxxxxxxxx"), ready: profile + ` && !document.getElementById("impersonation").hidden`},
		{name: "session-impersonated-dark", script: standInClerk(graceID, token(graceID)) + clerkSession("org_eckert", "Eckert–Mauchly Computer Corporation", "user_2supportxxxxxxxxxxxxxxxxxx"), ready: profile + ` && !document.getElementById("impersonation").hidden`, dark: true},
		{name: "waiting", script: standInClerk(newcomer, token(newcomer)), ready: `document.body.dataset.state === "waiting"`},
		{name: "refused-deleted", script: standInClerk(userA, "refuse-deleted"), ready: `document.body.dataset.state === "error"`},
		{name: "signed-out", script: standInClerk("", ""), ready: `document.body.dataset.state === "signed-out"`},
		{name: "not-configured", script: "", ready: `document.body.dataset.state === "not-configured"`},
		{
			name: "banned-live", script: standInClerk(ada, token(ada)), ready: profile,
			live: func(t *testing.T) {
				t.Cleanup(func() { setBanned(t, false) })
				setBanned(t, true)
			},
			then: `document.body.dataset.state === "error" && document.body.dataset.reason === "banned"`,
		},
	}
	for _, shot := range shots {
		for _, width := range []int64{390, 1440} {
			// A subtest per shot closes its tab, and the tab's realtime
			// connections: Chromium opens at most six per host.
			t.Run(fmt.Sprintf("%s-%d", shot.name, width), func(t *testing.T) {
				screenshot(t, browser, srv.URL, shot, width, dir)
			})
		}
	}
}

// profileShot is one state of the page to take a picture of.
type profileShot struct {
	name, script, ready string
	dark                bool
	// live, when set, changes the server's data once ready holds; the shot
	// is taken when then holds.
	live func(t *testing.T)
	then string
	crop string // a selector: the shot is of that element only
}

func screenshot(t *testing.T, browser context.Context, url string, shot profileShot, width int64, dir string) {
	tab := openPage(t, browser, url, shot.script)
	tab.run(chromedp.EmulateViewport(width, 844))
	if shot.dark {
		tab.run(func(ctx context.Context, target *chromedp.Target) (chromedp.Void, error) {
			_, err := cdp.Call(ctx, target, emulation.SetEmulatedMedia, emulation.SetEmulatedMediaParams{
				Features: []*emulation.MediaFeature{{Name: "prefers-color-scheme", Value: "dark"}},
			})
			return chromedp.Void{}, err
		})
	}
	tab.waitFor(shot.ready)
	if shot.live != nil {
		shot.live(t)
		tab.waitFor(shot.then)
	}
	time.Sleep(2500 * time.Millisecond) // past the highlight, and into the wait's count
	if !tab.eval(`document.documentElement.scrollWidth <= window.innerWidth`) {
		t.Errorf("at %d px the page scrolls sideways", width)
	}
	var png []byte
	var err error
	if shot.crop != "" {
		png, err = chromedp.Run(tab.ctx, chromedp.Screenshot(chromedp.CSS(shot.crop)))
	} else {
		png, err = chromedp.Run(tab.ctx, chromedp.FullScreenshot(100))
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("profile-%s-%d.png", shot.name, width)), png, 0o644); err != nil {
		t.Fatal(err)
	}
}
