package clerkfake

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// The check reports what Clerk would not take or send: a request outside
// the spec's parameters, and an answer that is not the operation's.
func TestSpecCheckReportsWhatClerkWouldNotDo(t *testing.T) {
	spec, err := LoadSpec("../../" + SpecFile)
	if err != nil {
		t.Fatal(err)
	}
	var violations []string
	report := func(msg string) { violations = append(violations, msg) }
	api := New("sk_live_x")
	wrongAnswer := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusForbidden)
		w.Write([]byte(`{"errors":[{"code":"x"}]}`)) // no message: not Clerk's envelope
	})
	for _, c := range []struct {
		handler http.Handler
		path    string
		want    string
	}{
		{api, "/v1/users?limit=501", `"limit"`},
		{api, "/v1/users/count", ""},
		{api, "/v1/not_an_endpoint", "not an operation"},
		{wrongAnswer, "/v1/organizations", "is not Clerk's"},
		{api, "/v1/organizations?limit=500&offset=0&order_by=%2Bcreated_at", ""},
	} {
		violations = nil
		srv := httptest.NewServer(spec.Check(c.handler, report, nil))
		req, _ := http.NewRequest(http.MethodGet, srv.URL+c.path, nil)
		req.Header.Set("Authorization", "Bearer sk_live_x")
		res, err := http.DefaultClient.Do(req)
		srv.Close()
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		got := strings.Join(violations, "\n")
		if c.want == "" && got != "" || c.want != "" && !strings.Contains(got, c.want) {
			t.Errorf("%s: violations %q, want one naming %q", c.path, got, c.want)
		}
	}
}

// An instance without organizations answers each organization endpoint
// 403 as Clerk does, in Clerk's envelope.
func TestOrganizationsDisabledAnswersAsClerk(t *testing.T) {
	spec, err := LoadSpec("../../" + SpecFile)
	if err != nil {
		t.Fatal(err)
	}
	api := New("sk_live_x")
	api.OrganizationsDisabled = true
	srv := httptest.NewServer(spec.Check(api, func(msg string) { t.Error(msg) }, nil))
	defer srv.Close()
	for _, path := range []string{"/v1/organizations", "/v1/organization_memberships", "/v1/users/user_1/organization_memberships", "/v1/organizations/org_1", "/v1/organizations/org_1/memberships"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer sk_live_x")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		var body strings.Builder
		buf := make([]byte, 4096)
		n, _ := res.Body.Read(buf)
		body.Write(buf[:n])
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || !strings.Contains(body.String(), `"code":"organization_not_enabled_in_instance"`) {
			t.Errorf("%s: %d %s", path, res.StatusCode, body.String())
		}
	}
}

// An instance without Billing answers each billing endpoint 403, in
// Clerk's envelope, with a code that names billing.
func TestBillingDisabledAnswersAsClerk(t *testing.T) {
	spec, err := LoadSpec("../../" + SpecFile)
	if err != nil {
		t.Fatal(err)
	}
	api := New("sk_live_x")
	api.BillingDisabled = true
	srv := httptest.NewServer(spec.Check(api, func(msg string) { t.Error(msg) }, nil))
	defer srv.Close()
	for _, path := range []string{"/v1/billing/plans", "/v1/billing/subscription_items", "/v1/users/user_1/billing/subscription", "/v1/organizations/org_1/billing/subscription"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+path, nil)
		req.Header.Set("Authorization", "Bearer sk_live_x")
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != http.StatusForbidden || !strings.Contains(string(body), `"code":"billing_not_enabled"`) {
			t.Errorf("%s: %d %s", path, res.StatusCode, body)
		}
	}
}
