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

// asOrganization and asMembership are record's typed views; nil for none.
func asOrganization(record *core.Record) *organizationRecord {
	if record == nil {
		return nil
	}
	return &organizationRecord{record}
}

func asMembership(record *core.Record) *membershipRecord {
	if record == nil {
		return nil
	}
	return &membershipRecord{record}
}

// findOrganization returns the record of a Clerk organization, or nil.
func findOrganization(app core.App, clerkID string) (*organizationRecord, error) {
	record, err := findByClerkID(app, migrations.OrganizationsCollection, clerkID)
	return asOrganization(record), err
}

// findMembership returns the record of a Clerk membership, or nil.
func findMembership(app core.App, clerkID string) (*membershipRecord, error) {
	record, err := findByClerkID(app, migrations.MembershipsCollection, clerkID)
	return asMembership(record), err
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
