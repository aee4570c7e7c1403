package migrations

import (
	m "github.com/pocketbase/pocketbase/migrations"
)

// The delivery log records a deletion that kept the client, anonymized, as
// anonymized.
func init() {
	m.Register(addOutcome(OutcomeAnonymized), removeOutcome(OutcomeAnonymized))
}
