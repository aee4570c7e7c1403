package hooks

import (
	"errors"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// errDuplicate rolls back a delivery whose svix-id is already logged.
var errDuplicate = errors.New("svix-id already applied")

// logDelivery writes the log row directly: the log is this package's own
// record of deliveries, and skipping the record API keeps the write path short.
func logDelivery(txApp core.App, d delivery, result outcome) error {
	atMillis := d.At.UnixMilli()
	res, err := txApp.DB().NewQuery("INSERT INTO " + migrations.EventsCollection +
		" (id, svixId, type, clerkId, outcome, eventAt, created) VALUES ({:id}, {:svixId}, {:type}, {:clerkId}, {:outcome}, {:eventAt}, {:created})" +
		" ON CONFLICT (svixId) DO NOTHING").Bind(dbx.Params{
		"id":      core.GenerateDefaultRandomId(),
		"svixId":  d.SvixID,
		"type":    d.Type,
		"clerkId": d.clerkID(),
		"outcome": string(result),
		"eventAt": millis(&atMillis).String(),
		"created": types.NowDateTime().String(),
	}).Execute()
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n == 0 {
		return errDuplicate
	}
	return nil
}

// pruneEvents deletes delivery log rows older than cutoff. Tombstones live
// in their own collection and are kept.
func pruneEvents(app core.App, cutoff time.Time) error {
	res, err := app.NonconcurrentDB().NewQuery("DELETE FROM " + migrations.EventsCollection + " WHERE created < {:cutoff}").
		Bind(map[string]any{"cutoff": cutoff.UTC().Format(types.DefaultDateLayout)}).Execute()
	if err != nil {
		return err
	}
	if n, _ := res.RowsAffected(); n > 0 {
		app.Logger().Info("Pruned the Clerk delivery log", "rows", n, "olderThan", cutoff)
	}
	return nil
}
