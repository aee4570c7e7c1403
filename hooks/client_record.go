package hooks

import (
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// clientRecord is one Clerk user's client: a typed view of its auth record,
// as core.ExternalAuth is of its own.
type clientRecord struct {
	*core.Record
}

// ClerkID is the Clerk user id (user_...) the client mirrors.
func (c *clientRecord) ClerkID() string {
	return c.GetString(migrations.FieldClerkID)
}

// Banned reports whether Clerk banned the user.
func (c *clientRecord) Banned() bool {
	return c.GetBool(migrations.FieldBanned)
}

// Deleted reports whether the user was deleted in Clerk and the client
// kept, anonymized.
func (c *clientRecord) Deleted() bool {
	return !c.GetDateTime(migrations.FieldDeletedAt).IsZero()
}

// SignInRefused reports whether the user's session tokens authenticate nobody.
func (c *clientRecord) SignInRefused() bool {
	return c.Banned() || c.Deleted()
}

// ClerkUpdatedAt is the updated_at of the Clerk data last applied.
func (c *clientRecord) ClerkUpdatedAt() time.Time {
	return c.GetDateTime(migrations.FieldClerkUpdatedAt).Time()
}

// isClient reports whether record is a client.
func isClient(record *core.Record) bool {
	return record != nil && record.Collection().Name == migrations.ClientsCollection
}

// asClient is record's typed view; nil for none.
func asClient(record *core.Record) *clientRecord {
	if record == nil {
		return nil
	}
	return &clientRecord{record}
}

// findClient returns the client of a Clerk user, or nil when it has none.
func findClient(app core.App, clerkID string) (*clientRecord, error) {
	record, err := findByClerkID(app, migrations.ClientsCollection, clerkID)
	return asClient(record), err
}

// isTombstoned reports whether a Clerk user was deleted.
func isTombstoned(app core.App, clerkID string) (bool, error) {
	record, err := findByClerkID(app, migrations.TombstonesCollection, clerkID)
	return record != nil, err
}
