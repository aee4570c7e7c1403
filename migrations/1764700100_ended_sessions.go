package migrations

import (
	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(createEndedSessions, dropEndedSessions)
}

// createEndedSessions keeps ended sessions in the database, so that a
// restart does not let their unexpired tokens in again. Only the plugin
// writes it: every rule stays superuser-only.
func createEndedSessions(app core.App) error {
	c := core.NewBaseCollection(EndedSessionsCollection)
	c.Fields.Add(
		&core.TextField{Name: FieldSessionID, Required: true, Presentable: true,
			Help: "Clerk's session id (sess_…): a token of this session is refused."},
		&core.DateField{Name: FieldRefusedUntil, Required: true,
			Help: "When every token issued before the session ended has expired; the daily prune deletes the row then."},
		&core.AutodateField{Name: "created", OnCreate: true},
	)
	c.AddIndex("idx_clerk_ended_sessions_sessionId", true, FieldSessionID, "")
	c.AddIndex("idx_clerk_ended_sessions_refusedUntil", false, FieldRefusedUntil, "")
	return app.Save(c)
}

func dropEndedSessions(app core.App) error {
	return deleteCollections(app, EndedSessionsCollection)
}
