package hooks

import (
	"slices"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// An item's copy of its plan has no features. A plan that only an item
// has named is completed by Clerk's listing of plans, asked for after the
// commit, with no sync: its buyer passes the rules on its features.
// Clerk's listing is the plans' source: an item's older copy never changes
// a listed plan.
func TestAPlanFirstNamedByAnItemGetsItsFeaturesFromClerk(t *testing.T) {
	t.Parallel()
	f := newFakeClerkWithBilling(t)
	app := newTestApp(t)
	srv := serve(t, app, f.config())
	mustDeliver(t, srv.URL, "msg_u", clerkfake.Event(eventUserCreated, clerkfake.NewUser("user_fake000000", "Ada", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_i", clerkfake.Event(eventItemActive, clerkfake.NewSubscriptionItem("csub_item_0", "user_fake000000", testProPlan, "active", time.Now().UnixMilli())), outcomeCreated)

	waitFor(t, "the plan's features listed", func() bool { return slices.Equal(featuresOf(t, app, "cplan_pro"), []string{"basic", "export"}) })
	if got := entitlementsOf(t, app, clientOf(t, app, "user_fake000000")); !slices.Equal(got, []string{"basic", "export"}) {
		t.Fatalf("entitlements of the plan's buyer: %v", got)
	}
	listings := f.PlanListings.Load()

	// Clerk renames the plan and raises its fee; the listing says so.
	renamed := clerkfake.NewPlan("cplan_pro", "pro", "user", 2500, "basic", "export")
	renamed["name"] = "Pro 2026"
	applyListedPlans(t, app, renamed)
	// A retried event carries the item's older copy of the plan: the plan
	// stays as listed, and a known plan asks Clerk for nothing.
	mustDeliver(t, srv.URL, "msg_i2", clerkfake.Event(eventItemUpdated, clerkfake.NewSubscriptionItem("csub_item_0", "user_fake000000", testProPlan, "active", time.Now().UnixMilli()+1)), outcomeUpdated)
	plan := recordOf(t, app, migrations.BillingPlansCollection, "cplan_pro")
	if plan.GetString("name") != "Pro 2026" || plan.GetInt("amount") != 2500 {
		t.Fatalf("an item's copy changed the listed plan: %v", plan)
	}
	time.Sleep(100 * time.Millisecond)
	if n := f.PlanListings.Load(); n != listings {
		t.Fatalf("the plans were listed %d more times for an item of a known plan", n-listings)
	}
}

// A plan that Clerk's listing leaves out (hidden or archived) while a
// stored item still names it keeps its features through a prune.
func TestSyncKeepsAPlanThatAnItemStillNames(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerkWithBilling(t)
	if _, err := clerkSyncCommand(t, app, f); err != nil {
		t.Fatal(err)
	}
	f.edit(func(f *fakeClerk) { f.Plans = []clerkfake.Plan{testFreePlan, testTeamPlan} }) // pro, still subscribed to, is hidden
	ageRecords(t, app, migrations.BillingPlansCollection, time.Hour)
	out, err := syncSummary(t, app, f, syncOptions{Prune: true})
	if err != nil {
		t.Fatalf("clerk sync --prune: %v\n%s", err, out)
	}
	if recordOf(t, app, migrations.BillingPlansCollection, "cplan_pro") == nil {
		t.Fatalf("a plan that active items name was pruned:\n%s", out)
	}
	mustContain(t, out, "2 billing plans listed")
}

// An item naming a plan that the listing did not show has the plans listed
// once more; the plans listed twice are counted once.
func TestSyncCountsPlansListedAgainOnce(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerkWithBilling(t)
	f.Items = append(f.Items, clerkfake.NewSubscriptionItem("csub_item_new", "user_fake000000", clerkfake.NewPlan("cplan_new", "new", "user", 100, "fresh"), "upcoming", time.Now().UnixMilli()))
	counts := mustSync(t, app, f, syncOptions{})
	if counts.Plans.Listed != 3 || counts.Plans.Created != 3 || counts.Plans.Unchanged != 0 {
		t.Fatalf("plans counted %+v, want the 3 that Clerk lists, each once", counts.Plans)
	}
}

// Anyone reads the plans of Clerk's pricing table; a plan Clerk hides (a
// custom price for one customer) is not public, and its buyer's page falls
// back to the item's plan slug.
func TestOnlyThePricingTablesPlansArePublic(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	hidden := clerkfake.NewPlan("cplan_custom", "custom", "user", 99000, "export")
	hidden["publicly_visible"] = false
	applyListedPlans(t, app, testProPlan, hidden)
	if got := listAs(t, srv.URL, "", migrations.BillingPlansCollection, "slug"); !slices.Equal(got, []string{"pro"}) {
		t.Fatalf("a guest lists the plans %v, want the pricing table's alone", got)
	}
	plan := recordOf(t, app, migrations.BillingPlansCollection, "cplan_custom")
	if status := send(t, "GET", srv.URL+"/api/collections/billing_plans/records/"+plan.Id, "", "").Status; status != 404 {
		t.Fatalf("a guest viewing a hidden plan: %d, want 404", status)
	}
}
