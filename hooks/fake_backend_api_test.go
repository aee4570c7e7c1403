package hooks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/go-jose/go-jose/v3"
)

// fakeClerk is Clerk's Backend API as far as PocketClerk uses it, behind a
// bearer key: GET /v1/users (limit, offset, order_by=+created_at, user_id
// filters), /v1/users/count, /v1/users/{id} and /v1/jwks, and the
// organizations' endpoints (org_fake_backend_api_test.go). Failures can be
// queued.
type fakeClerk struct {
	*httptest.Server
	Key string

	mu    sync.Mutex
	users []*clerk.User // in created_at order
	// orgs and members are in created_at order; a member's Organization
	// is served as the current copy in orgs (see org_fake_backend_api_test.go).
	orgs     []*clerk.Organization
	members  []*clerk.OrganizationMembership
	keys     []jose.JSONWebKey
	failures []fakeFailure
	requests int
	// onList runs before a /v1/users page is answered, with its offset.
	onList func(offset int)
	// userDelay holds each /v1/users/{id} answer back, so that concurrent requests overlap.
	userDelay time.Duration
	jwksDown  bool

	jwksHits atomic.Int64
	userHits atomic.Int64
	// memberHits counts GET /v1/users/{id}/organization_memberships.
	memberHits atomic.Int64
	// memberDelay holds each of those answers back, so that requests overlap.
	memberDelay time.Duration
}

// fakeFailure answers one request instead of the API; the zero value lets
// one request through.
type fakeFailure struct {
	Status     int
	RetryAfter string
	Hangup     bool // drop the connection: a network error
}

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
	f := &fakeClerk{Key: fakeSecretKey}
	for i := range n {
		f.users = append(f.users, fakeUser(i))
	}
	for _, k := range keys {
		f.keys = append(f.keys, k.jwk())
	}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// fakeUser is the i-th user, created i seconds after a fixed instant.
func fakeUser(i int) *clerk.User {
	created := int64(1700000000000 + i*1000)
	emailID := fmt.Sprintf("idn_email_%06d", i)
	return &clerk.User{
		ID:                    fmt.Sprintf("user_fake%06d", i),
		FirstName:             clerk.String(fmt.Sprintf("First%d", i)),
		LastName:              clerk.String("Last"),
		PrimaryEmailAddressID: clerk.String(emailID),
		EmailAddresses: []*clerk.EmailAddress{{
			ID:           emailID,
			Object:       "email_address",
			EmailAddress: fmt.Sprintf("user%06d@example.com", i),
			Verification: &clerk.Verification{Status: "verified", Strategy: "email_code"},
		}},
		PublicMetadata:  json.RawMessage(`{"plan":"free"}`),
		PrivateMetadata: json.RawMessage(`{}`),
		Object:          "user",
		CreatedAt:       created,
		UpdatedAt:       created,
	}
}

// user returns the stored user by id for editing; call under edit.
func (f *fakeClerk) user(id string) *clerk.User {
	for _, u := range f.users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// edit changes the fake's users under its lock.
func (f *fakeClerk) edit(fn func(f *fakeClerk)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// remove deletes a user from Clerk; call under edit.
func (f *fakeClerk) remove(id string) {
	f.users = slices.DeleteFunc(f.users, func(u *clerk.User) bool { return u.ID == id })
}

func (f *fakeClerk) fail(failures ...fakeFailure) {
	f.edit(func(f *fakeClerk) { f.failures = append(f.failures, failures...) })
}

func (f *fakeClerk) requestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *fakeClerk) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	var failure *fakeFailure
	if len(f.failures) > 0 {
		failure = &f.failures[0]
		f.failures = f.failures[1:]
	}
	f.mu.Unlock()

	if failure != nil && (failure.Status != 0 || failure.Hangup) {
		if failure.Hangup {
			conn, _, _ := w.(http.Hijacker).Hijack()
			conn.Close()
			return
		}
		if failure.RetryAfter != "" {
			w.Header().Set("Retry-After", failure.RetryAfter)
		}
		clerkError(w, failure.Status, "injected")
		return
	}
	if r.Header.Get("Authorization") != "Bearer "+f.Key {
		clerkError(w, http.StatusUnauthorized, "authentication_invalid")
		return
	}
	if r.Method != http.MethodGet {
		clerkError(w, http.StatusMethodNotAllowed, "method_not_allowed")
		return
	}
	if f.serveOrganizations(w, r) {
		return
	}
	switch r.URL.Path {
	case "/v1/users":
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
		if limit <= 0 || limit > 500 {
			limit = 10 // Clerk's default; over 500 is rejected by Clerk
		}
		if o := r.URL.Query().Get("order_by"); o != "" && o != "+created_at" {
			clerkError(w, http.StatusUnprocessableEntity, "unsupported order_by "+o)
			return
		}
		if f.onList != nil {
			f.onList(offset)
		}
		f.mu.Lock()
		users := f.filter(r)
		page := []*clerk.User{}
		if offset < len(users) {
			page = users[offset:min(offset+limit, len(users))]
		}
		body, err := json.Marshal(page)
		f.mu.Unlock()
		if err != nil {
			clerkError(w, http.StatusInternalServerError, err.Error())
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	case "/v1/users/count":
		f.mu.Lock()
		n := len(f.filter(r))
		f.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"object":"total_count","total_count":%d}`, n)
	case "/v1/jwks":
		f.jwksHits.Add(1)
		f.mu.Lock()
		down, keys := f.jwksDown, jose.JSONWebKeySet{Keys: f.keys}
		f.mu.Unlock()
		if down {
			clerkError(w, http.StatusServiceUnavailable, "service_unavailable")
			return
		}
		_ = json.NewEncoder(w).Encode(keys)
	default:
		id, ok := strings.CutPrefix(r.URL.Path, "/v1/users/")
		if !ok {
			clerkError(w, http.StatusNotFound, "resource_not_found")
			return
		}
		f.userHits.Add(1)
		time.Sleep(f.userDelay)
		f.mu.Lock()
		u := f.user(id)
		body, err := json.Marshal(u)
		f.mu.Unlock()
		if u == nil || err != nil {
			clerkError(w, http.StatusNotFound, "resource_not_found")
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.Write(body)
	}
}

func (f *fakeClerk) addKey(k signingKey) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.keys = append(f.keys, k.jwk())
}

// addUser adds or replaces a user given as Clerk's JSON.
func (f *fakeClerk) addUser(t testing.TB, user map[string]any) {
	t.Helper()
	b, err := json.Marshal(user)
	if err != nil {
		t.Fatal(err)
	}
	var u clerk.User
	if err := json.Unmarshal(b, &u); err != nil {
		t.Fatal(err)
	}
	f.edit(func(f *fakeClerk) {
		f.remove(u.ID)
		f.users = append(f.users, &u)
	})
}

// config is the plugin configuration that talks to this fake.
func (f *fakeClerk) config() Config {
	return Config{WebhookSecrets: []string{testSecret}, SecretKey: f.Key, APIURL: f.URL}
}

// filter applies the user_id filter; call under the lock.
func (f *fakeClerk) filter(r *http.Request) []*clerk.User {
	ids := r.URL.Query()["user_id"]
	if len(ids) == 0 {
		return f.users
	}
	var out []*clerk.User
	for _, u := range f.users {
		if slices.Contains(ids, u.ID) {
			out = append(out, u)
		}
	}
	return out
}

func clerkError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	fmt.Fprintf(w, `{"errors":[{"code":%q,"message":%q}],"clerk_trace_id":"trace_fake"}`, code, http.StatusText(status))
}
