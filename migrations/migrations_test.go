package migrations_test

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/migrations"
)

var collections = []string{"clients", "clerk_events", "clerk_tombstones", "client_profiles",
	migrations.BillingPlansCollection, migrations.SubscriptionItemsCollection, migrations.PaymentAttemptsCollection, migrations.EntitlementsCollection,
	migrations.DeliveryFailureHoursCollection, migrations.DeliveryFailuresCollection, migrations.SyncRunsCollection,
	migrations.EndedSessionsCollection}

func TestMigrationsGoDownAndUpAgain(t *testing.T) {
	t.Parallel()
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()

	for _, name := range collections {
		if _, err := app.FindCollectionByNameOrId(name); err != nil {
			t.Fatalf("%s missing after up: %v", name, err)
		}
	}
	clients, _ := app.FindCollectionByNameOrId("clients")
	if clients.PasswordAuth.Enabled || clients.ListRule == nil || *clients.ListRule != `@request.auth.collectionName = "clients" && id = @request.auth.id` || clients.CreateRule != nil {
		t.Fatalf("clients rules or auth options are off: %+v", clients)
	}
	if f, _ := clients.Fields.GetByName("privateMetadata").(*core.JSONField); f == nil || !f.Hidden {
		t.Fatal("privateMetadata is not hidden")
	}

	runner := core.NewMigrationsRunner(app, core.AppMigrations)
	// Every migration of this package, newest first.
	if _, err := runner.Down(len(core.AppMigrations.Items())); err != nil {
		t.Fatal(err)
	}
	for _, name := range collections {
		if _, err := app.FindCollectionByNameOrId(name); err == nil {
			t.Fatalf("%s still there after down", name)
		}
	}
	if _, err := runner.Up(); err != nil {
		t.Fatal(err)
	}
	for _, name := range collections {
		if _, err := app.FindCollectionByNameOrId(name); err != nil {
			t.Fatalf("%s missing after up again: %v", name, err)
		}
	}
}

// A database made before the whole Clerk user was kept, holding a client,
// is upgraded without losing it, and goes down again.
func TestUpgradeADatabaseHoldingClients(t *testing.T) {
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	runner := core.NewMigrationsRunner(app, core.AppMigrations)
	hasField := func(name string) bool {
		c, err := app.FindCollectionByNameOrId("clients")
		if err != nil {
			t.Fatal(err)
		}
		return c.Fields.GetByName(name) != nil
	}
	ruleOpen := func() bool {
		c, _ := app.FindCollectionByNameOrId("clients")
		return c.UpdateRule != nil
	}
	// Down to the first migration's schema.
	for hasField("clerkUser") || hasField("deletedAt") || ruleOpen() {
		if _, err := runner.Down(1); err != nil {
			t.Fatal(err)
		}
	}
	clients, _ := app.FindCollectionByNameOrId("clients")
	old := core.NewRecord(clients)
	old.Set("clerkId", "user_2old")
	old.Set("firstName", "Olga")
	old.SetEmail("olga@example.org")
	old.SetRandomPassword()
	if err := app.Save(old); err != nil {
		t.Fatal(err)
	}

	if _, err := runner.Up(); err != nil {
		t.Fatal(err)
	}
	client, err := app.FindRecordById("clients", old.Id)
	if err != nil || client.GetString("firstName") != "Olga" || client.Email() != "olga@example.org" {
		t.Fatalf("the client after the upgrade: %v %v", client, err)
	}
	clients, _ = app.FindCollectionByNameOrId("clients")
	if clients.UpdateRule == nil || *clients.UpdateRule != `@request.auth.collectionName = "clients" && id = @request.auth.id` {
		t.Fatalf("update rule: %v", clients.UpdateRule)
	}
	if f, _ := clients.Fields.GetByName("clerkUser").(*core.JSONField); f == nil || !f.Hidden {
		t.Fatal("clerkUser is missing or not hidden")
	}
	if clients.AuthAlert.Enabled {
		t.Fatal("login alerts are on")
	}
	names := clients.Fields.FieldNames()
	if names[1] != "firstName" || names[4] != "email" || names[5] != "phone" {
		t.Fatalf("the dashboard's field order: %v", names)
	}
	if f := clients.Fields.GetByName("clerkId").(*core.TextField); f.Presentable {
		t.Fatal("clerkId is still presentable")
	}
	if f := clients.Fields.GetByName("email").(*core.EmailField); !f.Presentable {
		t.Fatal("email is not presentable")
	}
	for _, outcome := range clientsOutcomes(t, app) {
		if outcome == "anonymized" {
			return
		}
	}
	t.Fatal("clerk_events does not accept the anonymized outcome")
}

func clientsOutcomes(t *testing.T, app core.App) []string {
	c, err := app.FindCollectionByNameOrId("clerk_events")
	if err != nil {
		t.Fatal(err)
	}
	return c.Fields.GetByName("outcome").(*core.SelectField).Values
}
