package hooks

import (
	"net/http"
	"path"
	"strings"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/router"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// errClerkOwned answers PocketBase's own account flows on clients.
var errClerkOwned = router.NewForbiddenError("Clerk manages this user's email, its verification and sign-in: change them in Clerk, and the sync brings them here.", nil)

// bindClerkOwnedFlows turns away PocketBase's email verification and email
// change flows for clients: the email and "verified" come from Clerk, and a
// flow that changed them here would be undone by the next sync, or would
// mark an address verified that Clerk has not. (Password reset and OTP are
// already off, and answer the same whatever the email.)
//
// The answer never depends on the email: a verification request answers
// 204 as PocketBase does for an unknown address, and an email change is
// refused before PocketBase checks whether the new address is taken, so
// neither tells whether an address belongs to a client.
func bindClerkOwnedFlows(app core.App) {
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.Bind(&hook.Handler[*core.RequestEvent]{
			Id:   "clerkOwnedFlows",
			Func: refuseClerkOwnedFlows,
		})
		return se.Next()
	})
}

func refuseClerkOwnedFlows(e *core.RequestEvent) error {
	if e.Request.Method != http.MethodPost || !strings.HasPrefix(e.Request.URL.Path, "/api/collections/") {
		return e.Next()
	}
	flow := path.Base(e.Request.URL.Path)
	switch flow {
	case "request-verification", "confirm-verification", "request-email-change", "confirm-email-change":
	default:
		return e.Next()
	}
	collection, err := e.App.FindCachedCollectionByNameOrId(e.Request.PathValue("collection"))
	if err != nil || collection.Name != migrations.ClientsCollection {
		return e.Next()
	}
	if flow == "request-verification" {
		return e.NoContent(http.StatusNoContent)
	}
	return errClerkOwned
}
