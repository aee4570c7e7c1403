package hooks

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// planToken is a session token (v2) of sub whose "pla" claim is pla, with
// orgID as the active organization when not empty.
func planToken(t testing.TB, key signingKey, sub, orgID, pla string) string {
	t.Helper()
	c := validClaims(sub)
	c["pla"] = pla
	if orgID != "" {
		c["o"] = map[string]any{"id": orgID, "rol": "admin", "slg": orgID}
	}
	return "Bearer " + key.sign(t, c)
}

// A token naming a plan that no stored item grants brings its payer's
// subscription, once, however many requests arrive at once: the first
// request already sees the plan's entitlements.
func TestFirstSightOfAPlanFetchesTheSubscriptionOnce(t *testing.T) {
	t.Parallel()
	app, srv, clerkAPI, key, _ := newcomerInClerk(t)
	clerkAPI.edit(func(f *fakeClerk) {
		f.Plans = []clerkfake.Plan{testProPlan}
		f.Items = []clerkfake.SubscriptionItem{clerkfake.NewSubscriptionItem("csub_item_new", newcomer, testProPlan, "active", time.Now().UnixMilli())}
		f.SubscriptionDelay = 50 * time.Millisecond
	})
	listClerkIDs(t, srv.URL, "Bearer "+key.token(t, newcomer)) // the client, with no plan in the token
	if clerkAPI.BillingHits.Load() != 0 {
		t.Fatal("a token without a plan fetched a subscription")
	}

	token := planToken(t, key, newcomer, "", "u:pro")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			got, err := tryListField(srv.URL, token, migrations.EntitlementsCollection, "feature")
			if slices.Sort(got); err != nil || !slices.Equal(got, []string{"basic", "export"}) {
				t.Errorf("a concurrent first request sees entitlements %v (%v)", got, err)
			}
		})
	}
	wg.Wait()
	if n := clerkAPI.BillingHits.Load(); n != 1 {
		t.Fatalf("the subscription was fetched %d times for 16 concurrent requests, want 1", n)
	}
	item := recordOf(t, app, migrations.SubscriptionItemsCollection, "csub_item_new")
	if item == nil || item.GetString("client") != clientOf(t, app, newcomer).Id || item.GetString("clerkSubscriptionId") != "csub_"+newcomer {
		t.Fatalf("the item on first sight: %v", item)
	}
	// Known now: later requests ask Clerk nothing.
	listAs(t, srv.URL, token, migrations.EntitlementsCollection, "feature")
	if n := clerkAPI.BillingHits.Load(); n != 1 {
		t.Fatalf("fetched %d times, want 1", n)
	}
}

// An organization's plan in the token brings the active organization's
// subscription; a plan Clerk's answer lacks is not asked for again.
func TestFirstSightOfAnOrganizationsPlan(t *testing.T) {
	t.Parallel()
	app, srv, clerkAPI, key, _ := newcomerInClerk(t)
	newcomerJoins(clerkAPI)
	clerkAPI.edit(func(f *fakeClerk) {
		f.Plans = []clerkfake.Plan{testTeamPlan}
		f.Items = []clerkfake.SubscriptionItem{clerkfake.NewSubscriptionItem("csub_item_org", "org_new", testTeamPlan, "active", time.Now().UnixMilli())}
	})
	token := planToken(t, key, newcomer, "org_new", "o:team")
	if got := sorted(listAs(t, srv.URL, token, migrations.EntitlementsCollection, "feature")); !slices.Equal(got, []string{"export", "teams"}) {
		t.Fatalf("first request sees entitlements %v", got)
	}
	if item := recordOf(t, app, migrations.SubscriptionItemsCollection, "csub_item_org"); item == nil || item.GetString("organization") != orgOf(t, app, "org_new").Id {
		t.Fatalf("the organization's item: %v", item)
	}

	// A plan that Clerk's answer does not hold (the token is older than
	// its end): fetched once, then left alone.
	stale := planToken(t, key, newcomer, "org_new", "o:enterprise")
	before := clerkAPI.BillingHits.Load()
	for range 3 {
		listAs(t, srv.URL, stale, migrations.EntitlementsCollection, "feature")
	}
	if n := clerkAPI.BillingHits.Load() - before; n != 1 {
		t.Fatalf("a plan Clerk lacks was fetched %d times, want 1", n)
	}
}

// A Backend API that fails (here: limits the rate) costs one fetch, not one
// per request: the requests go on, signed in, without the plan.
func TestFirstSightOfAPlanDoesNotRetryAFailureOnEveryRequest(t *testing.T) {
	t.Parallel()
	_, srv, clerkAPI, key, _ := newcomerInClerk(t)
	listClerkIDs(t, srv.URL, "Bearer "+key.token(t, newcomer))
	token := planToken(t, key, newcomer, "", "u:pro")
	limited := clerkfake.Failure{Status: 429, RetryAfter: "30"}
	clerkAPI.Fail(limited, limited, limited, limited, limited)
	before := clerkAPI.RequestCount()
	for range 5 {
		listAs(t, srv.URL, token, migrations.EntitlementsCollection, "feature")
	}
	if n := clerkAPI.RequestCount() - before; n != 1 {
		t.Fatalf("5 requests during Clerk's rate limit made %d Backend API requests, want 1", n)
	}
}
