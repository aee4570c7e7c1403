package loadgen

import (
	"encoding/json"
	"fmt"
	"maps"
)

// OrgTemplate turns ids into Clerk organization and membership webhook
// bodies, shaped by real Clerk fixtures.
type OrgTemplate struct {
	org, member map[string]any // envelopes
}

// NewOrgTemplate parses the organization.created and
// organizationMembership.created fixtures.
func NewOrgTemplate(orgFixture, memberFixture []byte) (*OrgTemplate, error) {
	t := &OrgTemplate{}
	for _, f := range []struct {
		raw []byte
		env *map[string]any
	}{{orgFixture, &t.org}, {memberFixture, &t.member}} {
		if err := json.Unmarshal(f.raw, f.env); err != nil {
			return nil, fmt.Errorf("the fixture is not JSON: %w", err)
		}
		if _, ok := (*f.env)["data"].(map[string]any); !ok {
			return nil, fmt.Errorf("the fixture has no data object")
		}
	}
	return t, nil
}

// OrganizationBody is an organization event of type typ for organization
// id, created and updated at (Unix milliseconds).
func (t *OrgTemplate) OrganizationBody(typ, id string, at int64) []byte {
	env := maps.Clone(t.org)
	env["type"], env["timestamp"] = typ, at
	env["data"] = orgData(t.org["data"].(map[string]any), id, at)
	b, _ := json.Marshal(env)
	return b
}

// MembershipBody is a membership event of type typ: userID in orgID with
// role, created and updated at; the organization it embeds is dated orgAt.
func (t *OrgTemplate) MembershipBody(typ, id, orgID, userID, role string, at, orgAt int64) []byte {
	env := maps.Clone(t.member)
	env["type"], env["timestamp"] = typ, at
	data := maps.Clone(t.member["data"].(map[string]any))
	data["id"], data["role"], data["created_at"], data["updated_at"] = id, role, at, at
	data["organization"] = orgData(data["organization"].(map[string]any), orgID, orgAt)
	user := maps.Clone(data["public_user_data"].(map[string]any))
	user["user_id"] = userID
	data["public_user_data"] = user
	env["data"] = data
	b, _ := json.Marshal(env)
	return b
}

func orgData(template map[string]any, id string, at int64) map[string]any {
	data := maps.Clone(template)
	data["id"], data["name"], data["slug"] = id, "Org "+id, id
	data["created_at"], data["updated_at"] = at, at
	return data
}
