package migrations

import (
	"slices"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(addSignedOutOutcome, removeSignedOutOutcome)
}

// addSignedOutOutcome lets the delivery log record an ended session
// (session.revoked, session.ended, session.removed).
func addSignedOutOutcome(app core.App) error {
	return editOutcomeValues(app, func(values []string) []string {
		if slices.Contains(values, OutcomeSignedOut) {
			return values
		}
		return append(values, OutcomeSignedOut)
	})
}

func removeSignedOutOutcome(app core.App) error {
	return editOutcomeValues(app, func(values []string) []string {
		return slices.DeleteFunc(values, func(v string) bool { return v == OutcomeSignedOut })
	})
}

// editOutcomeValues changes the values of clerk_events' outcome field.
func editOutcomeValues(app core.App, edit func([]string) []string) error {
	c, err := app.FindCollectionByNameOrId(EventsCollection)
	if err != nil {
		return err
	}
	f, _ := c.Fields.GetByName(FieldOutcome).(*core.SelectField)
	if f == nil {
		return nil
	}
	f.Values = edit(slices.Clone(f.Values))
	return app.Save(c)
}
