package migrations_test

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/migrations"
)

var collections = []string{"clients", "clerk_events", "clerk_tombstones",
	migrations.DeliveryFailureHoursCollection, migrations.DeliveryFailuresCollection, migrations.SyncRunsCollection}

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
	if clients.PasswordAuth.Enabled || clients.ListRule == nil || *clients.ListRule != "id = @request.auth.id" || clients.CreateRule != nil {
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
