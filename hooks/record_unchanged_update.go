package hooks

import (
	"net/http"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// UnchangedUpdateHookId names the handler that answers an update request
// that changes nothing; UnchangedUpdateHookPriority runs it after the
// owner's handlers (PocketBase's default is 0), so that a value one of them
// sets counts as a change.
const (
	UnchangedUpdateHookId       = "clerkUnchangedUpdate"
	UnchangedUpdateHookPriority = 1 << 20
)

// bindUnchangedUpdates answers an update request to the shipped
// collections that would change no field with the record as it is, without
// saving it: a save moves "updated" and sends a realtime message to every
// subscriber, so a client looping "PATCH {}" would make the server queue
// messages for nothing.
func bindUnchangedUpdates(app core.App) {
	app.OnRecordUpdateRequest(migrations.ClientsCollection, migrations.OrganizationsCollection, migrations.MembershipsCollection).Bind(&hook.Handler[*core.RecordRequestEvent]{
		Id:       UnchangedUpdateHookId,
		Priority: UnchangedUpdateHookPriority,
		Func: func(e *core.RecordRequestEvent) error {
			if recordChanged(e.Record) {
				return e.Next()
			}
			if err := apis.EnrichRecord(e.RequestEvent, e.Record); err != nil {
				return e.InternalServerError("Failed to enrich record", err)
			}
			return e.JSON(http.StatusOK, e.Record)
		},
	})
}

// recordChanged tells whether saving record would change a stored value.
// Autodate fields are left out: only a save sets them.
func recordChanged(record *core.Record) bool {
	if record.IsNew() {
		return true
	}
	original := record.Original()
	for _, field := range record.Collection().Fields {
		if _, ok := field.(*core.AutodateField); ok {
			continue
		}
		name := field.GetName()
		if !sameFieldValue(field, record.GetRaw(name), original.GetRaw(name)) {
			return true
		}
	}
	return false
}
