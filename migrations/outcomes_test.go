package migrations_test

import (
	"slices"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// TestEveryOutcomeIsASelectValue: the delivery log is written with raw SQL,
// so only the dashboard's select field says which outcomes exist.
func TestEveryOutcomeIsASelectValue(t *testing.T) {
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer app.Cleanup()
	events, err := app.FindCollectionByNameOrId(migrations.EventsCollection)
	if err != nil {
		t.Fatal(err)
	}
	values := events.Fields.GetByName(migrations.FieldOutcome).(*core.SelectField).Values
	for _, o := range migrations.Outcomes {
		if !slices.Contains(values, o) {
			t.Errorf("outcome %q is not among the field's values %v", o, values)
		}
	}
	if !slices.Contains(values, migrations.OutcomeSignedOut) {
		t.Fatalf("%q missing: %v", migrations.OutcomeSignedOut, values)
	}
}
