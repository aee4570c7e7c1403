package hooks

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// newFakeClerkWithBilling serves 3 users with the free, pro and team plans
// and items: user 0 on pro, user 1 on free, user 2 on pro canceled, and
// org_nobody (an organization the instance does not list) on team.
func newFakeClerkWithBilling(t testing.TB) *fakeClerk {
	t.Helper()
	f := newFakeClerk(t, 3)
	at := time.Now().UnixMilli()
	f.Plans = []clerkfake.Plan{testFreePlan, testProPlan, testTeamPlan}
	f.Items = []clerkfake.SubscriptionItem{
		clerkfake.NewSubscriptionItem("csub_item_0", "user_fake000000", testProPlan, "active", at),
		clerkfake.NewSubscriptionItem("csub_item_1", "user_fake000001", testFreePlan, "active", at),
		clerkfake.NewSubscriptionItem("csub_item_2", "user_fake000002", testProPlan, "canceled", at),
		clerkfake.NewSubscriptionItem("csub_item_org", "org_nobody", testTeamPlan, "active", at),
	}
	return f
}

func TestSyncBackfillsAndPrunesBilling(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerkWithBilling(t)

	counts := mustSync(t, app, f, syncOptions{})
	if counts.Plans != (objectCounts{Listed: 3, Created: 3}) || counts.Items != (objectCounts{Listed: 4, Created: 4}) {
		t.Fatalf("plans %+v, items %+v", counts.Plans, counts.Items)
	}
	if got := featuresOf(t, app, "cplan_team"); !slices.Equal(got, []string{"teams", "export"}) {
		t.Fatalf("team's features: %v", got)
	}
	if plan := recordOf(t, app, migrations.BillingPlansCollection, "cplan_team"); plan.GetString("forPayerType") != "org" || plan.GetInt("amount") != 9900 || plan.GetBool("isDefault") {
		t.Fatalf("team plan: %v", plan)
	}
	for i, id := range []string{"csub_item_0", "csub_item_1", "csub_item_2"} {
		item := recordOf(t, app, migrations.SubscriptionItemsCollection, id)
		client := clientOf(t, app, f.Users[i].ID)
		if item == nil || item.GetString("client") != client.Id || item.GetString("interval") != "month" {
			t.Fatalf("%s: %v", id, item)
		}
	}
	if item := recordOf(t, app, migrations.SubscriptionItemsCollection, "csub_item_org"); item.GetString("organization") != "" || item.GetString("clerkPayerId") != "org_nobody" {
		t.Fatalf("an unknown organization's item: %v", item)
	}
	// Once as it was: nothing changes.
	if counts := mustSync(t, app, f, syncOptions{}); counts.Items != (objectCounts{Listed: 4, Unchanged: 4}) || counts.Plans != (objectCounts{Listed: 3, Unchanged: 3}) {
		t.Fatalf("second sync: plans %+v, items %+v", counts.Plans, counts.Items)
	}

	// Clerk no longer has user 0's item nor a plan stored from before.
	applyListedPlans(t, app, clerkfake.NewPlan("cplan_old", "old", "user", 500, "basic"))
	ageRecords(t, app, migrations.SubscriptionItemsCollection, time.Hour)
	ageRecords(t, app, migrations.BillingPlansCollection, time.Hour)
	f.edit(func(f *fakeClerk) { f.Items = f.Items[1:] })
	counts = mustSync(t, app, f, syncOptions{Prune: true})
	if counts.Items.Deleted != 1 || counts.Plans.Deleted != 1 {
		t.Fatalf("prune: plans %+v, items %+v", counts.Plans, counts.Items)
	}
	if recordOf(t, app, migrations.SubscriptionItemsCollection, "csub_item_0") != nil || recordOf(t, app, migrations.BillingPlansCollection, "cplan_old") != nil {
		t.Fatal("what Clerk no longer has was not pruned")
	}
	if n := count(t, app, migrations.SubscriptionItemsCollection, ""); n != 3 {
		t.Fatalf("%d items after the prune, want 3", n)
	}
	// It was confirmed by the payer's subscription.
	if f.BillingHits.Load() == 0 {
		t.Fatal("the prune asked for no payer's subscription")
	}

	// The guard: pruning all of them takes --force.
	ageRecords(t, app, migrations.SubscriptionItemsCollection, time.Hour)
	f.edit(func(f *fakeClerk) { f.Items = nil })
	if _, _, err := syncWith(t, app, fakeConfig(f), syncOptions{Prune: true}); err == nil || !strings.Contains(err.Error(), "subscription_items") {
		t.Fatalf("pruning every item without --force: %v", err)
	}
	if n := count(t, app, migrations.SubscriptionItemsCollection, ""); n != 3 {
		t.Fatalf("%d items after a refused prune, want 3", n)
	}
}

