package hooks

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/tools/inflector"
)

// The test vectors of @clerk/shared's jwtPayloadParser
// (packages/shared/src/__tests__/jwtPayloadParser.spec.ts, clerk/javascript
// at e21ae9a4), through a signed v2 token and the headers rules read.
func TestOrgPermissionsDecodeAsClerksJavaScript(t *testing.T) {
	t.Parallel()
	permissionNames := make([]string, 54)
	for i := range permissionNames {
		permissionNames[i] = fmt.Sprintf("permission_%d", i)
	}
	many := strings.Join(permissionNames, ",")
	for _, v := range []struct {
		name, fea, per, fpm string
		want                []string
	}{
		{"same for v1 and v2", "o:impersonation", "read,manage", "3", []string{"org:impersonation:read", "org:impersonation:manage"}},
		{"fea, per and fpm", "o:impersonation,o:memberships", "read,manage", "1,3", []string{"org:impersonation:read", "org:memberships:read", "org:memberships:manage"}},
		{"zero masks keep alignment", "o:impersonation,o:memberships,o:feature3", "read,manage", "1,3,0", []string{"org:impersonation:read", "org:memberships:read", "org:memberships:manage"}},
		{"org and user scoped features", "uo:impersonation,o:memberships,uo:feature3", "read,manage", "1,3,1", []string{"org:impersonation:read", "org:memberships:read", "org:memberships:manage", "org:feature3:read"}},
		{"no fpm and per", "u:impersonation,u:memberships,u:feature3", "", "", nil},
		{"constructed correctly", "ou:memberships,u:impersonation", "read,manage", "3,0", []string{"org:memberships:read", "org:memberships:manage"}},
		{"case 2", "o:billing,o:email,o:fraud,o:instance,o:staging_plans", "manage,read", "3,3,3,3,1", []string{"org:billing:manage", "org:billing:read", "org:email:manage", "org:email:read", "org:fraud:manage", "org:fraud:read", "org:instance:manage", "org:instance:read", "org:staging_plans:manage"}},
		{"case 3", "o:repositories,o:projects", "read,create,update,delete,revoke", "7,21", []string{"org:repositories:read", "org:repositories:create", "org:repositories:update", "org:projects:read", "org:projects:update", "org:projects:revoke"}},
		{"case 4", "o:repositories,o:projects,o:webhooks,o:impersonation", "read,manage", "1,2,3,0", []string{"org:repositories:read", "org:projects:manage", "org:webhooks:read", "org:webhooks:manage"}},
		{"case 5", "o:repositories,uo:projects,u:goldprofileborder", "read,create,update,delete,revoke", "7,21,0", []string{"org:repositories:read", "org:repositories:create", "org:repositories:update", "org:projects:read", "org:projects:update", "org:projects:revoke"}},
		{"above the safe integer boundary", "o:feature", many, "9007199254740993", []string{"org:feature:permission_0", "org:feature:permission_53"}},
		{"no permission introduced above it", "o:feature", many, "9007199254740995", []string{"org:feature:permission_0", "org:feature:permission_1", "org:feature:permission_53"}},
		{"bits outside the permissions", "o:feature", many, "18014398509481984", nil},
		{"a feature without permissions before a targeted one", "o:repositories,o:impersonation,o:billing", "manage,read,update", "6,0,3", []string{"org:repositories:read", "org:repositories:update", "org:billing:manage", "org:billing:read"}},
		{"safe mask 1", "o:feature", many, "1", []string{"org:feature:permission_0"}},
		{"safe mask 3", "o:feature", many, "3", []string{"org:feature:permission_0", "org:feature:permission_1"}},
		{"safe mask 7", "o:feature", many, "7", []string{"org:feature:permission_0", "org:feature:permission_1", "org:feature:permission_2"}},
		{"safe mask 21", "o:feature", many, "21", []string{"org:feature:permission_0", "org:feature:permission_2", "org:feature:permission_4"}},
		{"malformed 1invalid", "o:feature", many, "1invalid", nil},
		{"malformed -1", "o:feature", many, "-1", nil},
		{"malformed 1.5", "o:feature", many, "1.5", nil},
		// Past 64 bits, which neither an int nor a JavaScript number holds.
		{"more than 64 permissions", "o:feature", strings.Join(append(slices.Clone(permissionNames), "p54", "p55", "p56", "p57", "p58", "p59", "p60", "p61", "p62", "p63", "p64", "p65"), ","), "36893488147419103233", []string{"org:feature:permission_0", "org:feature:p65"}},
	} {
		got := orgPermissionsV2(v.fea, v.per, v.fpm)
		if !slices.Equal(got, v.want) {
			t.Errorf("%s: %q, want %q", v.name, got, v.want)
		}
	}

	// The same through a signed token, against its v1 twin.
	key, verifier := pemVerifier(t)
	headers := func(c claims) *claimHeaders {
		verified, err := verifier.verify(context.Background(), key.sign(t, c), "ins_key1")
		if err != nil {
			t.Fatal(err)
		}
		return headersOf(verified)
	}
	v2 := validClaims(userA)
	v2["fea"] = "o:impersonation"
	v2["o"] = map[string]any{"id": "org_xxxxxxx", "rol": "admin", "slg": "org_test", "per": "read,manage", "fpm": "3"}
	v1 := validClaims(userA)
	delete(v1, "v")
	v1["fea"] = "o:impersonation"
	v1["org_id"], v1["org_role"], v1["org_slug"] = "org_xxxxxxx", "org:admin", "org_test"
	v1["org_permissions"] = []string{"org:impersonation:read", "org:impersonation:manage"}
	if a, b := headers(v1), headers(v2); *a != *b || a[4] != ",org:impersonation:read,org:impersonation:manage," {
		t.Errorf("v1 gives %q, v2 %q: want the same, with both permissions", a, b)
	}
	// Without an active organization, a v2 token's user features give no
	// organization header.
	noOrg := validClaims(userA)
	noOrg["fea"] = "u:impersonation,u:memberships"
	if h := headers(noOrg); h[1] != "" || h[3] != "" || h[4] != "" || h[5] != ",user:impersonation,user:memberships," {
		t.Errorf("v2 without an organization: %q", h)
	}
}

