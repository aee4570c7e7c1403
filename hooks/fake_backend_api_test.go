package hooks

import (
	"fmt"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/clerk/clerk-sdk-go/v2"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// fakeClerk is the tests' Clerk Backend API (hooks/clerkfake),
// served on loopback. Every request the project makes and every answer the
// fake gives is checked against Clerk's OpenAPI spec: a mismatch fails the
// test that made the request.
type fakeClerk struct {
	*clerkfake.BackendAPI
	*httptest.Server
	// operations are the ids of the spec's operations requested.
	operations sync.Map
}

type fakeFailure = clerkfake.Failure

// fakeSecretKey is a production instance's key (sk_live_): its rate limit
// spaces requests 11 ms apart, a development key's 111 ms, which would make
// every test that talks to the fake slow.
const fakeSecretKey = "sk_live_fake"

// fakeDevSecretKey is a development instance's key, for the one test of its
// rate limit.
const fakeDevSecretKey = "sk_test_fake"

// newFakeClerk serves n generated users (see fakeUser) and the given signing keys.
func newFakeClerk(t testing.TB, n int, keys ...signingKey) *fakeClerk {
	t.Helper()
	api := clerkfake.New(fakeSecretKey)
	for i := range n {
		api.Users = append(api.Users, fakeUser(i))
	}
	for _, k := range keys {
		api.Keys = append(api.Keys, k.jwk())
	}
	spec, err := clerkfake.LoadSpec("../" + clerkfake.SpecFile)
	if err != nil {
		t.Fatal(err)
	}
	f := &fakeClerk{BackendAPI: api}
	violation := func(msg string) { t.Errorf("Clerk's Backend API spec: %s", msg) }
	f.Server = httptest.NewServer(spec.Check(api, violation, func(op string) { f.operations.Store(op, true) }))
	t.Cleanup(f.Close)
	return f
}

// fakeUser is the i-th user, created i seconds after a fixed instant.
func fakeUser(i int) *clerk.User {
	created := int64(1700000000000 + i*1000)
	u := clerkfake.NewUser(fmt.Sprintf("user_fake%06d", i), fmt.Sprintf("First%d", i), created)
	u["last_name"], u["created_at"] = "Last", created
	u.SetEmail(fmt.Sprintf("user%06d@example.com", i))
	u["public_metadata"], u["private_metadata"] = map[string]any{"plan": "free"}, map[string]any{}
	// No phone: syncs of thousands of users stay as light as Clerk's lean users.
	u["phone_numbers"], u["primary_phone_number_id"] = []any{}, nil
	return u.Served()
}

// edit changes the fake's state under its lock.
func (f *fakeClerk) edit(fn func(f *fakeClerk)) {
	f.BackendAPI.Edit(func(*clerkfake.BackendAPI) { fn(f) })
}

func (f *fakeClerk) addKey(k signingKey) {
	f.Edit(func(api *clerkfake.BackendAPI) { api.Keys = append(api.Keys, k.jwk()) })
}

// addUser adds or replaces a user.
func (f *fakeClerk) addUser(u clerkfake.User) {
	f.Edit(func(api *clerkfake.BackendAPI) { api.PutUser(u.Served()) })
}

// config is the plugin configuration that talks to this fake.
func (f *fakeClerk) config() Config {
	return Config{WebhookSecrets: []string{testSecret}, SecretKey: f.Key, APIURL: f.URL}
}
