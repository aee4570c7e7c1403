package hooks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"testing"

	"github.com/pocketbase/pocketbase/core"
)

// Ids of the organization fixtures.
const (
	fixtureOrgID        = "org_2g7np7Hrk0SN6kj5EDMLDaKNL0S"
	fixtureMembershipID = "orgmem_2g7np7Hrk0SN6kj5EDMLDaKNL0S"
	fixtureMemberUserID = "user_2h8op3Isl1QR7tKu5FGNfaLKEoU"
)

// orgEventBody is the fixture of typ (organization.* or
// organizationMembership.*), with data edited by edit.
func orgEventBody(t testing.TB, typ string, edit func(data map[string]any)) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(readFixture(t, typ+".json"), &env); err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(env["data"].(map[string]any))
	}
	b, _ := json.Marshal(env)
	return b
}

func orgOf(t testing.TB, app core.App, clerkID string) *core.Record {
	t.Helper()
	org, err := findOrganization(app, clerkID)
	if err != nil {
		t.Fatal(err)
	}
	if org == nil {
		return nil
	}
	return org.Record
}

func membershipOf(t testing.TB, app core.App, clerkID string) *core.Record {
	t.Helper()
	m, err := findMembership(app, clerkID)
	if err != nil {
		t.Fatal(err)
	}
	if m == nil {
		return nil
	}
	return m.Record
}

// mustDeliver delivers body and fails unless it is answered 200 with want.
func mustDeliver(t testing.TB, url, svixID string, body []byte, want outcome) {
	t.Helper()
	r := deliver(t, url, svixID, body)
	if r.Status != http.StatusOK || r.Body["outcome"] != string(want) {
		t.Fatalf("%s: got %d %v, want outcome %q", svixID, r.Status, r.Body, want)
	}
}

// listAs lists a collection's records with token (empty: anonymous) and
// returns the values of field.
func listAs(t testing.TB, url, token, collection, field string) []string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url+"/api/collections/"+collection+"/records?perPage=500", nil)
	if token != "" {
		req.Header.Set("Authorization", token)
	}
	r := do(t, req)
	if r.Status != http.StatusOK {
		t.Fatalf("listing %s: %d %v", collection, r.Status, r.Body)
	}
	var out []string
	items, _ := r.Body["items"].([]any)
	for _, item := range items {
		out = append(out, item.(map[string]any)[field].(string))
	}
	return out
}

// tryList is listAs for goroutines other than the test's: the clerkIds of
// the records of collection that authorization may see.
func tryList(url, authorization, collection string) ([]string, error) {
	return tryListField(url, authorization, collection, "clerkId")
}

// tryListField is what tryList is, for any text field.
func tryListField(url, authorization, collection, field string) ([]string, error) {
	req, _ := http.NewRequest(http.MethodGet, url+"/api/collections/"+collection+"/records?perPage=500", nil)
	req.Header.Set("Authorization", authorization)
	r, err := tryDo(req)
	if err != nil {
		return nil, err
	}
	if r.Status != http.StatusOK {
		return nil, fmt.Errorf("listing %s: %d %v", collection, r.Status, r.Body)
	}
	var out []string
	items, _ := r.Body["items"].([]any)
	for _, item := range items {
		out = append(out, fmt.Sprint(item.(map[string]any)[field]))
	}
	return out, nil
}
