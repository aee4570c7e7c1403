package hooks

import (
	"fmt"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// organizationRecord is one Clerk organization: a typed view of its record.
type organizationRecord struct {
	*core.Record
}

// ClerkUpdatedAt is the updated_at of the Clerk data last applied.
func (o *organizationRecord) ClerkUpdatedAt() time.Time {
	return o.GetDateTime(migrations.FieldClerkUpdatedAt).Time()
}

// membershipRecord is one Clerk organization membership.
type membershipRecord struct {
	*core.Record
}

// ClerkUpdatedAt is the updated_at of the Clerk data last applied.
func (m *membershipRecord) ClerkUpdatedAt() time.Time {
	return m.GetDateTime(migrations.FieldClerkUpdatedAt).Time()
}

// findOrganization returns the record of a Clerk organization, or nil.
func findOrganization(app core.App, clerkID string) (*organizationRecord, error) {
	record, err := findByClerkID(app, migrations.OrganizationsCollection, clerkID)
	if record == nil {
		return nil, err
	}
	return &organizationRecord{record}, nil
}

// findMembership returns the record of a Clerk membership, or nil.
func findMembership(app core.App, clerkID string) (*membershipRecord, error) {
	record, err := findByClerkID(app, migrations.MembershipsCollection, clerkID)
	if record == nil {
		return nil, err
	}
	return &membershipRecord{record}, nil
}

// membershipsOfUser returns the memberships of a Clerk user.
func membershipsOfUser(app core.App, clerkUserID string) ([]*core.Record, error) {
	records, err := app.FindAllRecords(migrations.MembershipsCollection,
		dbx.HashExp{migrations.FieldClerkUserID: clerkUserID})
	if err != nil {
		return nil, fmt.Errorf("looking up the memberships of Clerk user %s: %w", clerkUserID, err)
	}
	return records, nil
}

// firstTombstone returns the first of ids that has a tombstone, or "": one
// query for a membership, its organization and its user.
func firstTombstone(app core.App, ids ...string) (string, error) {
	var found []string
	err := app.DB().Select(migrations.FieldClerkID).From(migrations.TombstonesCollection).
		Where(dbx.In(migrations.FieldClerkID, toAny(ids)...)).Column(&found)
	if err != nil || len(found) == 0 {
		return "", err
	}
	return found[0], nil
}

func toAny(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
