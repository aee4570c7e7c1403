package migrations

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
)

func TestBillingMigrationGoesDownAlone(t *testing.T) {
	t.Parallel()
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()

	for _, name := range []string{BillingPlansCollection, SubscriptionItemsCollection, PaymentAttemptsCollection, EntitlementsCollection} {
		c, err := app.FindCollectionByNameOrId(name)
		if err != nil {
			t.Fatal(err)
		}
		if c.ListRule == nil || c.ViewRule == nil || c.CreateRule != nil || c.UpdateRule != nil || c.DeleteRule != nil {
			t.Fatalf("%s: list/view must be rules and writes superuser-only: %+v", c.Name, c)
		}
	}
	plans, _ := app.FindCollectionByNameOrId(BillingPlansCollection)
	items, _ := app.FindCollectionByNameOrId(SubscriptionItemsCollection)
	for _, name := range []string{FieldClient, FieldOrganization} {
		if f, _ := items.Fields.GetByName(name).(*core.RelationField); f == nil || !f.CascadeDelete {
			t.Fatalf("subscription_items.%s is not a cascading relation", name)
		}
	}
	if f, _ := items.Fields.GetByName(FieldPlan).(*core.RelationField); f == nil || f.CascadeDelete || f.CollectionId != plans.Id {
		t.Fatal("subscription_items.plan must be a relation to billing_plans that a plan's deletion clears")
	}
	// The view keeps the relations typed, so that rules and expand follow them.
	view, _ := app.FindCollectionByNameOrId(EntitlementsCollection)
	want := map[string]string{FieldClient: core.FieldTypeRelation, FieldOrganization: core.FieldTypeRelation,
		FieldFeature: core.FieldTypeText, FieldPlanSlug: core.FieldTypeText, FieldStatus: core.FieldTypeText, FieldUntil: core.FieldTypeDate}
	for name, typ := range want {
		if f := view.Fields.GetByName(name); f == nil || f.Type() != typ {
			t.Fatalf("entitlements.%s: want a %s field, got %v", name, typ, f)
		}
	}

	// Called directly: later migrations may follow this one.
	if err := dropBillingCollections(app); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{BillingPlansCollection, SubscriptionItemsCollection, PaymentAttemptsCollection, EntitlementsCollection} {
		if _, err := app.FindCollectionByNameOrId(name); err == nil {
			t.Fatalf("%s still there after down", name)
		}
	}
	for _, name := range []string{ClientsCollection, OrganizationsCollection} {
		if _, err := app.FindCollectionByNameOrId(name); err != nil {
			t.Fatalf("%s went down with billing: %v", name, err)
		}
	}
	if err := createBillingCollections(app); err != nil {
		t.Fatal(err)
	}
	if _, err := app.FindCollectionByNameOrId(EntitlementsCollection); err != nil {
		t.Fatalf("entitlements missing after up again: %v", err)
	}
}
