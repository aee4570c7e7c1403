package hooks

import (
	"slices"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// Every request the project makes of Clerk's Backend API is an operation of
// Clerk's spec with valid parameters, and every answer of the stand-in
// validates against that operation's schema (newFakeClerk checks each
// request; this test makes every kind of request the project makes).
func TestEveryBackendAPIRequestIsInClerksSpec(t *testing.T) {
	app := newTestApp(t)
	key := newSigningKey(t, 0, "ins_key1")
	f := newFakeClerkWithOrgs(t, 12, 2, 4)
	f.addKey(key)
	at := time.Now().UnixMilli()
	f.Plans = []clerkfake.Plan{testProPlan, testTeamPlan}
	f.Items = []clerkfake.SubscriptionItem{
		clerkfake.NewSubscriptionItem("csub_item_user", "user_fake000001", testProPlan, "active", at),
		clerkfake.NewSubscriptionItem("csub_item_org", "org_fake000", testTeamPlan, "active", at),
	}
	mustSync(t, app, f, syncOptions{})

	// A prune checks users, organizations, memberships and subscription
	// items (by their payers' subscriptions) that are gone.
	f.edit(func(f *fakeClerk) {
		f.RemoveUser("user_fake000011")
		f.RemoveOrg("org_fake001")
		f.RemoveMember("orgmem_fake000002")
		f.Items = nil
	})
	ageClients(t, app, time.Hour)
	for _, c := range []string{migrations.OrganizationsCollection, migrations.MembershipsCollection, migrations.SubscriptionItemsCollection} {
		ageRecords(t, app, c, time.Hour)
	}
	mustSync(t, app, f, syncOptions{Prune: true, Force: true})

	// First sight: the signing keys, a new user, their memberships.
	f.addUser(clerkfake.NewUser(newcomer, "Nina", 2000))
	f.edit(func(f *fakeClerk) {
		f.Members = append(f.Members, clerkfake.NewMembership("orgmem_new", "org_fake000", newcomer, "org:admin", 3000).Served())
	})
	cfg := f.config()
	cfg.JWTKey = ""
	srv := serve(t, app, cfg)
	if got := listAs(t, srv.URL, orgToken(t, key, newcomer, "org_fake000", "org:admin"), migrations.OrganizationsCollection, "clerkId"); !slices.Equal(got, []string{"org_fake000"}) {
		t.Fatalf("first sight: sees %v", got)
	}

	var seen []string
	f.operations.Range(func(op, _ any) bool {
		seen = append(seen, op.(string))
		return true
	})
	slices.Sort(seen)
	want := []string{
		"GetCommercePlanList", "GetCommerceSubscriptionItemList", "GetJWKS", "GetOrganization", "GetOrganizationBillingSubscription",
		"GetUser", "GetUserBillingSubscription", "GetUserList", "GetUsersCount", "InstanceGetOrganizationMemberships",
		"ListOrganizationMemberships", "ListOrganizations", "UsersGetOrganizationMemberships",
	}
	if !slices.Equal(seen, want) {
		t.Fatalf("operations requested: %v\nwant (every one the project makes): %v", seen, want)
	}
}
