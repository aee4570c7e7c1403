package hooks

import (
	"crypto/sha256"
	"fmt"
	"strings"
	"time"

	"github.com/segmentio/ksuid"
)

// orgEventTypes are the organization and membership events "clerk send" builds.
var orgEventTypes = []string{
	eventOrganizationCreated, eventOrganizationUpdated, eventOrganizationDeleted,
	eventMembershipCreated, eventMembershipUpdated, eventMembershipDeleted,
}

// checkOrgSend refuses an organization or membership event that names no
// existing object where it needs one.
func checkOrgSend(opts sendOptions) error {
	switch opts.Type {
	case eventOrganizationUpdated, eventOrganizationDeleted:
		if opts.OrgID == "" {
			return fmt.Errorf("%s needs --org-id org_... (the id printed by organization.created)", opts.Type)
		}
	case eventMembershipUpdated, eventMembershipDeleted:
		if opts.OrgID == "" || opts.UserID == "" {
			return fmt.Errorf("%s needs --org-id org_... and --user-id user_... (as printed by organizationMembership.created)", opts.Type)
		}
	}
	if opts.OrgID != "" && !strings.HasPrefix(opts.OrgID, "org_") {
		return fmt.Errorf("--org-id %q is not an organization id (org_...)", opts.OrgID)
	}
	if !strings.HasPrefix(opts.Role, "org:") {
		return fmt.Errorf("--role %q is not an organization role (org:admin, org:member, or org:<your role>)", opts.Role)
	}
	return nil
}

// clerkOrgEvent is a Clerk organization or membership event body, shaped
// like Clerk's (testdata/organization*.json), dated now; it returns the id
// the event is about. A new organization id is made when opts has none.
func clerkOrgEvent(opts *sendOptions, now time.Time) (map[string]any, string, error) {
	if opts.OrgID == "" {
		id, err := newClerkID("org_", now)
		if err != nil {
			return nil, "", err
		}
		opts.OrgID = id
	}
	ms := now.UnixMilli()
	org := clerkOrgData(opts.OrgID, opts.UserID, opts.Type == eventOrganizationUpdated, now)
	data, subject := org, opts.OrgID
	switch opts.Type {
	case eventOrganizationDeleted:
		data = map[string]any{"object": "organization", "id": opts.OrgID, "slug": org["slug"], "deleted": true}
	case eventOrganizationCreated, eventOrganizationUpdated:
	default:
		memberID := membershipIDOf(opts.OrgID, opts.UserID)
		subject = memberID
		// The copy of the organization is as old as the organization, so it
		// never undoes a rename sent before.
		org["updated_at"] = org["created_at"]
		permissions := []string{"org:sys_memberships:read"}
		if opts.Role == "org:admin" {
			permissions = append(permissions, "org:sys_memberships:manage", "org:sys_profile:manage", "org:sys_profile:delete")
		}
		name := strings.TrimPrefix(opts.Role, "org:")
		data = map[string]any{
			"object": "organization_membership", "id": memberID,
			"role": opts.Role, "role_name": strings.ToUpper(name[:min(1, len(name))]) + name[min(1, len(name)):],
			"permissions": permissions, "public_metadata": map[string]any{}, "private_metadata": map[string]any{},
			"organization": org,
			"public_user_data": map[string]any{
				"user_id": opts.UserID, "first_name": sendPersonOf(opts.UserID).first, "last_name": sendPersonOf(opts.UserID).last,
				"image_url": "https://img.clerk.com/placeholder", "has_image": false,
				"identifier": strings.ToLower(opts.UserID) + "@example.com",
			},
			"created_at": clerkIDTime(memberID, now).UnixMilli(), "updated_at": ms,
		}
	}
	return map[string]any{
		"object": "event", "type": opts.Type, "timestamp": ms, "data": data,
		"instance_id": "ins_clerksend",
		"event_attributes": map[string]any{"http_request": map[string]any{
			"client_ip": "127.0.0.1", "user_agent": "pocketclerk clerk send",
		}},
	}, subject, nil
}

func clerkOrgData(orgID, creatorID string, renamed bool, now time.Time) map[string]any {
	name := sendOrgNames[pick(orgID, len(sendOrgNames))] + " " + orgID[len(orgID)-4:]
	if renamed {
		name += " (renamed)"
	}
	return map[string]any{
		"object": "organization", "id": orgID, "name": name, "slug": strings.ToLower(strings.ReplaceAll(name, " ", "-")),
		"image_url": "https://img.clerk.com/placeholder", "has_image": false,
		"max_allowed_memberships": 5, "admin_delete_enabled": true,
		"public_metadata": map[string]any{}, "private_metadata": map[string]any{},
		"created_by": creatorID, "created_at": clerkIDTime(orgID, now).UnixMilli(), "updated_at": now.UnixMilli(),
	}
}

// sendOrgNames are the names "clerk send" gives organizations, chosen by
// the id, followed by the id's last characters.
var sendOrgNames = []string{"Acme", "Globex", "Initech", "Hooli", "Umbrella", "Soylent", "Vandelay", "Wonka"}

// membershipIDOf is the one membership id of a user in an organization
// that "clerk send" uses: a KSUID dated like the organization, whose
// payload comes from both ids, so every send for the pair names it.
func membershipIDOf(orgID, userID string) string {
	sum := sha256.Sum256([]byte(orgID + " " + userID))
	id, err := ksuid.FromParts(clerkIDTime(orgID, time.Now()), sum[:16])
	if err != nil {
		return "orgmem_" + fmt.Sprintf("%x", sum[:13])
	}
	return "orgmem_" + id.String()
}

// orgSendHint says what to send next with the same ids.
func orgSendHint(opts sendOptions) string {
	switch opts.Type {
	case eventOrganizationCreated, eventOrganizationUpdated:
		return fmt.Sprintf("next: clerk send organizationMembership.created --org-id %s --user-id user_... --role org:admin (or organization.updated, organization.deleted)", opts.OrgID)
	case eventMembershipCreated, eventMembershipUpdated:
		return fmt.Sprintf("next: clerk send organizationMembership.updated --org-id %s --user-id %s --role org:admin (or organizationMembership.deleted, organization.deleted)", opts.OrgID, opts.UserID)
	}
	return ""
}
