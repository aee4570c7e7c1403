package hooks

import (
	"fmt"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// The README's wrong forms of the billing recipes: two aliases of
// @collection.entitlements, each matching a row of its own.
const (
	wrongExportFeature = `@collection.entitlements:e1.client ?= @request.auth.id && @collection.entitlements:e2.feature ?= "export"`
	wrongTeamsFeature  = `@collection.entitlements:e1.organization ?= organization && @collection.entitlements:e2.feature ?= "teams"`
)

// The recipes' conditions, as the README's migrations write them.
const (
	recipeExportFeature = `@collection.entitlements.client ?= @request.auth.id && @collection.entitlements.feature ?= "export"`
	recipeTeamsFeature  = `@collection.entitlements.organization ?= organization && @collection.entitlements.feature ?= "teams"`
)

// newClient delivers a user.created of id and returns its client.
func newClient(t *testing.T, app core.App, url, id string) *core.Record {
	t.Helper()
	mustDeliver(t, url, "msg_"+id, clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Example", 1000)), outcomeCreated)
	return clientOf(t, app, id)
}

// The README's exports recipe, per row: who writes is who holds "export"
// in their own plan now.
func TestReadmeExportsRecipeFollowsTheUsersPlan(t *testing.T) {
	t.Parallel()
	ten := newTenancy(t)
	app := ten.app
	runJSMigration(t, app, readmeBlock(t, "// pb_migrations/1764900300_exports.js"))
	now := time.Now()
	pro := storePlan(t, app, "pro", "user", "export", "reports")
	basic := storePlan(t, app, "basic", "user", "reports")
	orgPro := storePlan(t, app, "org_pro", "org", "export")

	create := func(client *core.Record) int {
		return sendAs(t, ten.url, client, http.MethodPost, "/api/collections/exports/records", fmt.Sprintf(`{"client":%q,"title":"q3"}`, client.Id))
	}
	mayCreate := func(who string, client *core.Record, want bool) {
		t.Helper()
		if got := create(client) == http.StatusOK; got != want {
			t.Errorf("%s creating an export: allowed %v, want %v", who, got, want)
		}
	}

	// Alice pays for pro; Bob for basic, without export; Carol's pro is
	// past due, which keeps it by default.
	storeItem(t, app, ten.alice, pro, "active", now.AddDate(0, 1, 0))
	storeItem(t, app, ten.bob, basic, "active", now.AddDate(0, 1, 0))
	storeItem(t, app, ten.carol, pro, "past_due", now.AddDate(0, 0, -3))
	mayCreate("alice, on pro", ten.alice, true)
	mayCreate("bob, on basic", ten.bob, false)
	mayCreate("carol, on pro past due", ten.carol, true)

	// Bob's organization A pays for a plan with export: that is A's, not Bob's.
	storeItem(t, app, ten.orgA, orgPro, "active", now.AddDate(0, 1, 0))
	mayCreate("bob, whose organization has export", ten.bob, false)

	// Statuses that grant nothing, one user each.
	for i, status := range []string{"ended", "upcoming", "incomplete", "abandoned"} {
		client := newClient(t, app, ten.url, fmt.Sprintf("user_status%d", i))
		storeItem(t, app, client, pro, status, now.AddDate(0, 1, 0))
		mayCreate(status+" pro", client, false)
	}

	// A canceled item grants until its period's end, and not after it.
	dan := newClient(t, app, ten.url, "user_dan")
	canceled := storeItem(t, app, dan, pro, "canceled", now.Add(time.Hour))
	mayCreate("dan, canceled within the period", dan, true)
	export, err := app.FindFirstRecordByData("exports", "client", dan.Id)
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/collections/exports/records/" + export.Id
	changeItem(t, app, canceled, "canceled", now.Add(-time.Minute))
	mayCreate("dan, canceled past the period", dan, false)
	if s := sendAs(t, ten.url, dan, http.MethodPatch, path, `{"title":"q4"}`); s == http.StatusOK {
		t.Error("dan updated his export after his canceled period ended")
	}
	if got := listAs(t, ten.url, authToken(t, dan), "exports", "title"); !slices.Equal(got, []string{"q3"}) {
		t.Errorf("dan lists %v, want his export still readable", got)
	}
	// He subscribes again: his export is his to change once more.
	storeItem(t, app, dan, pro, "active", now.AddDate(0, 1, 0))
	if s := sendAs(t, ten.url, dan, http.MethodPatch, path, `{"title":"q4"}`); s != http.StatusOK {
		t.Errorf("dan, subscribed again, updating his export: %d", s)
	}
	// Nobody writes another's export, entitled or not.
	if s := sendAs(t, ten.url, ten.alice, http.MethodPatch, path, `{"title":"mine"}`); s == http.StatusOK {
		t.Error("alice updated dan's export")
	}
	if s := sendAs(t, ten.url, ten.alice, http.MethodPost, "/api/collections/exports/records", fmt.Sprintf(`{"client":%q}`, dan.Id)); s == http.StatusOK {
		t.Error("alice created an export for dan")
	}

	// The wrong form: Bob has an entitlement (reports) and someone has
	// export, on two different rows.
	rewriteRules(t, app, "exports", recipeExportFeature, wrongExportFeature, func() {
		if create(ten.bob) != http.StatusOK {
			t.Error("the wrong form refused bob, on basic: it was expected to let him export, as alice's plan has export")
		}
	})
	mayCreate("bob, on basic, after the wrong form", ten.bob, false)

	// CLERK_BILLING_PAST_DUE=revoke: Carol's unpaid plan grants nothing.
	if err := applyBillingPastDue(app, BillingPastDueRevoke); err != nil {
		t.Fatal(err)
	}
	mayCreate("carol, on pro past due, with CLERK_BILLING_PAST_DUE=revoke", ten.carol, false)
	mayCreate("alice, on pro, with CLERK_BILLING_PAST_DUE=revoke", ten.alice, true)
}

// The README's team notes recipe, per row: in an organization whose plan
// includes teams every member writes, in one whose plan does not only its
// admins do.
func TestReadmeTeamNotesRecipeFollowsTheOrganizationsPlan(t *testing.T) {
	t.Parallel()
	// Alice is a plain member of A and an admin of B, Bob A's admin, Dave a
	// plain member of A and of B, Carol of none.
	ten := newTenancy(t)
	app := ten.app
	dave := newClient(t, app, ten.url, "user_dave")
	for _, org := range []string{"org_a", "org_b"} {
		id := "orgmem_dave_" + org
		mustDeliver(t, ten.url, "msg_"+id, clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership(id, org, "user_dave", "org:member", 1000)), outcomeCreated)
	}
	runJSMigration(t, app, readmeBlock(t, "// pb_migrations/1764900400_team_notes.js"))
	now := time.Now()
	team := storePlan(t, app, "team", "org", "teams", "export")
	starter := storePlan(t, app, "starter", "org", "export")
	personal := storePlan(t, app, "personal", "user", "teams")
	teamItem := storeItem(t, app, ten.orgA, team, "active", now.AddDate(0, 1, 0))
	storeItem(t, app, ten.orgB, starter, "active", now.AddDate(0, 1, 0))
	// Carol's own plan has teams: that is hers, not an organization's.
	storeItem(t, app, ten.carol, personal, "active", now.AddDate(0, 1, 0))

	create := func(as, org *core.Record) int {
		return sendAs(t, ten.url, as, http.MethodPost, "/api/collections/team_notes/records", fmt.Sprintf(`{"organization":%q,"text":"hello"}`, org.Id))
	}
	orgName := map[string]string{ten.orgA.Id: "A", ten.orgB.Id: "B"}
	writes := func(name string, as *core.Record, want map[*core.Record]bool) {
		t.Helper()
		for org, w := range want {
			if got := create(as, org) == http.StatusOK; got != w {
				t.Errorf("%s creating a note of %s: allowed %v, want %v", name, orgName[org.Id], got, w)
			}
		}
	}
	writes("dave, member of A (teams) and of B (starter)", dave, map[*core.Record]bool{ten.orgA: true, ten.orgB: false})
	writes("alice, member of A (teams), admin of B (starter)", ten.alice, map[*core.Record]bool{ten.orgA: true, ten.orgB: true})
	writes("bob, admin of A", ten.bob, map[*core.Record]bool{ten.orgA: true, ten.orgB: false})
	writes("carol, of no organization, with teams of her own", ten.carol, map[*core.Record]bool{ten.orgA: false, ten.orgB: false})

	// Updates and deletes follow the same rule; reads are the members'.
	noteOfB, err := app.FindFirstRecordByData("team_notes", "organization", ten.orgB.Id)
	if err != nil {
		t.Fatal(err)
	}
	pathB := "/api/collections/team_notes/records/" + noteOfB.Id
	if s := sendAs(t, ten.url, dave, http.MethodPatch, pathB, `{"text":"edited"}`); s == http.StatusOK {
		t.Error("dave, a plain member of B on starter, edited B's note")
	}
	if s := sendAs(t, ten.url, dave, http.MethodDelete, pathB, ``); s < 400 {
		t.Error("dave, a plain member of B on starter, deleted B's note")
	}
	noteOfA, err := app.FindFirstRecordByData("team_notes", "organization", ten.orgA.Id)
	if err != nil {
		t.Fatal(err)
	}
	pathA := "/api/collections/team_notes/records/" + noteOfA.Id
	if s := sendAs(t, ten.url, dave, http.MethodPatch, pathA, `{"organization":"`+ten.orgB.Id+`"}`); s == http.StatusOK {
		t.Error("dave moved a note of A into B")
	}
	if s := sendAs(t, ten.url, dave, http.MethodPatch, pathA, `{"text":"edited"}`); s != http.StatusOK {
		t.Errorf("dave, a member of A on team, editing A's note: %d", s)
	}
	for name, c := range map[string]struct {
		who  *core.Record
		want int
	}{"dave": {dave, 4}, "bob": {ten.bob, 3}, "carol": {ten.carol, 0}} {
		if got := listAs(t, ten.url, authToken(t, c.who), "team_notes", "text"); len(got) != c.want {
			t.Errorf("%s lists %d notes %v, want %d", name, len(got), got, c.want)
		}
	}

	// A's plan canceled: its members write until the period's end, then
	// only A's admins.
	changeItem(t, app, teamItem, "canceled", now.Add(time.Hour))
	writes("dave, in A canceled within its period", dave, map[*core.Record]bool{ten.orgA: true})
	changeItem(t, app, teamItem, "canceled", now.Add(-time.Minute))
	writes("dave, in A canceled past its period", dave, map[*core.Record]bool{ten.orgA: false})
	writes("bob, admin of A canceled past its period", ten.bob, map[*core.Record]bool{ten.orgA: true})
	if s := sendAs(t, ten.url, dave, http.MethodPatch, pathA, `{"text":"again"}`); s == http.StatusOK {
		t.Error("dave edited A's note after A's canceled period ended")
	}

	// The wrong form: B has an entitlement (export) and A had teams, on
	// two different rows. Give A its plan back, so that a row has teams.
	changeItem(t, app, teamItem, "active", now.AddDate(0, 1, 0))
	rewriteRules(t, app, "team_notes", recipeTeamsFeature, wrongTeamsFeature, func() {
		if create(dave, ten.orgB) != http.StatusOK {
			t.Error("the wrong form refused dave in B: it was expected to let him write, as A's plan has teams")
		}
	})
	writes("dave in B, after the wrong form", dave, map[*core.Record]bool{ten.orgB: false})
}

// The README writes the recipes' conditions and their wrong forms as the
// tests run them.
func TestReadmeHasTheEntitlementRecipes(t *testing.T) {
	t.Parallel()
	for start, conditions := range map[string][]string{
		"// pb_migrations/1764900300_exports.js":    {recipeExportFeature},
		"// pb_migrations/1764900400_team_notes.js": {recipeTeamsFeature, `organization.memberships_via_organization.role ?= "org:admin"`},
		"wrong: @collection.entitlements":           {wrongTeamsFeature},
	} {
		block := readmeBlock(t, start)
		for _, c := range conditions {
			if !strings.Contains(block, c) {
				t.Errorf("the README's block %q lacks %s", start, c)
			}
		}
	}
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(readme), wrongExportFeature) {
		t.Errorf("the README lacks the wrong form %s", wrongExportFeature)
	}
}
