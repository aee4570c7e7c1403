package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(createClientProfiles, dropClientProfiles)
}

// signedInClientRule admits any signed-in client, and no record of
// another auth collection.
const signedInClientRule = `@request.auth.collectionName = "` + ClientsCollection + `"`

// createClientProfiles adds the public part of every client, for the
// social features that syncing users is mostly for: another user's name
// and avatar. Banned and deleted (anonymized) users are left out; the view
// has no other column, so no email, phone or metadata can be reached
// through it by fields, filter or sort.
func createClientProfiles(app core.App) error {
	c := core.NewViewCollection(ClientProfilesCollection)
	c.ViewQuery = "SELECT id, " + FieldUsername + ", " + FieldFirstName + ", " + FieldLastName + ", " + FieldImageURL +
		" FROM " + ClientsCollection +
		" WHERE " + FieldBanned + " = FALSE AND " + FieldDeletedAt + " = ''"
	c.ListRule = ptr(signedInClientRule)
	c.ViewRule = ptr(signedInClientRule)
	return app.Save(c)
}

func dropClientProfiles(app core.App) error {
	c, err := app.FindCollectionByNameOrId(ClientProfilesCollection)
	if err != nil {
		return err
	}
	return app.Delete(c)
}
