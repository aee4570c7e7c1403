package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// An organization deleted in Clerk that a required relation of the owner's
// points to is kept, marked deleted, as a client is kept anonymized.
func init() {
	m.Register(func(app core.App) error {
		c, err := app.FindCollectionByNameOrId(OrganizationsCollection)
		if err != nil {
			return err
		}
		c.Fields.Add(&core.DateField{Name: FieldDeletedAt, Help: clerkFieldHelp + ". Set when the organization was deleted in Clerk and this record was kept, because a required relation points to it"})
		return app.Save(c)
	}, func(app core.App) error {
		c, err := app.FindCollectionByNameOrId(OrganizationsCollection)
		if err != nil {
			return err
		}
		c.Fields.RemoveByName(FieldDeletedAt)
		return app.Save(c)
	})
}
