package clerkfake

import (
	"embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/clerk/clerk-sdk-go/v2"
)

// User, Organization and Membership are Clerk's objects as the JSON Clerk
// writes them, the same in a webhook's data and in the Backend API's
// answers (the User, Organization and OrganizationMembership schemas of
// Clerk's spec). A test builds one with NewUser, NewOrganization or
// NewMembership, changes it field by field as JSON, and hands the same
// value to a webhook (Event) or to the stand-in (Served): whichever way it
// reaches PocketClerk, it is the same object.
type (
	User         map[string]any
	Organization map[string]any
	Membership   map[string]any
)

// examples holds the data of Clerk's example events (testdata's
// user.created.json, organization.created.json,
// organizationMembership.created.json, subscriptionItem.updated.json and
// paymentAttempt.created.json; objects_test.go keeps them equal).
//
//go:embed examples/*.json
var examples embed.FS

// example is a fresh copy of the example named name, to change at will.
func example(name string) map[string]any {
	raw, err := examples.ReadFile("examples/" + name + ".json")
	if err != nil {
		panic(err)
	}
	var data map[string]any
	if err := json.Unmarshal(raw, &data); err != nil {
		panic(err)
	}
	return data
}

// ExampleUser is the user of Clerk's example user.created event, as is.
func ExampleUser() User { return example("user") }

// NewUser is Clerk's example user as another user: its own id, first name,
// updated_at (Unix milliseconds), primary email address (its id in lower
// case at example.org: emails are unique among clients) and private
// metadata (a secret that names it, to tell whose data a reader sees).
func NewUser(id, firstName string, updatedAt int64) User {
	u := ExampleUser()
	u["id"], u["first_name"], u["updated_at"] = id, firstName, updatedAt
	u.SetEmail(strings.ToLower(id) + "@example.org")
	u["private_metadata"] = map[string]any{"secret": "private-of-" + id}
	return u
}

// SetEmail changes the address of the user's first email address.
func (u User) SetEmail(address string) {
	u["email_addresses"].([]any)[0].(map[string]any)["email_address"] = address
}

// Served is the user as the Backend API serves it (UserFromWebhook).
func (u User) Served() *clerk.User {
	served, err := UserFromWebhook(mustJSON(u))
	if err != nil {
		panic(fmt.Sprintf("user %v: %v", u["id"], err))
	}
	return served
}

// ExampleOrganization is the organization of Clerk's example
// organization.created event, as is.
func ExampleOrganization() Organization { return example("organization") }

// NewOrganization is Clerk's example organization as another one: its own
// id, name ("Org " and the id), slug (the id with dashes), image, and
// created and updated at (Unix milliseconds).
func NewOrganization(id string, at int64) Organization {
	o := ExampleOrganization()
	o["id"], o["name"], o["slug"] = id, "Org "+id, strings.ReplaceAll(id, "_", "-")
	o["image_url"] = "https://img.clerk.com/" + id
	o["created_at"], o["updated_at"] = at, at
	return o
}

// Served is the organization as the Backend API serves it.
func (o Organization) Served() *clerk.Organization {
	return served[clerk.Organization](o)
}

// ExampleMembership is the membership of Clerk's example
// organizationMembership.created event, as is.
func ExampleMembership() Membership { return example("organization_membership") }

// NewMembership is Clerk's example membership as the membership id of
// userID in orgID with role (its name that of the role, capitalized, as
// Clerk names its default roles), created and updated at (Unix milliseconds).
// The organization it embeds is the example's with orgID as its id and
// slug; the stand-in serves the current copy of the organization instead.
func NewMembership(id, orgID, userID, role string, at int64) Membership {
	m := ExampleMembership()
	name := strings.TrimPrefix(role, "org:")
	m["id"], m["role"], m["role_name"] = id, role, strings.ToUpper(name[:1])+name[1:]
	m["created_at"], m["updated_at"] = at, at
	org := m["organization"].(map[string]any)
	org["id"], org["slug"] = orgID, orgID
	m["public_user_data"].(map[string]any)["user_id"] = userID
	return m
}

// Served is the membership as the Backend API serves it.
func (m Membership) Served() *clerk.OrganizationMembership {
	return served[clerk.OrganizationMembership](m)
}

// served decodes data as clerk-sdk-go's T.
func served[T any](data map[string]any) *T {
	var out T
	if err := json.Unmarshal(mustJSON(data), &out); err != nil {
		panic(fmt.Sprintf("%v %v: %v", data["object"], data["id"], err))
	}
	return &out
}

// Event is the body of Clerk's webhook of type typ carrying data (a User,
// Organization or Membership, or a deletion's data), emitted at its
// updated_at.
func Event(typ string, data map[string]any) []byte {
	return mustJSON(map[string]any{"type": typ, "object": "event", "data": data, "timestamp": data["updated_at"]})
}

func mustJSON(v any) []byte {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}
