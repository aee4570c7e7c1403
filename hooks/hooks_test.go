package hooks

import (
	"strings"
	"testing"
	"time"
)

func TestConfigFromEnvironment(t *testing.T) {
	t.Parallel()
	env := map[string]string{
		"CLERK_WEBHOOK_SECRET":       " whsec_a,whsec_b  whsec_c ",
		"CLERK_EVENT_RETENTION_DAYS": "7",
		"CLERK_AUTHORIZED_PARTIES":   "https://app.example.org, http://localhost:3000",
		"CLERK_API_URL":              "http://127.0.0.1:9999/",
	}
	c := configFrom(func(k string) string { return env[k] })
	if len(c.WebhookSecrets) != 3 || c.WebhookSecrets[2] != "whsec_c" {
		t.Fatalf("secrets %q", c.WebhookSecrets)
	}
	if c.EventRetention != 7*24*time.Hour {
		t.Fatalf("retention %v", c.EventRetention)
	}
	if len(c.AuthorizedParties) != 2 || c.AuthorizedParties[1] != "http://localhost:3000" {
		t.Fatalf("parties %q", c.AuthorizedParties)
	}

	for _, days := range []string{"a week", "1", "0"} {
		t.Run(days, func(t *testing.T) {
			env["CLERK_EVENT_RETENTION_DAYS"] = days
			err := Register(newTestApp(t), nil, configFrom(func(k string) string { return env[k] }))
			if err == nil {
				t.Fatalf("retention %q was accepted", days)
			}
			mustContain(t, err.Error(), "CLERK_EVENT_RETENTION_DAYS")
		})
	}
}

func TestRegisterRefusesAnythingButAPublishableKey(t *testing.T) {
	t.Parallel()
	for key, ok := range map[string]bool{
		"pk_test_cG9ja2V0Y2xlcmsuY2xlcmsuYWNjb3VudHMuZGV2JA": true,
		"pk_live_Y2xlcmsuZXhhbXBsZS5jb20k":                   true,
		"":                                                   true,
		"sk_test_cG9ja2V0Y2xlcmsuY2xlcmsuYWNjb3VudHMuZGV2JA": false,
		"sk_live_abcdefghijklmnopqrstuvwxyz":                 false,
		"pk_test_notbase64!!":                                false,
		"pk_test_":                                           false,
		"whsec_plJ3nmyCDGBKInavdOK15jsl":                     false,
		"cG9ja2V0Y2xlcmsuY2xlcmsuYWNjb3VudHMuZGV2JA":         false,
	} {
		err := Register(newTestApp(t), nil, Config{PublishableKey: key})
		if ok != (err == nil) {
			t.Errorf("CLERK_PUBLISHABLE_KEY=%q: error %v", key, err)
		}
		if err != nil && len(key) > 8 && strings.Contains(err.Error(), key) {
			t.Errorf("the error repeats the key: %v", err)
		}
	}
}
