package clerkfake

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"reflect"
	"strings"
	"testing"
)

// The builders' examples are the data of Clerk's example events that the
// tests also deliver as they are.
func TestExamplesAreClerksExampleEvents(t *testing.T) {
	for fixture, got := range map[string]map[string]any{
		"user.created.json":                   ExampleUser(),
		"organization.created.json":           ExampleOrganization(),
		"organizationMembership.created.json": ExampleMembership(),
		"subscriptionItem.updated.json":       ExampleSubscriptionItem(),
		"paymentAttempt.created.json":         ExamplePaymentAttempt(),
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
// A free plan's item is listed with include_free=true only, as Clerk
// lists it.
func TestFreeItemsAreListedWhenAskedFor(t *testing.T) {
	api := New("sk_live_x")
	free := NewPlan("cplan_free", "free", "user", 0, "basic")
	api.Plans = append(api.Plans, free)
	api.Items = append(api.Items, NewSubscriptionItem("csub_item_a", "user_a", free, "active", 4000))
	for path, want := range map[string]string{
		"/v1/billing/subscription_items":                   `"total_count":0`,
		"/v1/billing/subscription_items?include_free=true": `"total_count":1`,
	} {
		req := httptest.NewRequest(http.MethodGet, path, nil)
		req.Header.Set("Authorization", "Bearer sk_live_x")
		answer := httptest.NewRecorder()
		api.ServeHTTP(answer, req)
		if !strings.Contains(answer.Body.String(), want) {
			t.Errorf("%s: %s, want %s", path, answer.Body, want)
		}
	}
}

func TestBuiltObjectsAreServedAsClerksSpec(t *testing.T) {
	spec, err := LoadSpec("../../" + SpecFile)
	if err != nil {
		t.Fatal(err)
	}
	api := New("sk_live_x")
	api.Users = append(api.Users, NewUser("user_a", "Ada", 2000).Served())
	api.Orgs = append(api.Orgs, NewOrganization("org_a", 1000).Served())
	api.Members = append(api.Members, NewMembership("orgmem_a", "org_a", "user_a", "org:admin", 3000).Served())
	free, team := NewPlan("cplan_free", "free", "user", 0, "basic"), NewPlan("cplan_team", "team", "org", 9900, "teams")
	api.Plans = append(api.Plans, free, team)
	api.Items = append(api.Items, NewSubscriptionItem("csub_item_a", "user_a", free, "active", 4000),
		NewSubscriptionItem("csub_item_o", "org_a", team, "canceled", 5000))
	check := spec.Check(api, func(msg string) { t.Error(msg) }, nil)
	for _, path := range []string{"/v1/users/user_a", "/v1/organizations/org_a", "/v1/organization_memberships?limit=10&offset=0",
		"/v1/billing/plans?limit=500&offset=0", "/v1/billing/plans?payer_type=org",
		"/v1/billing/subscription_items?limit=500&offset=0&include_free=true", "/v1/billing/subscription_items",
		"/v1/users/user_a/billing/subscription", "/v1/organizations/org_a/billing/subscription"} {
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
