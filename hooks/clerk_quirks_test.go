package hooks

import (
	"net/http"
	"slices"
	"testing"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// What Clerk's Backend API does beyond its spec (hooks/clerkfake/quirks.go),
// met by clerk sync and by first sight. The instance without organizations
// is in org_not_enabled_test.go.

// A 429 with Retry-After: the sync waits as long as asked and goes on;
// first sight answers the request without the user, and the next request
// fetches it.
func TestClerkRateLimitInSyncAndFirstSight(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerk(t, 3)
	f.Fail(fakeFailure{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	_, progress, err := syncWith(t, app, fakeConfig(f), syncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	mustContain(t, progress, "429")
	mustContain(t, progress, "retrying in 1s")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 3 {
		t.Fatalf("%d clients after the wait, want 3", n)
	}

	app, srv, clerkAPI, key, _ := newcomerInClerk(t)
	// The signing keys are fetched first (by a request of a user Clerk
	// does not have), so that the 429 meets first sight's own request.
	listClerkIDs(t, srv.URL, "Bearer "+key.token(t, "user_notinclerk"))
	clerkAPI.Fail(fakeFailure{Status: http.StatusTooManyRequests, RetryAfter: "1"})
	token := "Bearer " + key.token(t, newcomer)
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/collections/"+migrations.ClientsCollection+"/records", nil)
	req.Header.Set("Authorization", token)
	if r := do(t, req); r.Status >= 500 {
		t.Fatalf("a rate-limited first sight answered %d", r.Status)
	}
	if ids := listClerkIDs(t, srv.URL, token); !slices.Equal(ids, []string{newcomer}) {
		t.Fatalf("the next request sees %v, want its own client", ids)
	}
	if clientOf(t, app, newcomer) == nil {
		t.Fatal("not stored")
	}
}

// An instance with organizations but no memberships lists none: the sync
// stores the organizations, and first sight of one of them stores nothing
// and asks once.
func TestOrganizationsWithoutMembershipsInSyncAndFirstSight(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerkWithOrgs(t, 2, 3, 0)
	counts := mustSync(t, app, f, syncOptions{Prune: true})
	if counts.Organizations.Created != 3 || counts.Memberships.Listed != 0 || counts.OrganizationsSkipped != "" {
		t.Fatalf("counts: %+v %+v %q", counts.Organizations, counts.Memberships, counts.OrganizationsSkipped)
	}

	app, srv, clerkAPI, key, _ := newcomerInClerk(t)
	clerkAPI.edit(func(f *fakeClerk) { f.Orgs = append(f.Orgs, clerkfake.NewOrganization("org_empty", 3000).Served()) })
	token := orgToken(t, key, newcomer, "org_empty", "org:member")
	for range 2 {
		if got := listAs(t, srv.URL, token, migrations.OrganizationsCollection, "clerkId"); len(got) != 0 {
			t.Fatalf("a non-member sees %v", got)
		}
	}
	if n := clerkAPI.MemberHits.Load(); n != 1 || count(t, app, migrations.MembershipsCollection, "") != 0 {
		t.Fatalf("asked %d times, want 1, or stored a membership", n)
	}
}

// A user_id filter naming users Clerk no longer has lists the others: the
// prune's check by id finds exactly the users that are gone.
func TestPruneCheckIgnoresUnknownUserIDsAsClerkDoes(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	f := newFakeClerk(t, 30)
	mustSync(t, app, f, syncOptions{})
	ageClients(t, app, 2*pruneMargin)
	f.edit(func(f *fakeClerk) {
		f.RemoveUser("user_fake000004")
		f.RemoveUser("user_fake000017")
	})
	counts := mustSync(t, app, f, syncOptions{Prune: true})
	if counts.Deleted != 2 || clientOf(t, app, "user_fake000004") != nil || clientOf(t, app, "user_fake000017") != nil {
		t.Fatalf("pruned %d, want exactly the 2 gone users", counts.Deleted)
	}
}
