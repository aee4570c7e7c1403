package migrations

import (
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
)

func TestDefaultUsersCollectionIsRemovedOnlyWhenEmpty(t *testing.T) {
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	if _, err := app.FindCollectionByNameOrId(DefaultUsersCollection); err == nil {
		t.Fatal("a fresh install still has PocketBase's users collection and its public sign-up")
	}

	// An install that used it: going down gives it back; with a record in
	// it, going up again keeps it.
	if err := reopenOpenSignUp(app); err != nil {
		t.Fatal(err)
	}
	users, err := app.FindCollectionByNameOrId(DefaultUsersCollection)
	if err != nil {
		t.Fatal(err)
	}
	record := core.NewRecord(users)
	record.SetEmail("someone@example.org")
	record.SetPassword("a long password")
	if err := app.Save(record); err != nil {
		t.Fatal(err)
	}
	if err := closeOpenSignUp(app); err != nil {
		t.Fatal(err)
	}
	if _, err := app.FindRecordById(DefaultUsersCollection, record.Id); err != nil {
		t.Fatalf("a users collection holding records was not kept: %v", err)
	}

	// Emptied, it goes.
	if err := app.Delete(record); err != nil {
		t.Fatal(err)
	}
	if err := closeOpenSignUp(app); err != nil {
		t.Fatal(err)
	}
	if _, err := app.FindCollectionByNameOrId(DefaultUsersCollection); err == nil {
		t.Fatal("an empty users collection was kept")
	}
}

func TestClientsRulesNameTheirCollectionUnlessTheOwnerChangedThem(t *testing.T) {
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()

	// A database from before: the old rule on list, an owner's own on view.
	clients, _ := app.FindCollectionByNameOrId(ClientsCollection)
	clients.ListRule = ptr(legacyOwnRecordRule)
	clients.ViewRule = ptr("id = @request.auth.id && verified = true")
	if err := app.Save(clients); err != nil {
		t.Fatal(err)
	}
	if err := closeOpenSignUp(app); err != nil {
		t.Fatal(err)
	}
	clients, _ = app.FindCollectionByNameOrId(ClientsCollection)
	if *clients.ListRule != OwnRecordRule || *clients.ViewRule != "id = @request.auth.id && verified = true" {
		t.Fatalf("list %q, view %q", *clients.ListRule, *clients.ViewRule)
	}
}
