package hooks

import (
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/inflector"
)

// The claims of a verified Clerk session token, as request headers that
// rules read as @request.headers.x_clerk_…: what the user is doing now
// (active organization, role, permissions, plan, second factor's age,
// impersonation), as of the token. Only the server sets them: what a client
// sends under these names, in any spelling, is removed (stripClerkHeaders).
const (
	HeaderClerkSessionID      = "X-Clerk-Session-Id"
	HeaderClerkOrgID          = "X-Clerk-Org-Id"
	HeaderClerkOrgSlug        = "X-Clerk-Org-Slug"
	HeaderClerkOrgRole        = "X-Clerk-Org-Role"
	HeaderClerkOrgPermissions = "X-Clerk-Org-Permissions"
	HeaderClerkFeatures       = "X-Clerk-Features"
	HeaderClerkPlan           = "X-Clerk-Plan"
	HeaderClerkFactorAge      = "X-Clerk-Factor-Age"
	HeaderClerkActor          = "X-Clerk-Actor"
)

// claimHeaderNames are the headers in the order of claimHeaders' values,
// each with the name rules read it by.
var claimHeaderNames = [...]struct{ http, rule string }{
	{HeaderClerkSessionID, "x_clerk_session_id"},
	{HeaderClerkOrgID, "x_clerk_org_id"},
	{HeaderClerkOrgSlug, "x_clerk_org_slug"},
	{HeaderClerkOrgRole, "x_clerk_org_role"},
	{HeaderClerkOrgPermissions, "x_clerk_org_permissions"},
	{HeaderClerkFeatures, "x_clerk_features"},
	{HeaderClerkPlan, "x_clerk_plan"},
	{HeaderClerkFactorAge, "x_clerk_factor_age"},
	{HeaderClerkActor, "x_clerk_actor"},
}

// clerkHeaderPrefix is what the name of every header above starts with once
// PocketBase has snake-cased it for rules (inflector.Snakecase).
const clerkHeaderPrefix = "x_clerk_"

// claimHeaders are the values of claimHeaderNames for one session.
type claimHeaders [len(claimHeaderNames)]string

// clerkSessionHeadersKey holds a request's *claimHeaders, for its realtime
// subscriptions (session_claims_realtime.go).
const clerkSessionHeadersKey = "clerkSessionHeaders"

// setOn writes the headers on a request whose forged ones were removed.
// Every header is set, empty when the token lacks its claim, so that a
// signed-in request always has the same set.
func (h *claimHeaders) setOn(header http.Header) {
	values := h[:] // each header a slice of h itself: no allocation per header
	for i, name := range claimHeaderNames {
		header[name.http] = values[i : i+1 : i+1]
	}
}

// ruleHeaders is the headers as a realtime subscription's options hold
// them. A session's connections (its open pages, each reconnection) share
// one map, which no one changes.
func (h *claimHeaders) ruleHeaders() map[string]string {
	if out, ok := sessionRuleHeaderMaps.Get(*h); ok {
		return out
	}
	out := make(map[string]string, len(claimHeaderNames))
	for i, name := range claimHeaderNames {
		out[name.rule] = h[i]
	}
	sessionRuleHeaderMaps.Add(*h, out)
	return out
}

// sessionRuleHeaderMaps are the maps of the sessions that subscribed
// lately, by their headers.
var sessionRuleHeaderMaps = expirable.NewLRU[claimHeaders, map[string]string](1024, nil, time.Minute)

// tokenClaims are the claims that clerk.SessionClaims lacks or reads
// differently, decoded from the same payload (CustomClaimsConstructor).
type tokenClaims struct {
	// Status is "active", or "pending" while the user still has a task to
	// finish (for example choosing an organization).
	Status string `json:"sts"`
	// Version is "v": 2, or none for version 1 (clerk-sdk-go says 1 for a
	// version 2 token without an active organization).
	Version int `json:"v"`
	// Features are v2's "fea": scope:feature, the scope o, u, ou or uo.
	Features string `json:"fea"`
	Plan     string `json:"pla"`
	// Org is v2's active organization.
	Org *struct {
		ID          string `json:"id"`
		Slug        string `json:"slg"`
		Role        string `json:"rol"`
		Permissions string `json:"per"`
		Masks       string `json:"fpm"`
	} `json:"o"`
	// FactorAges is "fva": minutes since the first and the second factor's
	// verification. clerk.SessionClaims reads a missing one as [0, 0],
	// "just verified"; nil here.
	FactorAges []int64 `json:"fva"`
	Actor      *struct {
		Sub string `json:"sub"`
	} `json:"act"`
}

// headersOf reads a verified token's claims as headers. Versions 1 and 2 of
// Clerk's session token give the same headers, as @clerk/shared's
// jwtPayloadParser gives the same auth object.
func headersOf(c *clerk.SessionClaims) *claimHeaders {
	t, _ := c.Custom.(*tokenClaims)
	if t == nil {
		t = &tokenClaims{}
	}
	var h claimHeaders
	h[0] = c.SessionID
	var permissions []string
	if t.Version == 2 {
		if t.Org != nil {
			h[1], h[2] = t.Org.ID, t.Org.Slug
			if t.Org.Role != "" {
				h[3] = "org:" + t.Org.Role
			}
			permissions = orgPermissionsV2(t.Features, t.Org.Permissions, t.Org.Masks)
		}
	} else {
		h[1], h[2], h[3] = c.ActiveOrganizationID, c.ActiveOrganizationSlug, c.ActiveOrganizationRole
		permissions = c.ActiveOrganizationPermissions
	}
	if h[1] == "" {
		// An organization's role and permissions mean nothing without it.
		h[3], permissions = "", nil
	}
	h[4] = commaWrapped(permissions)
	h[5] = commaWrapped(scopedFeatures(t.Features))
	h[6] = t.Plan
	h[7] = "-1"
	if len(t.FactorAges) == 2 && t.FactorAges[1] >= 0 {
		h[7] = strconv.FormatInt(t.FactorAges[1], 10)
	}
	if t.Actor != nil {
		h[8] = t.Actor.Sub
		if h[8] == "" {
			// Impersonated, by someone unnamed: a rule refusing
			// impersonation must still see it.
			h[8] = "unknown"
		}
	}
	return &h
}

