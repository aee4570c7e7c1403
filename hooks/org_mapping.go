package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// Clerk's organization and membership event types.
const (
	eventOrganizationCreated = "organization.created"
	eventOrganizationUpdated = "organization.updated"
	eventOrganizationDeleted = "organization.deleted"
	eventMembershipCreated   = "organizationMembership.created"
	eventMembershipUpdated   = "organizationMembership.updated"
	eventMembershipDeleted   = "organizationMembership.deleted"
)

// organizationChange is one change to a Clerk organization, whatever
// brought it: a webhook, a first-sight fetch or a backfill.
type organizationChange struct {
	// Type is organization.created, organization.updated or organization.deleted.
	Type string
	// Organization is as Clerk sent it; a deletion carries only its ID.
	Organization *clerk.Organization
	// At is when Clerk emitted the change: it dates a deletion.
	At time.Time
}

// membershipChange is one change to a Clerk organization membership.
type membershipChange struct {
	// Type is organizationMembership.created, .updated or .deleted.
	Type string
	// Membership embeds its organization and its user's public data.
	Membership *clerk.OrganizationMembership
	At         time.Time
}

// organizationObject and membershipObject are Clerk's organizations and
// their memberships, each kept in a collection of its own.
var (
	organizationObject = clerkObject{
		events: []string{eventOrganizationCreated, eventOrganizationUpdated, eventOrganizationDeleted},
		decode: decodeOrganizationChange,
		owned:  &clerkOwned{migrations.OrganizationsCollection, migrations.OrganizationClerkFields, organizationsCreated, organizationsUpdated},
	}
	membershipObject = clerkObject{
		events: []string{eventMembershipCreated, eventMembershipUpdated, eventMembershipDeleted},
		decode: decodeMembershipChange,
		owned:  &clerkOwned{migrations.MembershipsCollection, migrations.MembershipClerkFields, organizationsCreated, organizationsUpdated},
	}
)

const organizationsCreated = "Organizations and memberships are created by the sync from Clerk: create them in Clerk."

func organizationsUpdated(changed []string) string {
	return "Synced from Clerk and cannot be changed here: " + strings.Join(changed, ", ") + ". Change it in Clerk."
}

func decodeOrganizationChange(eventType string, at time.Time, data json.RawMessage) (change, error) {
	o, err := decodeData(data, "organization", func(o *clerk.Organization) string { return o.ID })
	if err != nil {
		return nil, err
	}
	return organizationChange{Type: eventType, Organization: o, At: at}, nil
}

func decodeMembershipChange(eventType string, at time.Time, data json.RawMessage) (change, error) {
	m, err := decodeData(data, "organization membership", func(m *clerk.OrganizationMembership) string { return m.ID })
	switch {
	case err != nil:
		return nil, err
	case m.Organization == nil || m.Organization.ID == "":
		return nil, errors.New("data.organization.id is missing")
	case membershipUserID(m) == "":
		return nil, errors.New("data.public_user_data.user_id is missing")
	}
	return membershipChange{Type: eventType, Membership: m, At: at}, nil
}

func (ch organizationChange) clerkID() string { return ch.Organization.ID }

func (ch membershipChange) clerkID() string { return ch.Membership.ID }

// apply is the one place that decides how a Clerk organization becomes a
// record. Call it with a transaction's app.
//
// As for users: deletion wins with a tombstone, and otherwise the newest
// updated_at wins, equal timestamps applying. Deleting an organization
// deletes its memberships (the relation cascades).
func (ch organizationChange) apply(txApp core.App, _ mappingConfig) (outcome, error) {
	id := ch.Organization.ID
	record, gone, err := findMirror(txApp, migrations.OrganizationsCollection, id)
	if err != nil || gone {
		return outcomeGone, err
	}
	org := asOrganization(record)
	if ch.Type == eventOrganizationDeleted {
		at := deletedAt(ch.At)
		result := outcomeDeleted
		if err := deletePayerRecords(txApp, id); err != nil {
			return "", err
		}
		if org != nil {
			blocker, err := blockingReference(txApp, org.Record)
			if err != nil {
				return "", err
			}
			if blocker != "" {
				if err := keepDeletedOrganization(txApp, org, at, blocker); err != nil {
					return "", err
				}
				result = outcomeAnonymized
			} else if err := txApp.Delete(org.Record); err != nil {
				return "", fmt.Errorf("deleting organization %s: %w", id, err)
			}
		}
		return result, addTombstone(txApp, id, at)
	}
	if org != nil && ch.Organization.UpdatedAt < org.ClerkUpdatedAt().UnixMilli() {
		return outcomeStale, nil
	}
	_, result, err := saveOrganization(txApp, org, ch.Organization)
	return result, err
}

