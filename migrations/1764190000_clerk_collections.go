// Package migrations defines PocketClerk's collections in Go, so every
// environment gets the same schema from the binary alone.
package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(createClerkCollections, dropClerkCollections)
}

// OwnRecordRule lets a signed-in client read its own record and nothing
// else. It names the collection: a record of another auth collection may
// have the same id.
const OwnRecordRule = `@request.auth.collectionName = "` + ClientsCollection + `" && id = @request.auth.id`

func createClerkCollections(app core.App) error {
	for _, c := range []*core.Collection{clientsCollection(), eventsCollection(), tombstonesCollection()} {
		if err := app.Save(c); err != nil {
			return err
		}
	}
	return nil
}

func dropClerkCollections(app core.App) error {
	return deleteCollections(app, TombstonesCollection, EventsCollection, ClientsCollection)
}

// clientsCollection is one auth record per Clerk user. Clerk owns sign-in,
// so PocketBase's own password, OTP and OAuth2 flows stay off.
func clientsCollection() *core.Collection {
	c := core.NewAuthCollection(ClientsCollection)
	c.ListRule = ptr(OwnRecordRule)
	c.ViewRule = ptr(OwnRecordRule)
	// Create, update and delete stay nil: superusers only; the sync owns these records.
	c.PasswordAuth.Enabled = false
	c.OAuth2.Enabled = false
	c.OTP.Enabled = false
	c.MFA.Enabled = false

	// Clerk has phone-only and username-only users.
	c.Fields.GetByName(core.FieldNameEmail).(*core.EmailField).Required = false

	c.Fields.Add(
		&core.TextField{Name: FieldClerkID, Required: true, Presentable: true},
		&core.TextField{Name: FieldPhone},
		&core.TextField{Name: FieldFirstName},
		&core.TextField{Name: FieldLastName},
		&core.TextField{Name: FieldUsername},
		&core.TextField{Name: FieldImageURL},
		&core.JSONField{Name: FieldPublicMetadata},
		&core.JSONField{Name: FieldPrivateMetadata, Hidden: true},
		&core.TextField{Name: FieldExternalID},
		&core.BoolField{Name: FieldBanned},
		&core.DateField{Name: FieldLastSignInAt},
		&core.DateField{Name: FieldClerkCreatedAt},
		&core.DateField{Name: FieldClerkUpdatedAt},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_clients_clerkId", true, FieldClerkID, "")
	return c
}

// eventsCollection is the delivery log: one row per Svix message, written in
// the same transaction as the message's effect, so a row means "applied".
func eventsCollection() *core.Collection {
	c := core.NewBaseCollection(EventsCollection)
	c.Fields.Add(
		&core.TextField{Name: FieldSvixID, Required: true, Presentable: true},
		&core.TextField{Name: FieldType, Required: true},
		&core.TextField{Name: FieldClerkID},
		&core.SelectField{Name: FieldOutcome, Required: true, MaxSelect: 1, Values: Outcomes},
		&core.DateField{Name: FieldEventAt},
		&core.AutodateField{Name: "created", OnCreate: true},
	)
	c.AddIndex("idx_clerk_events_svixId", true, FieldSvixID, "")
	c.AddIndex("idx_clerk_events_clerkId", false, FieldClerkID, "")
	c.AddIndex("idx_clerk_events_created", false, "created", "")
	return c
}

// tombstonesCollection remembers deleted Clerk users for good: Clerk never
// reuses a user id, and a late user.updated must not bring a user back.
func tombstonesCollection() *core.Collection {
	c := core.NewBaseCollection(TombstonesCollection)
	c.Fields.Add(
		&core.TextField{Name: FieldClerkID, Required: true, Presentable: true},
		&core.DateField{Name: FieldDeletedAt},
		&core.AutodateField{Name: "created", OnCreate: true},
	)
	c.AddIndex("idx_clerk_tombstones_clerkId", true, FieldClerkID, "")
	return c
}

func ptr[T any](v T) *T { return &v }