// commaWrapped joins items as ",a,b,", so that a rule's `~ ",a,"` matches
// the item a and no item that merely contains it; "" when there is none.
func commaWrapped(items []string) string {
	if len(items) == 0 {
		return ""
	}
	return "," + strings.Join(items, ",") + ","
}

// splitByScope splits v2's "fea" into organization and user features, as
// @clerk/shared does (packages/shared/src/authorization.ts, splitByScope).
// An element without a scope, which makes Clerk's throw, is left out.
func splitByScope(fea string) (org, user []string) {
	if fea == "" {
		return nil, nil
	}
	for part := range strings.SplitSeq(fea, ",") {
		scope, feature, ok := strings.Cut(strings.TrimSpace(part), ":")
		if !ok {
			continue
		}
		switch scope {
		case "o":
			org = append(org, feature)
		case "u":
			user = append(user, feature)
		case "ou", "uo":
			org = append(org, feature)
			user = append(user, feature)
		}
	}
	return org, user
}

// scopedFeatures names each feature with its scope as Clerk's has({feature})
// does: org:reports for an organization's, user:reports for the user's.
func scopedFeatures(fea string) []string {
	org, user := splitByScope(fea)
	out := make([]string, 0, len(org)+len(user))
	for _, f := range org {
		out = append(out, "org:"+f)
	}
	for _, f := range user {
		out = append(out, "user:"+f)
	}
	return out
}

// orgPermissionsV2 decodes a v2 token's organization permissions as
// @clerk/shared's jwtPayloadParser does (packages/shared/src/jwtPayloadParser.ts,
// parsePermissions and buildOrgPermissions): the i-th mask of "fpm", a
// decimal of any length, belongs to the i-th organization feature of "fea",
// and its bit j grants the j-th permission of "per". A malformed mask
// grants nothing. clerk-sdk-go v2.7.0 pairs the masks with every feature,
// the user's included, and reads them as ints, which loses permissions past
// the 63rd: hence this.
func orgPermissionsV2(fea, per, fpm string) []string {
	if per == "" || fpm == "" {
		return nil
	}
	permissions := strings.Split(per, ",")
	for i := range permissions {
		permissions[i] = strings.TrimSpace(permissions[i])
	}
	masks := strings.Split(fpm, ",")
	features, _ := splitByScope(fea)
	var out []string
	for i, feature := range features {
		if i >= len(masks) {
			break
		}
		mask := strings.TrimSpace(masks[i])
		if !isDecimal(mask) {
			continue
		}
		if n, err := strconv.ParseUint(mask, 10, 64); err == nil {
			for j := 0; j < len(permissions) && j < 64; j++ {
				if n&(1<<j) != 0 {
					out = append(out, "org:"+feature+":"+permissions[j])
				}
			}
			continue
		}
		n, _ := new(big.Int).SetString(mask, 10)
		for j := range permissions {
			if n.Bit(j) == 1 {
				out = append(out, "org:"+feature+":"+permissions[j])
			}
		}
	}
	return out
}

func isDecimal(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// stripClerkHeaders removes every header that rules would read as
// @request.headers.x_clerk_…: PocketBase snake-cases a header's name for
// rules, so X-Clerk-Org-Id, x_clerk_org_id and X.Clerk.Org.Id all reach
// x_clerk_org_id. Only a name containing "clerk" in any case can (any other
// character splits words, a byte outside ASCII included); the others cost
// a scan of their name.
func stripClerkHeaders(header http.Header) {
	for name := range header {
		if containsClerk(name) && isClerkHeader(name) {
			delete(header, name)
		}
	}
}

// isClerkHeader tells whether rules read the header name as x_clerk_….
func isClerkHeader(name string) bool {
	return strings.HasPrefix(inflector.Snakecase(name), clerkHeaderPrefix)
}

// containsClerk is strings.Contains(strings.ToLower(name), "clerk"),
// without the copy.
func containsClerk(name string) bool {
	for i := 0; i+5 <= len(name); i++ {
		if name[i]|0x20 == 'c' && name[i+1]|0x20 == 'l' && name[i+2]|0x20 == 'e' && name[i+3]|0x20 == 'r' && name[i+4]|0x20 == 'k' {
			return true
		}
	}
	return false
}

// stripBatchClerkHeaders removes the x_clerk_… headers that a batch
// request's sub-requests set: PocketBase applies them on top of the batch
// request's own headers, those that this server set included.
func stripBatchClerkHeaders(e *core.BatchRequestEvent) error {
	for _, r := range e.Batch {
		for name := range r.Headers {
			if isClerkHeader(name) {
				delete(r.Headers, name)
			}
		}
	}
	return e.Next()
}
