package hooks

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// The session events that end a session: a sign-out, a revocation from
// Clerk's dashboard or API, a session removed from its client.
const (
	eventSessionEnded   = "session.ended"
	eventSessionRevoked = "session.revoked"
	eventSessionRemoved = "session.removed"
)

const outcomeSignedOut outcome = migrations.OutcomeSignedOut

// endedSessionTTL is how long an ended session's tokens stay refused
// here: longer than a session token lives (60 s by default; Clerk lets an
// instance raise it), so that a token issued just before the end cannot
// sign a realtime connection in again.
const endedSessionTTL = time.Hour

// endedSessions remembers recently ended sessions by id (sid).
type endedSessions = expirable.LRU[string, struct{}]

func newEndedSessions() *endedSessions {
	return expirable.NewLRU[string, struct{}](65536, nil, endedSessionTTL)
}

// isSessionEnd reports whether an event type ends a session.
func isSessionEnd(typ string) bool {
	return typ == eventSessionEnded || typ == eventSessionRevoked || typ == eventSessionRemoved
}

func decodeSessionData(d *delivery, data json.RawMessage) error {
	if err := json.Unmarshal(data, &d.Session); err != nil || d.Session == nil {
		return errors.New("data is not a Clerk session")
	}
	if d.Session.ID == "" {
		return errors.New("data.id is missing")
	}
	return nil
}

// endSession signs out the realtime connections opened with the session's
// tokens and refuses those tokens from now on (they stay valid until they
// expire). It changes nothing in the database, so a retry repeats it
// harmlessly.
func (p *plugin) endSession(app core.App, s *clerk.Session) {
	p.endedSessions.Add(s.ID, struct{}{})
	signedOut := 0
	for _, sub := range app.SubscriptionsBroker().Clients() {
		if sid, _ := sub.Get(clerkSessionIDKey).(string); sid == s.ID {
			sub.Unset(apis.RealtimeClientAuthKey)
			sub.Unset(clerkSessionIDKey)
			sub.Unset(waitingClerkUserKey)
			signedOut++
		}
	}
	if signedOut > 0 {
		app.Logger().Info("Clerk session ended: its realtime connections were signed out", "sessionId", s.ID, "clerkId", s.UserID, "connections", signedOut)
	}
}
