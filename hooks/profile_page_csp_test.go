package hooks

import (
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// The profile page's files carry a policy that admits the configured Clerk
// instance and nothing else; the API and the dashboard are left alone.
func TestProfilePageContentSecurityPolicy(t *testing.T) {
	srv := servePage(t, Config{PublishableKey: "pk_test_cG9ja2V0Y2xlcmsuY2xlcmsuYWNjb3VudHMuZGV2JA"})
	policy := func(path string) (int, string) {
		t.Helper()
		res, err := http.Get(srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode, res.Header.Get("Content-Security-Policy")
	}
	for _, path := range []string{"/", "/app.js", "/organizations.js", "/favicon.svg"} {
		status, csp := policy(path)
		if status != http.StatusOK {
			t.Fatalf("%s: %d", path, status)
		}
		for _, want := range []string{
			"default-src 'self'",
			"script-src 'self' https://pocketclerk.clerk.accounts.dev https://challenges.cloudflare.com",
			"connect-src 'self' https://pocketclerk.clerk.accounts.dev",
			"img-src 'self' https://img.clerk.com",
			"frame-ancestors 'none'",
			"object-src 'none'",
		} {
			if !strings.Contains(csp, want) {
				t.Fatalf("%s: policy %q lacks %q", path, csp, want)
			}
		}
		if strings.Contains(csp, "'unsafe-eval'") || strings.Contains(csp, "script-src 'self' 'unsafe-inline'") || strings.Contains(csp, "*") {
			t.Fatalf("%s: policy too wide: %q", path, csp)
		}
	}
	for _, path := range []string{"/_/", "/api/health", ClerkConfigPath} {
		if _, csp := policy(path); csp != "" {
			t.Fatalf("%s carries the page's policy: %q", path, csp)
		}
	}
}

func TestFrontendAPIHostOfAPublishableKey(t *testing.T) {
	for key, want := range map[string]string{
		"pk_test_cG9ja2V0Y2xlcmsuY2xlcmsuYWNjb3VudHMuZGV2JA": "pocketclerk.clerk.accounts.dev",
		"pk_live_Y2xlcmsuZXhhbXBsZS5jb20k":                   "clerk.example.com",
		"sk_test_cG9ja2V0Y2xlcmsuY2xlcmsuYWNjb3VudHMuZGV2JA": "",
		"pk_test_ImV2aWwuY29tICdub25lJyI=":                   "", // "evil.com 'none'": not a host
		"":                                                   "",
	} {
		if got := frontendAPIHost(key); got != want {
			t.Errorf("%q: %q, want %q", key, got, want)
		}
	}
}

// The page shows the Clerk fields read-only and offers the rest for
// editing: its list must be the migrations' list.
func TestProfilePageKnowsClerksFields(t *testing.T) {
	js, err := os.ReadFile("../pb_public/app.js")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile(`(?s)const clerkFields = new Set\(\[(.*?)\]\);`).FindSubmatch(js)
	if block == nil {
		t.Fatal("app.js has no clerkFields list")
	}
	var names []string
	for _, m := range regexp.MustCompile(`"([A-Za-z0-9]+)"`).FindAllSubmatch(block[1], -1) {
		names = append(names, string(m[1]))
	}
	want := slices.Clone(migrations.ClerkFields)
	slices.Sort(names)
	slices.Sort(want)
	if !slices.Equal(names, want) {
		t.Fatalf("app.js lists %v\nmigrations.ClerkFields is %v", names, want)
	}
}