// Every spelling that PocketBase reads as x_clerk_… is removed; other
// headers stay.
func TestForgedClerkHeadersAreRemovedInAnySpelling(t *testing.T) {
	t.Parallel()
	h := http.Header{}
	forged := []string{"X-Clerk-Org-Id", "X_clerk_org_id", "X-CLERK-ORG-ROLE", "X-Clerk_Org-Permissions", "X--Clerk--Actor", "X.Clerk.Plan", "x-clerk-session-id"}
	// The Kelvin sign folds to k in strings.ToLower, but PocketBase splits
	// words at it first: x_cler_session_id.
	kept := []string{"Authorization", "X-Clerkly", "Clerk-Org-Id", "X-Request-Id", "Content-Type", "X-Cler\u212a-Session-Id"}
	for _, name := range append(slices.Clone(forged), kept...) {
		h[name] = []string{"v"}
	}
	stripClerkHeaders(h)
	for _, name := range forged {
		if _, ok := h[name]; ok || !strings.HasPrefix(inflector.Snakecase(name), "x_clerk_") {
			t.Errorf("%q (read as %s) was kept", name, inflector.Snakecase(name))
		}
	}
	for _, name := range kept {
		if _, ok := h[name]; !ok || strings.HasPrefix(inflector.Snakecase(name), "x_clerk_") {
			t.Errorf("%q (read as %s) was removed", name, inflector.Snakecase(name))
		}
	}
}

// A subscription's options: the client's x_clerk_… headers go, whatever
// else it holds stays; options that PocketBase could not read give way to
// the verified headers alone.
func TestSubscriptionOptionsGetTheVerifiedHeaders(t *testing.T) {
	t.Parallel()
	verified := map[string]string{"x_clerk_org_id": "org_1"}
	for _, c := range []struct {
		sub, want string
		changed   bool
	}{
		{"clients/abc", `clients/abc?options={"query":{},"headers":{"x_clerk_org_id":"org_1"}}`, true},
		{`clients/abc?options={"query":{"fields":"id"},"headers":{"X-Clerk-Org-Id":"org_2","X-Other":"1"}}`, `clients/abc?options={"query":{"fields":"id"},"headers":{"X-Other":"1","x_clerk_org_id":"org_1"}}`, true},
		{`clients/abc?options={"query":`, `clients/abc?options={"query":{},"headers":{"x_clerk_org_id":"org_1"}}`, true},
	} {
		got, changed := withSessionHeaders(c.sub, verified)
		got = strings.ReplaceAll(strings.ReplaceAll(got, "%22", `"`), "%3A", ":")
		got = strings.NewReplacer("%7B", "{", "%7D", "}", "%2C", ",").Replace(got)
		if got != c.want || changed != c.changed {
			t.Errorf("%s: %s %v, want %s", c.sub, got, changed, c.want)
		}
	}
	if got, changed := withSessionHeaders(`memberships/*?options={"query":{"expand":"organization"}}`, nil); changed {
		t.Errorf("options without an x_clerk header, for a guest: rewritten as %s", got)
	}
	for _, forged := range []string{`clients/*?options={"headers":{"x_clerk_actor":""}}`, `clients/*?options={"headers":{"x-clerk-org-id":"org_1"},"headers":{}}`} {
		if got, changed := withSessionHeaders(forged, nil); !changed || strings.Contains(strings.ToLower(got), "clerk") {
			t.Errorf("a guest's %s: %s %v, want its headers removed", forged, got, changed)
		}
	}
}
