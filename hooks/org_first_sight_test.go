package hooks

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// orgToken is a session token (v2) of sub whose active organization is orgID.
func orgToken(t testing.TB, key signingKey, sub, orgID, role string) string {
	t.Helper()
	c := validClaims(sub)
	c["o"] = map[string]any{"id": orgID, "rol": role, "slg": orgID}
	return "Bearer " + key.sign(t, c)
}

// newcomerJoins makes Clerk hold org_new, with newcomer as its admin.
func newcomerJoins(f *fakeClerk) {
	f.edit(func(f *fakeClerk) {
		f.Orgs = append(f.Orgs, clerkfake.NewOrganization("org_new", 3000).Served())
		f.Members = append(f.Members, clerkfake.NewMembership("orgmem_new", "org_new", newcomer, "org:admin", 3000).Served())
	})
}

func TestFirstSightStoresTheActiveOrganization(t *testing.T) {
	t.Parallel()
	app, srv, clerkAPI, key, _ := newcomerInClerk(t)
	newcomerJoins(clerkAPI)
	token := orgToken(t, key, newcomer, "org_new", "admin")

	// The very first request, before any webhook, passes the organization's rules.
	if got := listAs(t, srv.URL, token, migrations.OrganizationsCollection, "clerkId"); !slices.Equal(got, []string{"org_new"}) {
		t.Fatalf("first request sees organizations %v", got)
	}
	m := membershipOf(t, app, "orgmem_new")
	if m == nil || m.GetString("role") != "org:admin" || m.GetString("client") != clientOf(t, app, newcomer).Id {
		t.Fatalf("membership on first sight: %v", m)
	}
	listAs(t, srv.URL, token, migrations.MembershipsCollection, "clerkId")
	if n := clerkAPI.MemberHits.Load(); n != 1 {
		t.Fatalf("memberships fetched %d times, want 1", n)
	}

	// The webhook that lands afterwards finds it and creates no second one.
	body := clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_new", "org_new", newcomer, "org:admin", 3000))
	if r := deliver(t, srv.URL, "msg_late", body); r.Status != 200 || r.Body["outcome"] == string(outcomeCreated) {
		t.Fatalf("late webhook: %d %v", r.Status, r.Body)
	}
	if n := count(t, app, migrations.MembershipsCollection, ""); n != 1 {
		t.Fatalf("%d memberships, want 1", n)
	}
}

func TestConcurrentFirstRequestsFetchMembershipsOnce(t *testing.T) {
	t.Parallel()
	app, srv, clerkAPI, key, _ := newcomerInClerk(t)
	newcomerJoins(clerkAPI)
	clerkAPI.MemberDelay = 50 * time.Millisecond
	listClerkIDs(t, srv.URL, "Bearer "+key.token(t, newcomer)) // the client, without an organization
	if clerkAPI.MemberHits.Load() != 0 || count(t, app, migrations.MembershipsCollection, "") != 0 {
		t.Fatal("a token without an active organization fetched memberships")
	}

	token := orgToken(t, key, newcomer, "org_new", "admin")
	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			got, err := tryList(srv.URL, token, migrations.OrganizationsCollection)
			if err != nil || !slices.Equal(got, []string{"org_new"}) {
				t.Errorf("a concurrent first request sees %v (%v)", got, err)
			}
		})
	}
	wg.Wait()
	if n := clerkAPI.MemberHits.Load(); n != 1 {
		t.Fatalf("memberships fetched %d times for 16 concurrent requests, want 1", n)
	}
}

// A token may name an organization for a minute after the user left it:
// Clerk's answer lacks it, nothing is stored, and it is not fetched again.
func TestFirstSightOfAnOrganizationTheUserLeft(t *testing.T) {
	t.Parallel()
	app, srv, clerkAPI, key, _ := newcomerInClerk(t)
	clerkAPI.edit(func(f *fakeClerk) { f.Orgs = append(f.Orgs, clerkfake.NewOrganization("org_left", 3000).Served()) })
	token := orgToken(t, key, newcomer, "org_left", "member")
	for range 3 {
		if got := listAs(t, srv.URL, token, migrations.OrganizationsCollection, "clerkId"); len(got) != 0 {
			t.Fatalf("a former member sees %v", got)
		}
	}
	if n := clerkAPI.MemberHits.Load(); n != 1 || count(t, app, migrations.MembershipsCollection, "") != 0 {
		t.Fatalf("fetched %d times, want 1, or stored a membership", n)
	}
}
