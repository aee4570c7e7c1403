package hooks

import (
	"net/http"
	"net/url"
	"slices"
	"testing"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// publicProfileIDs lists client_profiles as authorization may.
func publicProfileIDs(t testing.TB, baseURL, authorization string) []string {
	t.Helper()
	r := get(t, baseURL+"/api/collections/client_profiles/records", authorization)
	if r.Status != http.StatusOK {
		t.Fatalf("list client_profiles: %d %v", r.Status, r.Body)
	}
	var ids []string
	for _, item := range r.Body["items"].([]any) {
		ids = append(ids, item.(map[string]any)["id"].(string))
	}
	return ids
}

func TestClientsSeeEachOthersPublicProfilesOnly(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	app, base := ownerApp(t, key)
	idA, idB := clientOf(t, app, userA).Id, clientOf(t, app, userB).Id
	authA := "Bearer " + key.token(t, userA)
	profiles := base + "/api/collections/client_profiles/records"

	if ids := publicProfileIDs(t, base, authA); !slices.Contains(ids, idA) || !slices.Contains(ids, idB) || len(ids) != 2 {
		t.Fatalf("A lists %v", ids)
	}
	r := get(t, profiles+"/"+idB, authA)
	if r.Status != http.StatusOK || r.Body["firstName"] != "Bob" {
		t.Fatalf("A views B: %d %v", r.Status, r.Body)
	}
	for name := range r.Body {
		if !slices.Contains([]string{"id", "username", "firstName", "lastName", "imageUrl", "collectionId", "collectionName"}, name) {
			t.Errorf("client_profiles shows %s", name)
		}
	}

	// A guest gets nothing.
	if ids := publicProfileIDs(t, base, ""); len(ids) != 0 {
		t.Fatalf("a guest lists %v", ids)
	}
	if r := get(t, profiles+"/"+idB, ""); r.Status != http.StatusNotFound {
		t.Fatalf("a guest views a profile: %d", r.Status)
	}

	// Nothing else is reachable, by fields, filter or sort.
	emailB := clientOf(t, app, userB).Email()
	for _, query := range []string{
		"fields=email,phone,publicMetadata,privateMetadata,clerkUser",
		"filter=" + url.QueryEscape(`email="`+emailB+`"`),
		"filter=" + url.QueryEscape(`id="`+idB+`" && @collection.clients.email="`+emailB+`"`),
		"filter=" + url.QueryEscape(`id="`+idB+`" && @collection.clients.id=id && @collection.clients.privateMetadata~"private"`),
		"sort=email",
		"sort=-publicMetadata",
	} {
		r := get(t, profiles+"?"+query, authA)
		if r.Status == http.StatusOK {
			for _, item := range r.Body["items"].([]any) {
				for name := range item.(map[string]any) {
					if !slices.Contains([]string{"id", "username", "firstName", "lastName", "imageUrl", "collectionId", "collectionName"}, name) {
						t.Errorf("%s: reached %s", query, name)
					}
				}
			}
			if n := len(r.Body["items"].([]any)); n != 0 && query[:6] == "filter" {
				t.Errorf("%s: matched %d profiles", query, n)
			}
		}
	}

	// A banned user leaves the list.
	banned := clerkfake.NewUser(userB, "Bob", 2000)
	banned["banned"] = true
	deliver(t, base, "msg_ban_b", clerkfake.Event(eventUserUpdated, banned))
	if ids := publicProfileIDs(t, base, authA); slices.Contains(ids, idB) {
		t.Fatal("a banned user is listed")
	}
}