// An item that names a plan the listing did not show has the plans listed
// once more, however many such items there are.
func TestSyncListsThePlansAgainForAnItemOfANewPlan(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerkWithBilling(t)
	newPlan := clerkfake.NewPlan("cplan_new", "new", "user", 100, "fresh")
	at := time.Now().UnixMilli()
	f.Items = append(f.Items, clerkfake.NewSubscriptionItem("csub_item_n1", "user_fake000000", newPlan, "upcoming", at),
		clerkfake.NewSubscriptionItem("csub_item_n2", "user_fake000001", newPlan, "upcoming", at))

	mustSync(t, app, f, syncOptions{})
	if n := f.PlanListings.Load(); n != 2 {
		t.Fatalf("the plans were listed %d times, want 2", n)
	}
	// The plan is kept from the item, with no features until it is listed.
	if got := featuresOf(t, app, "cplan_new"); len(got) != 0 {
		t.Fatalf("features %v", got)
	}
	f.edit(func(f *fakeClerk) { f.Plans = append(f.Plans, newPlan) })
	mustSync(t, app, f, syncOptions{})
	if got := featuresOf(t, app, "cplan_new"); !slices.Equal(got, []string{"fresh"}) {
		t.Fatalf("features once listed: %v", got)
	}
}

// An instance without Billing syncs the rest, says that billing was
// skipped, and keeps what is stored.
func TestSyncOfAnInstanceWithoutBilling(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerkWithBilling(t)
	f.BillingDisabled = true

	out, err := clerkSyncCommand(t, app, f)
	if err != nil {
		t.Fatalf("clerk sync failed on an instance without Billing: %v\n%s", err, out)
	}
	mustContain(t, out, "3 users listed: 3 created")
	mustContain(t, out, "billing: not enabled in this Clerk instance: skipped")
	if n := count(t, app, migrations.SubscriptionItemsCollection, ""); n != 0 {
		t.Fatalf("%d items", n)
	}

	// Billing stored from before (turned off since) is kept by a prune.
	applyListedPlans(t, app, testProPlan)
	ageRecords(t, app, migrations.BillingPlansCollection, time.Hour)
	ageClients(t, app, time.Hour)
	out, err = syncSummary(t, app, f, syncOptions{Prune: true})
	if err != nil {
		t.Fatalf("clerk sync --prune failed: %v\n%s", err, out)
	}
	mustContain(t, out, "billing not pruned")
	if recordOf(t, app, migrations.BillingPlansCollection, "cplan_pro") == nil {
		t.Fatal("a plan was pruned on a refused listing")
	}
}

// syncSummary runs a sync against f and returns its summary.
func syncSummary(t testing.TB, app core.App, f *fakeClerk, opts syncOptions) (string, error) {
	t.Helper()
	counts, _, err := syncWith(t, app, fakeConfig(f), opts)
	return counts.summary(false), err
}

// Clerk does not document its answer for an instance without Billing: a
// 403 or 404 whose code names billing or commerce is taken as it, and no
// other refusal is.
func TestWhatSaysBillingIsNotEnabled(t *testing.T) {
	answer := func(status int, code string) error {
		return &clerk.APIErrorResponse{HTTPStatusCode: status, Errors: []clerk.Error{{Code: code, Message: "m"}}}
	}
	for _, c := range []struct {
		err  error
		want bool
	}{
		{answer(403, "billing_not_enabled"), true},
		{answer(404, "commerce_not_enabled_in_instance"), true},
		{answer(403, "organization_not_enabled_in_instance"), false},
		{answer(404, "resource_not_found"), false},
		{answer(401, "billing_key_invalid"), false},
		{answer(404, notClerkCode), false},
		{errors.New("billing"), false},
	} {
		if got := isBillingNotEnabled(c.err); got != c.want {
			t.Errorf("%v: %v, want %v", c.err, got, c.want)
		}
	}
}
