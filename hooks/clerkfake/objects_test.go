package clerkfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"testing"
)

// The builders' examples are the data of Clerk's example events that the
// tests also deliver as they are.
func TestExamplesAreClerksExampleEvents(t *testing.T) {
	for fixture, got := range map[string]map[string]any{
		"user.created.json":                   ExampleUser(),
		"organization.created.json":           ExampleOrganization(),
		"organizationMembership.created.json": ExampleMembership(),
	} {
		raw, err := os.ReadFile("../../testdata/" + fixture)
		if err != nil {
			t.Fatal(err)
		}
		var event struct{ Data map[string]any }
		if err := json.Unmarshal(raw, &event); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(got, event.Data) {
			t.Errorf("the example of %s is not its data:\n%v\nwant\n%v", fixture, got, event.Data)
		}
	}
}

// What the builders make is what Clerk's Backend API answers, by its spec.
func TestBuiltObjectsAreServedAsClerksSpec(t *testing.T) {
	spec, err := LoadSpec("../../" + SpecFile)
	if err != nil {
		t.Fatal(err)
	}
	api := New("sk_live_x")
	api.Users = append(api.Users, NewUser("user_a", "Ada", 2000).Served())
	api.Orgs = append(api.Orgs, NewOrganization("org_a", 1000).Served())
	api.Members = append(api.Members, NewMembership("orgmem_a", "org_a", "user_a", "org:admin", 3000).Served())
	check := spec.Check(api, func(msg string) { t.Error(msg) }, nil)
	for _, path := range []string{"/v1/users/user_a", "/v1/organizations/org_a", "/v1/organization_memberships?limit=10&offset=0"} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer sk_live_x")
		answer := httptest.NewRecorder()
		check.ServeHTTP(answer, req)
		if answer.Code != http.StatusOK {
			t.Errorf("%s: %d %s", path, answer.Code, answer.Body)
		}
	}
}

// A built object is changed as JSON, and the webhook carries it as it is.
func TestEventCarriesTheObject(t *testing.T) {
	u := NewUser("user_A", "Ada", 2000)
	u.SetEmail("ada@example.org")
	var event struct {
		Type, Object string
		Timestamp    int64
		Data         map[string]any
	}
	if err := json.Unmarshal(Event("user.updated", u), &event); err != nil {
		t.Fatal(err)
	}
	served := u.Served()
	if event.Type != "user.updated" || event.Object != "event" || event.Timestamp != 2000 ||
		event.Data["id"] != "user_A" || served.ID != "user_A" || served.EmailAddresses[0].EmailAddress != "ada@example.org" {
		t.Fatalf("event %+v, served %+v", event, served)
	}
}
