package hooks

import (
	"encoding/json"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/pocketbase/dbx"
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

// maxEndedSessions bounds the ended sessions held in memory.
const maxEndedSessions = 65536

// endedSessions remembers recently ended sessions by id (sid), as
// clerk_ended_sessions does across restarts; each request asks this copy.
type endedSessions = expirable.LRU[string, struct{}]

func newEndedSessions() *endedSessions {
	return expirable.NewLRU[string, struct{}](maxEndedSessions, nil, endedSessionTTL)
}

// keepEndedSession stores an ended session with its delivery, so that its
// tokens stay refused after a restart.
func keepEndedSession(txApp core.App, sessionID string, now time.Time) error {
	_, err := txApp.DB().NewQuery("INSERT INTO " + migrations.EndedSessionsCollection +
		" (id, sessionId, refusedUntil, created) VALUES ({:id}, {:sessionId}, {:until}, {:created})" +
		" ON CONFLICT (sessionId) DO NOTHING").Bind(dbx.Params{
		"id":        core.GenerateDefaultRandomId(),
		"sessionId": sessionID,
		"until":     dateString(now.Add(endedSessionTTL)),
		"created":   dateString(now),
	}).Execute()
	return err
}

// loadEndedSessions refuses again the sessions that ended before this
// process started and whose tokens may still be alive.
func (p *plugin) loadEndedSessions(app core.App) error {
	var ids []string
	err := app.DB().Select(migrations.FieldSessionID).From(migrations.EndedSessionsCollection).
		Where(dbx.NewExp(migrations.FieldRefusedUntil+" > {:now}", dbx.Params{"now": dateString(time.Now())})).
		OrderBy(migrations.FieldRefusedUntil + " DESC").Limit(maxEndedSessions).Column(&ids)
	for _, id := range ids {
		p.endedSessions.Add(id, struct{}{})
	}
	return err
}

// pruneEndedSessions forgets the ended sessions whose tokens have all
// expired by now.
func pruneEndedSessions(app core.App, now time.Time) error {
	_, err := app.NonconcurrentDB().NewQuery("DELETE FROM " + migrations.EndedSessionsCollection + " WHERE refusedUntil < {:now}").
		Bind(dbx.Params{"now": dateString(now)}).Execute()
	return err
}

// sessionEnd is the end of a Clerk session.
type sessionEnd struct {
	Session *clerk.Session
}

// sessionObject is the Clerk session, kept only once it has ended.
var sessionObject = clerkObject{
	events: []string{eventSessionEnded, eventSessionRevoked, eventSessionRemoved},
	decode: decodeSessionEnd,
}

func decodeSessionEnd(_ string, _ time.Time, data json.RawMessage) (change, error) {
	s, err := decodeData(data, "session", func(s *clerk.Session) string { return s.ID })
	if err != nil {
		return nil, err
	}
	return sessionEnd{s}, nil
}

func (ch sessionEnd) clerkID() string { return ch.Session.UserID }

// apply stores the ended session with its delivery; the steps after the
// commit then act on it.
func (ch sessionEnd) apply(txApp core.App, _ mappingConfig) (outcome, error) {
	return outcomeSignedOut, keepEndedSession(txApp, ch.Session.ID, time.Now())
}

// beforeAnswer refuses the session's tokens from now on (they stay valid
// until they expire), before Svix hears that the end is applied.
func (ch sessionEnd) beforeAnswer(p *plugin) {
	p.endedSessions.Add(ch.Session.ID, struct{}{})
}

func (ch sessionEnd) afterCommit(p *plugin, app core.App) {
	p.signOutSession(app, ch.Session)
}

// signOutSession signs out the realtime connections opened with the
// session's tokens. It goes through every connection, so it runs after the
// delivery's answer, with the other work after the commit. The delivery's
// transaction stored the session (keepEndedSession), so a retry repeats
// this harmlessly.
func (p *plugin) signOutSession(app core.App, s *clerk.Session) {
	signedOut := 0
	for _, sub := range p.realtimeClients(app) {
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
