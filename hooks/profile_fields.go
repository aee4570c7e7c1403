package hooks

import (
	"net/http"
	"slices"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// EditableFieldsPath answers a signed-in client, for each field the owner
// added to clients, whether the collection's update rule lets it change
// that field on its own record; the profile page shows the others read-only.
const EditableFieldsPath = "/api/clerk/editable-fields"

// bindEditableFields adds GET EditableFieldsPath.
func bindEditableFields(app core.App) {
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.GET(EditableFieldsPath, handleEditableFields)
		return se.Next()
	})
}

// editableFieldsReply is the JSON of GET EditableFieldsPath.
type editableFieldsReply struct {
	// Fields maps each owner field to whether this client may change it.
	Fields map[string]bool `json:"fields"`
}

func handleEditableFields(e *core.RequestEvent) error {
	client := e.Auth
	if client == nil || client.Collection().Name != migrations.ClientsCollection {
		return e.UnauthorizedError("Sign in (a Clerk session token of a synced user) to see which fields you may edit.", nil)
	}
	reply := editableFieldsReply{Fields: map[string]bool{}}
	col := client.Collection()
	for _, name := range ownerFieldNames(col) {
		// The rule as an update of this one field to its current value
		// would meet it: a rule that names the field (":isset = false")
		// refuses it, one that leaves it out lets it through.
		info := &core.RequestInfo{
			Auth:    client,
			Method:  http.MethodPatch,
			Context: core.RequestInfoContextDefault,
			Body:    map[string]any{name: client.Get(name)},
			Query:   map[string]string{},
			Headers: map[string]string{},
		}
		ok, err := e.App.CanAccessRecord(client, info, col.UpdateRule)
		if err != nil {
			return e.InternalServerError("Could not check the clients update rule.", err)
		}
		reply.Fields[name] = ok
	}
	return e.JSON(http.StatusOK, reply)
}

// ownerFieldNames are the fields of clients that the owner added: not
// Clerk's, not PocketBase's own, not hidden.
func ownerFieldNames(col *core.Collection) []string {
	var names []string
	for _, f := range col.Fields {
		name := f.GetName()
		switch {
		case f.GetHidden(), f.GetSystem(), f.Type() == core.FieldTypeAutodate,
			slices.Contains(migrations.ClerkFields, name),
			name == core.FieldNameEmailVisibility, name == core.FieldNameVerified, name == core.FieldNameEmail:
			continue
		}
		names = append(names, name)
	}
	return names
}