// keepDeletedOrganization applies an organization's deletion that a
// required relation without cascade delete (blocker, collection.field)
// would make PocketBase refuse: its memberships are deleted, so that no
// member reaches it or what is scoped to it any more, and the record is
// kept with deletedAt set and its Clerk data cleared but its id and name,
// so that the owner's records keep their organization.
func keepDeletedOrganization(txApp core.App, org *organizationRecord, at time.Time, blocker string) error {
	id := org.GetString(migrations.FieldClerkID)
	txApp.Logger().Warn("An organization deleted in Clerk is kept, marked deleted: a required relation without cascade delete points to it, so PocketBase would refuse to delete it. Its memberships are deleted and deletedAt is set; make the relation cascade to delete such records with their organization.",
		"clerkId", id, "relation", blocker)
	members, err := txApp.FindAllRecords(migrations.MembershipsCollection, dbx.HashExp{migrations.FieldOrganization: org.Id})
	if err != nil {
		return err
	}
	for _, m := range members {
		if err := txApp.Delete(m); err != nil {
			return fmt.Errorf("deleting membership %s of deleted organization %s: %w", m.GetString(migrations.FieldClerkID), id, err)
		}
	}
	for _, name := range migrations.OrganizationClerkFields {
		switch name {
		case migrations.FieldClerkID, migrations.FieldName, migrations.FieldClerkCreatedAt, migrations.FieldClerkUpdatedAt:
		default:
			org.Set(name, nil)
		}
	}
	org.Set(migrations.FieldDeletedAt, at)
	if err := txApp.Save(org.Record); err != nil {
		return fmt.Errorf("keeping deleted organization %s: %w", id, err)
	}
	return nil
}

// apply is the one place that decides how a Clerk organization membership
// becomes a record. Call it with a transaction's app.
//
// A deletion wins by its tombstone, not by its time: Clerk may date a
// membership's deletion before its last update. A membership of a deleted
// organization or user is gone. The organization the event embeds is
// created, or refreshed when the copy is newer. The membership is kept even
// when its user has no client yet; client links it when there is one.
func (ch membershipChange) apply(txApp core.App, _ mappingConfig) (outcome, error) {
	m := ch.Membership
	record, gone, err := findMirror(txApp, migrations.MembershipsCollection, m.ID, m.Organization.ID, membershipUserID(m))
	if err != nil || gone {
		return outcomeGone, err
	}
	member := asMembership(record)
	if ch.Type == eventMembershipDeleted {
		if member != nil {
			if err := txApp.Delete(member.Record); err != nil {
				return "", fmt.Errorf("deleting membership %s: %w", m.ID, err)
			}
		}
		return outcomeDeleted, addTombstone(txApp, m.ID, deletedAt(ch.At))
	}

	org, err := refreshOrganization(txApp, m.Organization)
	if err != nil {
		return "", err
	}
	if member != nil && m.UpdatedAt < member.ClerkUpdatedAt().UnixMilli() {
		return outcomeStale, nil
	}
	if member == nil {
		col, err := txApp.FindCachedCollectionByNameOrId(migrations.MembershipsCollection)
		if err != nil {
			return "", err
		}
		member = &membershipRecord{core.NewRecord(col)}
	}
	linked := false
	if member.GetString(migrations.FieldClient) == "" {
		client, err := findClient(txApp, membershipUserID(m))
		if err != nil {
			return "", err
		}
		if client != nil {
			member.Set(migrations.FieldClient, client.Id)
			linked = true
		}
	}
	if !setMembershipFields(member, org.Id, m) && !linked {
		return outcomeUnchanged, nil
	}
	result := outcomeUpdated
	if member.IsNew() {
		result = outcomeCreated
	}
	if err := txApp.Save(member.Record); err != nil {
		return "", fmt.Errorf("saving membership %s: %w", m.ID, err)
	}
	return result, nil
}

// refreshOrganization applies the copy of an organization that a
// membership embeds: it creates the organization, or updates it when the
// copy is newer than what is stored (a copy may be partial, so an equal
// one does not overwrite).
func refreshOrganization(txApp core.App, o *clerk.Organization) (*organizationRecord, error) {
	org, err := findOrganization(txApp, o.ID)
	if err != nil || org != nil && o.UpdatedAt <= org.ClerkUpdatedAt().UnixMilli() {
		return org, err
	}
	org, _, err = saveOrganization(txApp, org, o)
	return org, err
}

