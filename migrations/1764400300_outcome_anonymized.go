package migrations

import (
	"slices"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(addAnonymizedOutcome, removeAnonymizedOutcome)
}

// addAnonymizedOutcome lets the delivery log record a deletion that kept
// the client, anonymized.
func addAnonymizedOutcome(app core.App) error {
	return editOutcomes(app, func(values []string) []string {
		if slices.Contains(values, OutcomeAnonymized) {
			return values
		}
		return append(values, OutcomeAnonymized)
	})
}

func removeAnonymizedOutcome(app core.App) error {
	return editOutcomes(app, func(values []string) []string {
		return slices.DeleteFunc(values, func(v string) bool { return v == OutcomeAnonymized })
	})
}

func editOutcomes(app core.App, edit func([]string) []string) error {
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
