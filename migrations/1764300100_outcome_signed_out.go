package migrations

import (
	m "github.com/pocketbase/pocketbase/migrations"
)

// The delivery log records an ended session (session.revoked, session.ended,
// session.removed) as signedOut.
func init() {
	m.Register(addOutcome(OutcomeSignedOut), removeOutcome(OutcomeSignedOut))
}
