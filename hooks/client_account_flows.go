package hooks

import (
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
// mark an address verified that Clerk has not. (Password reset is already
// off, with password sign-in.)
func bindClerkOwnedFlows(app core.App) {
	refuse(app.OnRecordRequestVerificationRequest(migrations.ClientsCollection))
	refuse(app.OnRecordConfirmVerificationRequest(migrations.ClientsCollection))
	refuse(app.OnRecordRequestEmailChangeRequest(migrations.ClientsCollection))
	refuse(app.OnRecordConfirmEmailChangeRequest(migrations.ClientsCollection))
}

func refuse[T hook.Tagger](h *hook.TaggedHook[T]) {
	h.BindFunc(func(T) error { return errClerkOwned })
}
