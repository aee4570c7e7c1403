package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(failuresKeepVerifiedIDs, failuresKeepSentIDs)
}

const (
	verifiedIDHelp = "The svix-id of the latest such delivery, once its signature was verified; empty for a request refused before that."
	sentIDHelp     = "The svix-id header of the latest such delivery, as sent (unverified for a 401)."
)

// failuresKeepVerifiedIDs forgets the ids kept as sent: a request refused
// before its signature was checked chose its own, and the Clerk page shows
// only what the server decided.
func failuresKeepVerifiedIDs(app core.App) error {
	if err := setSvixIDHelp(app, verifiedIDHelp); err != nil {
		return err
	}
	_, err := app.DB().NewQuery("UPDATE " + DeliveryFailuresCollection + " SET " + FieldSvixID + " = ''").Execute()
	return err
}

func failuresKeepSentIDs(app core.App) error {
	return setSvixIDHelp(app, sentIDHelp)
}

func setSvixIDHelp(app core.App, help string) error {
	c, err := app.FindCollectionByNameOrId(DeliveryFailuresCollection)
	if err != nil {
		return err
	}
	f, ok := c.Fields.GetByName(FieldSvixID).(*core.TextField)
	if !ok {
		return nil
	}
	f.Help = help
	return app.Save(c)
}
