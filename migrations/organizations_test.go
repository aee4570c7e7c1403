package migrations

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
)

func TestOrganizationsMigrationGoesDownAlone(t *testing.T) {
	t.Parallel()
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()

	orgs, err := app.FindCollectionByNameOrId("organizations")
	if err != nil {
		t.Fatal(err)
	}
	members, err := app.FindCollectionByNameOrId("memberships")
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []*core.Collection{orgs, members} {
		if c.ListRule == nil || c.ViewRule == nil || c.CreateRule != nil || c.UpdateRule != nil || c.DeleteRule != nil {
			t.Fatalf("%s: list/view must be rules and writes superuser-only: %+v", c.Name, c)
		}
		if f, _ := c.Fields.GetByName("privateMetadata").(*core.JSONField); f == nil || !f.Hidden {
			t.Fatalf("%s: privateMetadata is not hidden", c.Name)
		}
	}
	for _, name := range []string{"organization", "client"} {
		if f, _ := members.Fields.GetByName(name).(*core.RelationField); f == nil || !f.CascadeDelete {
			t.Fatalf("memberships.%s is not a cascading relation", name)
		}
	}

	// Called directly: later migrations may follow this one. Billing
	// refers to organizations, so it goes first.
	if err := dropBillingCollections(app); err != nil {
		t.Fatal(err)
	}
	if err := dropOrganizationCollections(app); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"organizations", "memberships"} {
		if _, err := app.FindCollectionByNameOrId(name); err == nil {
			t.Fatalf("%s still there after down", name)
		}
	}
	if _, err := app.FindCollectionByNameOrId("clients"); err != nil {
		t.Fatalf("clients went down with the organizations: %v", err)
	}
	if err := createOrganizationCollections(app); err != nil {
		t.Fatal(err)
	}
	if _, err := app.FindCollectionByNameOrId("memberships"); err != nil {
		t.Fatalf("memberships missing after up again: %v", err)
	}
}
