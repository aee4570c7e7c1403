package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
	"github.com/pocketbase/pocketbase/tools/types"
)

func init() {
	m.Register(closeOpenSignUp, reopenOpenSignUp)
}

// DefaultUsersCollection is PocketBase's own auth collection, created with
// public password sign-up. Clerk owns sign-up here.
const DefaultUsersCollection = "users"

// legacyOwnRecordRule is the rule clients shipped with: it admits a record
// of any auth collection whose id equals the client's, and PocketBase lets
// a sign-up choose its id.
const legacyOwnRecordRule = "id = @request.auth.id"

// closeOpenSignUp removes PocketBase's default "users" collection while it
// is empty (an owner who uses it keeps it; the server warns at start), and
// makes the clients rules name their collection.
func closeOpenSignUp(app core.App) error {
	if users, err := app.FindCollectionByNameOrId(DefaultUsersCollection); err == nil && users.IsAuth() {
		n, err := app.CountRecords(users)
		if err != nil {
			return err
		}
		if n == 0 {
			if err := app.Delete(users); err != nil {
				return err
			}
		}
	}
	return replaceClientsRules(app, legacyOwnRecordRule, OwnRecordRule)
}

func reopenOpenSignUp(app core.App) error {
	if err := replaceClientsRules(app, OwnRecordRule, legacyOwnRecordRule); err != nil {
		return err
	}
	if _, err := app.FindCollectionByNameOrId(DefaultUsersCollection); err == nil {
		return nil
	}
	return app.Save(defaultUsersCollection())
}

// replaceClientsRules replaces the rules of clients that are still from, and
// leaves the ones an owner wrote alone.
func replaceClientsRules(app core.App, from, to string) error {
	clients, err := app.FindCollectionByNameOrId(ClientsCollection)
	if err != nil {
		return err
	}
	for _, rule := range []**string{&clients.ListRule, &clients.ViewRule, &clients.CreateRule, &clients.UpdateRule, &clients.DeleteRule} {
		if *rule != nil && **rule == from {
			*rule = types.Pointer(to)
		}
	}
	return app.Save(clients)
}

// defaultUsersCollection is PocketBase's default "users" as its first
// migration creates it (migrations/1640988000_init.go), so that going down
// gives it back.
func defaultUsersCollection() *core.Collection {
	users := core.NewAuthCollection(DefaultUsersCollection, "_pb_users_auth_")
	ownerRule := legacyOwnRecordRule
	users.ListRule = types.Pointer(ownerRule)
	users.ViewRule = types.Pointer(ownerRule)
	users.CreateRule = types.Pointer("")
	users.UpdateRule = types.Pointer(ownerRule)
	users.DeleteRule = types.Pointer(ownerRule)
	users.Fields.Add(
		&core.TextField{Name: "name", Max: 255},
		&core.FileField{Name: "avatar", MaxSelect: 1, MimeTypes: []string{"image/jpeg", "image/png", "image/svg+xml", "image/gif", "image/webp"}},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	users.OAuth2.MappedFields.Name = "name"
	users.OAuth2.MappedFields.AvatarURL = "avatar"
	return users
}
