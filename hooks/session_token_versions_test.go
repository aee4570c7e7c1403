package hooks

import (
	"slices"
	"testing"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// A session token of either version, with the active organization claims
// of clerk-sdk-go's own vectors (jwt/jwt_test.go: TestVerify_PublicClaims,
// TestVerify_PublicClaimsVersion2), signs in the same client and brings the
// same membership on first sight.
func TestSessionTokensOfBothVersionsDriveFirstSightAlike(t *testing.T) {
	t.Parallel()
	versions := map[string]func(c claims){
		"v1": func(c claims) {
			delete(c, "v")
			c["org_id"], c["org_role"], c["org_slug"] = "org_new", "org:admin", "acmeinc"
			c["org_permissions"] = []string{"org:create"}
			c["orgs"] = map[string]string{"org_new": "org:admin", "org_456": "org:member"}
			c["fva"] = []int64{10, -1}
		},
		"v2": func(c claims) {
			c["v"] = 2
			c["fea"] = "o:repositories,o:projects,o:impersonation"
			c["o"] = map[string]any{"id": "org_new", "slg": "acmeinc", "rol": "admin", "per": "read,manage", "fpm": "1,2"}
			c["fva"] = []int64{10, -1}
		},
	}
	seen := map[string][]string{}
	for name, setClaims := range versions {
		app, srv, clerkAPI, key, _ := newcomerInClerk(t)
		newcomerJoins(clerkAPI)
		c := validClaims(newcomer)
		setClaims(c)
		token := "Bearer " + key.sign(t, c)

		if ids := listClerkIDs(t, srv.URL, token); !slices.Equal(ids, []string{newcomer}) {
			t.Fatalf("%s: signed in as %v, want the newcomer", name, ids)
		}
		seen[name] = listAs(t, srv.URL, token, migrations.OrganizationsCollection, "clerkId")
		m, err := app.FindFirstRecordByData(migrations.MembershipsCollection, migrations.FieldClerkID, "orgmem_new")
		if err != nil || m.GetString(migrations.FieldRole) != "org:admin" {
			t.Fatalf("%s: the active organization's membership was not stored on first sight: %v", name, err)
		}
		if n := clerkAPI.MemberHits.Load(); n != 1 {
			t.Fatalf("%s: %d fetches of the memberships, want 1", name, n)
		}
	}
	if !slices.Equal(seen["v1"], []string{"org_new"}) || !slices.Equal(seen["v1"], seen["v2"]) {
		t.Fatalf("organizations seen: v1 %v, v2 %v; want org_new for both", seen["v1"], seen["v2"])
	}
}
