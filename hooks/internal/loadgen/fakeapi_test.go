package loadgen

import (
	"net/http"
	"net/http/httptest"
	"os"
	"testing"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// The bench's users are Clerk's, as the Backend API's spec says.
func TestFakeBackendAPIAnswersAsClerksSpec(t *testing.T) {
	fixture, err := os.ReadFile("../../../testdata/user.created.json")
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := NewTemplate(fixture)
	if err != nil {
		t.Fatal(err)
	}
	users := []User{{ID: "user_a", Email: "a@example.org", FirstName: "A", LastName: "One", CreatedAt: 1, UpdatedAt: 2}}
	api, err := FakeBackendAPI(tmpl, "sk_live_x", users)
	if err != nil {
		t.Fatal(err)
	}
	spec, err := clerkfake.LoadSpec("../../../" + clerkfake.SpecFile)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(spec.Check(api, func(msg string) { t.Error(msg) }, nil))
	defer srv.Close()
	for _, path := range []string{"/v1/users?limit=500&offset=0&order_by=%2Bcreated_at", "/v1/users/count", "/v1/organizations?limit=500&offset=0"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer sk_live_x")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			t.Errorf("%s: %d", path, res.StatusCode)
		}
	}
}
