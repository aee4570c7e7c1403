package hooks

import (
	"net/http"
	"testing"
)

// TestAuthRefreshNeverMintsAPocketBaseTokenFromAClerkSession: a session
// token with a top-level "refreshable": true claim is not exchanged for
// PocketBase's own renewable token.
func TestAuthRefreshNeverMintsAPocketBaseTokenFromAClerkSession(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	url, _ := twoClients(t, key, nil)

	refreshable := validClaims(userA)
	refreshable["refreshable"] = true
	for _, c := range []claims{refreshable, validClaims(userA)} {
		r := send(t, http.MethodPost, url+"/api/collections/clients/auth-refresh", "Bearer "+key.sign(t, c), "")
		if token, _ := r.Body["token"].(string); token != "" {
			if h, _ := parseTokenHeader(token); h.Alg != "RS256" {
				t.Fatalf("auth-refresh minted a PocketBase token (%s) from a Clerk session: %+v", h.Alg, r)
			}
		}
		if r.Status != http.StatusForbidden {
			t.Fatalf("auth-refresh with a Clerk token (refreshable: %v): %+v", c["refreshable"], r)
		}
		mustContain(t, r.Body["message"], "renewed by Clerk")
	}
}
