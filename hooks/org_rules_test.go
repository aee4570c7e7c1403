package hooks

import (
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// The README's projects recipe, word for word (TestReadmeHasTheProjectsRecipe).
const (
	recipeProjectsMemberRule = `@request.auth.collectionName = "clients" && organization.memberships_via_organization.client ?= @request.auth.id`
	recipeProjectsAdminRule  = `@request.auth.collectionName = "clients" && organization.memberships_via_organization.client ?= @request.auth.id && organization.memberships_via_organization.role ?= "org:admin"`
	// recipeProjectsUpdateRule also keeps a project in its organization.
	recipeProjectsUpdateRule = recipeProjectsAdminRule + ` && (@request.body.organization:isset = false || @request.body.organization = organization)`
	// wrongProjectsAdminRule tests membership and role on two different
	// rows: any membership of the project's organization for the client, and
	// any admin membership of the client, in whichever organization.
	wrongProjectsAdminRule = `@request.auth.collectionName = "clients" && @collection.memberships:m1.organization ?= organization && @collection.memberships:m1.client ?= @request.auth.id && @collection.memberships:m2.client ?= @request.auth.id && @collection.memberships:m2.role ?= "org:admin"`
)

// tenancy is two organizations: alice is a plain member of A and an admin
// of B, bob is A's admin, carol belongs to none.
type tenancy struct {
	app               *tests.TestApp
	url               string
	orgA, orgB        *core.Record
	alice, bob, carol *core.Record
}

func newTenancy(t *testing.T) *tenancy {
	t.Helper()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	for i, id := range []string{"user_alice", "user_bob", "user_carol"} {
		mustDeliver(t, srv.URL, "msg_user"+id, clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Example", int64(1000+i))), outcomeCreated)
	}
	for _, m := range []struct{ id, org, user, role string }{
		{"orgmem_alice_a", "org_a", "user_alice", "org:member"},
		{"orgmem_alice_b", "org_b", "user_alice", "org:admin"},
		{"orgmem_bob_a", "org_a", "user_bob", "org:admin"},
	} {
		mustDeliver(t, srv.URL, "msg_"+m.id, clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership(m.id, m.org, m.user, m.role, 1000)), outcomeCreated)
	}
	return &tenancy{
		app: app, url: srv.URL,
		orgA: orgOf(t, app, "org_a"), orgB: orgOf(t, app, "org_b"),
		alice: clientOf(t, app, "user_alice"), bob: clientOf(t, app, "user_bob"), carol: clientOf(t, app, "user_carol"),
	}
}

func sorted(s []string) []string {
	slices.Sort(s)
	return s
}

func TestOrganizationRulesShowMembersOnly(t *testing.T) {
	t.Parallel()
	ten := newTenancy(t)
	for name, c := range map[string]struct {
		token       string
		orgs, mates []string
	}{
		"alice": {authToken(t, ten.alice), []string{"org_a", "org_b"}, []string{"orgmem_alice_a", "orgmem_alice_b", "orgmem_bob_a"}},
		"bob":   {authToken(t, ten.bob), []string{"org_a"}, []string{"orgmem_alice_a", "orgmem_bob_a"}},
		"carol": {authToken(t, ten.carol), nil, nil},
		"guest": {"", nil, nil},
	} {
		if got := sorted(listAs(t, ten.url, c.token, migrations.OrganizationsCollection, "clerkId")); !slices.Equal(got, c.orgs) {
			t.Errorf("%s sees organizations %v, want %v", name, got, c.orgs)
		}
		if got := sorted(listAs(t, ten.url, c.token, migrations.MembershipsCollection, "clerkId")); !slices.Equal(got, c.mates) {
			t.Errorf("%s sees memberships %v, want %v", name, got, c.mates)
		}
	}

	// Writes are superuser-only, whatever the membership.
	req, _ := http.NewRequest(http.MethodPatch, ten.url+"/api/collections/organizations/records/"+ten.orgA.Id, strings.NewReader(`{"name":"mine"}`))
	req.Header.Set("Authorization", authToken(t, ten.bob))
	req.Header.Set("Content-Type", "application/json")
	if r := do(t, req); r.Status < 400 {
		t.Fatalf("an admin member changed the organization: %d", r.Status)
	}
	if orgOf(t, ten.app, "org_a").GetString("name") == "mine" {
		t.Fatal("organization changed")
	}
}

// projectsCollection is the README's recipe, with adminRule for writes.
func projectsCollection(t *testing.T, app core.App, adminRule, updateRule string) {
	t.Helper()
	orgs, err := app.FindCollectionByNameOrId(migrations.OrganizationsCollection)
	if err != nil {
		t.Fatal(err)
	}
	c := core.NewBaseCollection("projects")
	c.Fields.Add(
		&core.RelationField{Name: "organization", CollectionId: orgs.Id, Required: true, MaxSelect: 1, CascadeDelete: true},
		&core.TextField{Name: "title"},
	)
	c.ListRule = ptr(recipeProjectsMemberRule)
	c.ViewRule = ptr(recipeProjectsMemberRule)
	c.CreateRule = ptr(adminRule)
	c.UpdateRule = ptr(updateRule)
	c.DeleteRule = ptr(adminRule)
	if err := app.Save(c); err != nil {
		t.Fatal(err)
	}
}

func ptr[T any](v T) *T { return &v }

// sendAs sends a JSON request as record and returns the status.
func sendAs(t *testing.T, url string, record *core.Record, method, path, body string) int {
	t.Helper()
	req, _ := http.NewRequest(method, url+path, strings.NewReader(body))
	req.Header.Set("Authorization", authToken(t, record))
	req.Header.Set("Content-Type", "application/json")
	return do(t, req).Status
}

func createProject(t *testing.T, ten *tenancy, as, org *core.Record) int {
	t.Helper()
	return sendAs(t, ten.url, as, http.MethodPost, "/api/collections/projects/records", `{"organization":"`+org.Id+`","title":"plan"}`)
}

func TestProjectsRecipeReadByMembersWrittenByTheirAdmins(t *testing.T) {
	t.Parallel()
	ten := newTenancy(t)
	projectsCollection(t, ten.app, recipeProjectsAdminRule, recipeProjectsUpdateRule)

	if s := createProject(t, ten, ten.bob, ten.orgA); s != http.StatusOK {
		t.Fatalf("A's admin could not create a project of A: %d", s)
	}
	if s := createProject(t, ten, ten.alice, ten.orgB); s != http.StatusOK {
		t.Fatalf("B's admin could not create a project of B: %d", s)
	}
	// Alice is an admin, of B, and a member of A: that is not an admin of A.
	if s := createProject(t, ten, ten.alice, ten.orgA); s == http.StatusOK {
		t.Fatal("B's admin created a project of A, where she is a plain member")
	}
	projectA, err := ten.app.FindFirstRecordByData("projects", "organization", ten.orgA.Id)
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/collections/projects/records/" + projectA.Id
	if s := sendAs(t, ten.url, ten.alice, http.MethodPatch, path, `{"title":"hijacked"}`); s == http.StatusOK {
		t.Fatal("B's admin changed a project of A")
	}
	if s := sendAs(t, ten.url, ten.alice, http.MethodDelete, path, ``); s < 400 {
		t.Fatal("B's admin deleted a project of A")
	}
	// A's admin cannot move A's project into B, where he is nobody.
	if s := sendAs(t, ten.url, ten.bob, http.MethodPatch, path, `{"organization":"`+ten.orgB.Id+`"}`); s == http.StatusOK {
		t.Fatal("A's admin moved a project out of A")
	}
	if s := sendAs(t, ten.url, ten.bob, http.MethodPatch, path, `{"title":"renamed"}`); s != http.StatusOK {
		t.Fatalf("A's admin could not update A's project: %d", s)
	}

	for name, c := range map[string]struct {
		token string
		want  int
	}{
		"alice": {authToken(t, ten.alice), 2}, // a member of A and of B
		"bob":   {authToken(t, ten.bob), 1},
		"carol": {authToken(t, ten.carol), 0},
		"guest": {"", 0},
	} {
		if got := listAs(t, ten.url, c.token, "projects", "title"); len(got) != c.want {
			t.Errorf("%s sees %d projects %v, want %d", name, len(got), got, c.want)
		}
	}
	if got := listAs(t, ten.url, authToken(t, ten.alice), "projects", "title"); !slices.Contains(got, "renamed") {
		t.Fatalf("alice does not see A's project: %v", got)
	}
}

// The tempting form with two aliases matches two different membership rows,
// and lets B's admin write A's projects: keep the recipe's form.
func TestProjectsWrongRuleLetsAnotherOrganizationsAdminWrite(t *testing.T) {
	t.Parallel()
	ten := newTenancy(t)
	projectsCollection(t, ten.app, wrongProjectsAdminRule, wrongProjectsAdminRule)
	if s := createProject(t, ten, ten.alice, ten.orgA); s != http.StatusOK {
		t.Fatalf("expected the wrong rule to let B's admin create A's project, got %d", s)
	}
}

func TestReadmeHasTheProjectsRecipe(t *testing.T) {
	t.Parallel()
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, rule := range []string{recipeProjectsMemberRule, recipeProjectsAdminRule, `@request.body.organization:isset = false || @request.body.organization = organization`, wrongProjectsAdminRule} {
		if !strings.Contains(string(readme), rule) {
			t.Errorf("README lacks the rule %s", rule)
		}
	}
}

// Clerk's fields of organizations and memberships are the sync's, even for
// a superuser; fields the owner adds are the owner's.
func TestOrganizationClerkFieldsAreTheSyncs(t *testing.T) {
	ten := newTenancy(t)
	orgs, err := ten.app.FindCollectionByNameOrId(migrations.OrganizationsCollection)
	if err != nil {
		t.Fatal(err)
	}
	orgs.Fields.Add(&core.TextField{Name: "plan"})
	if err := ten.app.Save(orgs); err != nil {
		t.Fatal(err)
	}
	su := newSuperuserToken(t, ten.app)
	member := membershipOf(t, ten.app, "orgmem_alice_a")
	for _, c := range []struct {
		method, path, body, field string
	}{
		{http.MethodPatch, "/api/collections/organizations/records/" + ten.orgA.Id, `{"name":"Mine"}`, "name"},
		{http.MethodPatch, "/api/collections/organizations/records/" + ten.orgA.Id, `{"clerkUpdatedAt":"9999-12-31 23:59:59.999Z"}`, "clerkUpdatedAt"},
		{http.MethodPatch, "/api/collections/memberships/records/" + member.Id, `{"role":"org:admin"}`, "role"},
		{http.MethodPatch, "/api/collections/memberships/records/" + member.Id, `{"client":"` + ten.bob.Id + `"}`, "client"},
		{http.MethodPost, "/api/collections/organizations/records", `{"clerkId":"org_made_up","name":"Fake"}`, "clerkId"},
	} {
		r := send(t, c.method, ten.url+c.path, su, c.body)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("%s %s %s: %d %v", c.method, c.path, c.body, r.Status, r.Body)
		}
		mustContain(t, r.Body["data"], c.field)
	}
	if got := orgOf(t, ten.app, "org_a"); got.GetString("name") != ten.orgA.GetString("name") || got.GetString("clerkUpdatedAt") != ten.orgA.GetString("clerkUpdatedAt") {
		t.Fatal("a refused request changed the organization")
	}
	if membershipOf(t, ten.app, "orgmem_alice_a").GetString("role") != "org:member" || count(t, ten.app, migrations.OrganizationsCollection, "") != 2 {
		t.Fatal("a refused request changed something")
	}

	// The owner's field, sent alone or with the record as it is.
	whole := `{"name":"` + ten.orgA.GetString("name") + `","plan":"pro"}`
	if r := send(t, http.MethodPatch, ten.url+"/api/collections/organizations/records/"+ten.orgA.Id, su, whole); r.Status != http.StatusOK {
		t.Fatalf("the owner's field: %d %v", r.Status, r.Body)
	}
	if got := orgOf(t, ten.app, "org_a").GetString("plan"); got != "pro" {
		t.Fatalf("plan %q", got)
	}
}
