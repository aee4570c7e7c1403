package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

// clerkFieldHelp is the dashboard's help text under every Clerk field.
const clerkFieldHelp = "Synced from Clerk: change it in Clerk"

// ownClientUpdateRule lets a signed-in client change its own record: the
// fields the app's owner adds, since the sync's own fields refuse every
// change made through the API.
const ownClientUpdateRule = `@request.auth.collectionName = "` + ClientsCollection + `" && id = @request.auth.id`

func init() {
	m.Register(openClientsToOwnerFields, closeClientsToOwnerFields)
}

// openClientsToOwnerFields marks the Clerk fields as such and, unless the
// owner already chose an update rule, lets each client edit its own record.
func openClientsToOwnerFields(app core.App) error {
	c, err := app.FindCollectionByNameOrId(ClientsCollection)
	if err != nil {
		return err
	}
	for _, name := range ClerkFields {
		setFieldHelp(c.Fields.GetByName(name), clerkFieldHelp)
	}
	if c.UpdateRule == nil {
		c.UpdateRule = ptr(ownClientUpdateRule)
	}
	return app.Save(c)
}

func closeClientsToOwnerFields(app core.App) error {
	c, err := app.FindCollectionByNameOrId(ClientsCollection)
	if err != nil {
		return err
	}
	for _, name := range ClerkFields {
		setFieldHelp(c.Fields.GetByName(name), "")
	}
	if c.UpdateRule != nil && *c.UpdateRule == ownClientUpdateRule {
		c.UpdateRule = nil
	}
	return app.Save(c)
}

// setFieldHelp sets the help text of the field types clients uses; nil
// (a field a later migration adds) is skipped.
func setFieldHelp(f core.Field, help string) {
	switch f := f.(type) {
	case *core.TextField:
		f.Help = help
	case *core.EmailField:
		f.Help = help
	case *core.BoolField:
		f.Help = help
	case *core.DateField:
		f.Help = help
	case *core.JSONField:
		f.Help = help
	case *core.PasswordField:
		f.Help = help
	}
}
