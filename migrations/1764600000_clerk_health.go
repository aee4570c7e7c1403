package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(createHealthCollections, dropHealthCollections)
}

// The dashboard's Clerk page reads these; only the plugin writes them, so
// every rule stays superuser-only.
func createHealthCollections(app core.App) error {
	for _, c := range []*core.Collection{failureHoursCollection(), failuresCollection(), syncRunsCollection()} {
		if err := app.Save(c); err != nil {
			return err
		}
	}
	return indexEventsByOutcome(app, true)
}

// The delivery log's index on created (made by the first migration), and
// the one that replaces it.
const (
	eventsCreatedIndex        = "idx_clerk_events_created"
	eventsCreatedOutcomeIndex = "idx_clerk_events_created_outcome"
)

// indexEventsByOutcome swaps the delivery log's index on created for one on
// (created, outcome), which answers the status's count per hour and outcome
// from the index alone: still one index entry per delivery, slightly wider.
func indexEventsByOutcome(app core.App, withOutcome bool) error {
	events, err := app.FindCollectionByNameOrId(EventsCollection)
	if err != nil {
		return err
	}
	events.RemoveIndex(eventsCreatedIndex)
	events.RemoveIndex(eventsCreatedOutcomeIndex)
	if withOutcome {
		events.AddIndex(eventsCreatedOutcomeIndex, false, "created,"+FieldOutcome, "")
	} else {
		events.AddIndex(eventsCreatedIndex, false, "created", "")
	}
	return app.Save(events)
}

func dropHealthCollections(app core.App) error {
	if err := indexEventsByOutcome(app, false); err != nil {
		return err
	}
	return deleteCollections(app, SyncRunsCollection, DeliveryFailuresCollection, DeliveryFailureHoursCollection)
}

// failureHoursCollection counts the deliveries answered with an error, per
// hour and status: a flood of unsigned requests adds to a count, never a row.
func failureHoursCollection() *core.Collection {
	c := core.NewBaseCollection(DeliveryFailureHoursCollection)
	c.Fields.Add(
		&core.DateField{Name: FieldHour, Required: true, Presentable: true,
			Help: "The hour (UTC) the deliveries arrived in."},
		&core.NumberField{Name: FieldStatus, Required: true, OnlyInt: true,
			Help: "The HTTP status of the answer: 401 unsigned or wrongly signed, 400 not a Clerk event, 413 too large, 5xx not applied (Svix retries)."},
		&core.NumberField{Name: FieldCount, OnlyInt: true},
	)
	c.AddIndex("idx_clerk_failure_hours_hour_status", true, FieldHour+","+FieldStatus, "")
	return c
}

// failuresCollection keeps the newest distinct reasons deliveries were
// refused or failed for.
func failuresCollection() *core.Collection {
	c := core.NewBaseCollection(DeliveryFailuresCollection)
	c.Fields.Add(
		&core.NumberField{Name: FieldStatus, Required: true, OnlyInt: true},
		&core.TextField{Name: FieldReason, Required: true, Presentable: true, Max: 1000,
			Help: "The answer's message; for a 5xx, the error that stopped the delivery."},
		&core.TextField{Name: FieldSvixID, Max: 200,
			Help: sentIDHelp},
		&core.NumberField{Name: FieldCount, OnlyInt: true},
		&core.DateField{Name: FieldFirstAt},
		&core.DateField{Name: FieldLastAt},
	)
	c.AddIndex("idx_clerk_failures_status_reason", true, FieldStatus+","+FieldReason, "")
	c.AddIndex("idx_clerk_failures_lastAt", false, FieldLastAt, "")
	return c
}

// syncRunsCollection records each run of "clerk sync", whoever started it.
func syncRunsCollection() *core.Collection {
	c := core.NewBaseCollection(SyncRunsCollection)
	c.Fields.Add(
		&core.SelectField{Name: FieldTrigger, Required: true, MaxSelect: 1, Values: Triggers},
		&core.BoolField{Name: FieldPrune},
		&core.BoolField{Name: FieldDryRun},
		&core.DateField{Name: FieldStartedAt, Required: true, Presentable: true},
		&core.DateField{Name: FieldFinishedAt, Help: "Empty while the run goes on, or when it was killed."},
		&core.JSONField{Name: FieldCounts, Help: "Users listed, created, updated, unchanged, skipped, deleted and failed."},
		&core.JSONField{Name: FieldPruned, Help: "The clients pruned, or that a dry run would prune."},
		&core.TextField{Name: FieldError, Max: 5000},
	)
	c.AddIndex("idx_clerk_sync_runs_startedAt", false, FieldStartedAt, "")
	return c
}
