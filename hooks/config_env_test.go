package hooks

import (
	"net/http"
	"testing"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// Clerk's guide names the signing secret CLERK_WEBHOOK_SIGNING_SECRET: a
// .env written for it works here too.
func TestClerksNameForTheSigningSecret(t *testing.T) {
	env := func(vars map[string]string) func(string) string {
		return func(k string) string { return vars[k] }
	}

	c, err := configFrom(env(map[string]string{"CLERK_WEBHOOK_SIGNING_SECRET": testSecret}))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.WebhookSecrets) != 1 || c.WebhookSecrets[0] != testSecret || len(c.warnings) != 0 {
		t.Fatalf("secrets %q, warnings %q: want Clerk's variable read, no warning", c.WebhookSecrets, c.warnings)
	}
	srv := serve(t, newTestApp(t), c)
	if r := deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Ada", 1000))); r.Status != http.StatusOK {
		t.Fatalf("a delivery signed with CLERK_WEBHOOK_SIGNING_SECRET's secret: %d %v", r.Status, r.Body)
	}

	// Both, the same: no warning.
	c, _ = configFrom(env(map[string]string{"CLERK_WEBHOOK_SIGNING_SECRET": testSecret, "CLERK_WEBHOOK_SECRET": testSecret}))
	if len(c.WebhookSecrets) != 1 || len(c.warnings) != 0 {
		t.Fatalf("the same secret twice: secrets %q, warnings %q", c.WebhookSecrets, c.warnings)
	}

	// Both, different: CLERK_WEBHOOK_SECRET wins, and a warning names both.
	other := "whsec_" + "b3RoZXItc2VjcmV0LW9mLXRoZS1lbmRwb2ludA=="
	c, _ = configFrom(env(map[string]string{"CLERK_WEBHOOK_SIGNING_SECRET": other, "CLERK_WEBHOOK_SECRET": testSecret}))
	if len(c.WebhookSecrets) != 1 || c.WebhookSecrets[0] != testSecret {
		t.Fatalf("secrets %q, want CLERK_WEBHOOK_SECRET's", c.WebhookSecrets)
	}
	if len(c.warnings) != 1 {
		t.Fatalf("warnings %q, want one", c.warnings)
	}
	mustContain(t, c.warnings[0], "CLERK_WEBHOOK_SECRET")
	mustContain(t, c.warnings[0], "CLERK_WEBHOOK_SIGNING_SECRET")
}
