package migrations

import (
	"slices"

	"github.com/pocketbase/pocketbase/core"
)

// addOutcome is a migration that lets clerk_events' outcome field hold value.
func addOutcome(value string) func(core.App) error {
	return func(app core.App) error {
		return editOutcomes(app, func(values []string) []string {
			if slices.Contains(values, value) {
				return values
			}
			return append(values, value)
		})
	}
}

// removeOutcome is addOutcome's down migration.
func removeOutcome(value string) func(core.App) error {
	return func(app core.App) error {
		return editOutcomes(app, func(values []string) []string {
			return slices.DeleteFunc(values, func(v string) bool { return v == value })
		})
	}
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