// saveOrganization writes o onto org (nil: a new record).
func saveOrganization(txApp core.App, org *organizationRecord, o *clerk.Organization) (*organizationRecord, outcome, error) {
	if org == nil {
		col, err := txApp.FindCachedCollectionByNameOrId(migrations.OrganizationsCollection)
		if err != nil {
			return nil, "", err
		}
		org = &organizationRecord{core.NewRecord(col)}
	}
	if !setOrganizationFields(org, o) {
		return org, outcomeUnchanged, nil
	}
	result := outcomeUpdated
	if org.IsNew() {
		result = outcomeCreated
	}
	if err := txApp.Save(org.Record); err != nil {
		return nil, "", fmt.Errorf("saving organization %s: %w", o.ID, err)
	}
	if result == outcomeCreated {
		if err := linkPayerRecords(txApp, o.ID, org.Id); err != nil {
			return nil, "", err
		}
	}
	return org, result, nil
}

// setOrganizationFields maps a Clerk organization onto the fields the sync
// owns and reports whether any of them changed.
func setOrganizationFields(org *organizationRecord, o *clerk.Organization) bool {
	return setFields(org.Record, map[string]any{
		migrations.FieldClerkID:               o.ID,
		migrations.FieldName:                  o.Name,
		migrations.FieldSlug:                  o.Slug,
		migrations.FieldImageURL:              deref(o.ImageURL),
		migrations.FieldMaxAllowedMemberships: o.MaxAllowedMemberships,
		migrations.FieldAdminDeleteEnabled:    o.AdminDeleteEnabled,
		migrations.FieldPublicMetadata:        jsonOrEmpty(o.PublicMetadata),
		migrations.FieldPrivateMetadata:       jsonOrEmpty(o.PrivateMetadata),
		migrations.FieldCreatedBy:             o.CreatedBy,
		migrations.FieldClerkCreatedAt:        millis(&o.CreatedAt),
		migrations.FieldClerkUpdatedAt:        millis(&o.UpdatedAt),
	})
}

// setMembershipFields maps a Clerk membership onto the fields the sync
// owns (client aside) and reports whether any of them changed.
func setMembershipFields(member *membershipRecord, orgRecordID string, m *clerk.OrganizationMembership) bool {
	permissions, _ := json.Marshal(m.Permissions)
	if m.Permissions == nil {
		permissions = []byte("[]")
	}
	return setFields(member.Record, map[string]any{
		migrations.FieldClerkID:             m.ID,
		migrations.FieldOrganization:        orgRecordID,
		migrations.FieldClerkOrganizationID: m.Organization.ID,
		migrations.FieldClerkUserID:         membershipUserID(m),
		migrations.FieldRole:                m.Role,
		migrations.FieldRoleName:            m.RoleName,
		migrations.FieldPermissions:         types.JSONRaw(permissions),
		migrations.FieldPublicMetadata:      jsonOrEmpty(m.PublicMetadata),
		migrations.FieldPrivateMetadata:     jsonOrEmpty(m.PrivateMetadata),
		migrations.FieldClerkCreatedAt:      millis(&m.CreatedAt),
		migrations.FieldClerkUpdatedAt:      millis(&m.UpdatedAt),
	})
}

func membershipUserID(m *clerk.OrganizationMembership) string {
	if m.PublicUserData == nil {
		return ""
	}
	return m.PublicUserData.UserID
}

// addTombstone records that a Clerk object was deleted, for good: Clerk
// never reuses ids.
func addTombstone(txApp core.App, clerkID string, at time.Time) error {
	col, err := txApp.FindCachedCollectionByNameOrId(migrations.TombstonesCollection)
	if err != nil {
		return err
	}
	tomb := core.NewRecord(col)
	tomb.Set(migrations.FieldClerkID, clerkID)
	tomb.Set(migrations.FieldDeletedAt, at)
	return txApp.Save(tomb)
}

// linkMemberships sets client on the memberships of its user that arrived
// before it. Called when a client is created; it costs one indexed query
// when there are none.
func linkMemberships(txApp core.App, client *clientRecord) error {
	members, err := membershipsOfUser(txApp, client.ClerkID())
	if err != nil {
		return err
	}
	for _, member := range members {
		if member.GetString(migrations.FieldClient) == client.Id {
			continue
		}
		member.Set(migrations.FieldClient, client.Id)
		if err := txApp.Save(member); err != nil {
			return fmt.Errorf("linking membership %s to client %s: %w", member.GetString(migrations.FieldClerkID), client.Id, err)
		}
	}
	return nil
}

// deleteMembershipsOfUser deletes a deleted user's memberships, including
// those that never had a client to cascade from.
func deleteMembershipsOfUser(txApp core.App, clerkUserID string) error {
	members, err := membershipsOfUser(txApp, clerkUserID)
	if err != nil {
		return err
	}
	for _, member := range members {
		if err := txApp.Delete(member); err != nil {
			return fmt.Errorf("deleting membership %s of deleted user %s: %w", member.GetString(migrations.FieldClerkID), clerkUserID, err)
		}
	}
	return nil
}
