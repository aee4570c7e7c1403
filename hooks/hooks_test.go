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
	getenv := func(k string) string { return env[k] }
	c, err := configFrom(getenv)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.WebhookSecrets) != 3 || c.WebhookSecrets[2] != "whsec_c" {
		t.Fatalf("secrets %q", c.WebhookSecrets)
	}
	if c.EventRetention != 7*24*time.Hour {
		t.Fatalf("retention %v", c.EventRetention)
	}
	if len(c.AuthorizedParties) != 2 || c.AuthorizedParties[1] != "http://localhost:3000" {
		t.Fatalf("parties %q", c.AuthorizedParties)
	}

	// Not a number of days: reading the environment fails, naming the variable.
	for _, days := range []string{"a week", "0", "-3"} {
		t.Run(days, func(t *testing.T) {
			_, err := configFrom(func(k string) string {
				if k == "CLERK_EVENT_RETENTION_DAYS" {
					return days
				}
				return getenv(k)
			})
			if err == nil {
				t.Fatalf("retention %q was read", days)
			}
			mustContain(t, err.Error(), "CLERK_EVENT_RETENTION_DAYS")
		})
	}
	// A day is a number, but too short: Register refuses it.
	err = Register(newTestApp(t), nil, Config{EventRetention: 24 * time.Hour})
	if err == nil {
		t.Fatal("a retention of one day was accepted")
	}
	mustContain(t, err.Error(), "CLERK_EVENT_RETENTION_DAYS")
}

// A configuration with a mistake anywhere leaves the app as it was, and
// the error names every variable to fix.
func TestRegisterBindsNothingUnlessTheWholeConfigIsValid(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	key := newSigningKey(t, 0, "ins_key1")
	serveHooks, modelHooks, jobs := app.OnServe().Length(), app.OnModelAfterCreateSuccess().Length(), app.Cron().Total()
	config := Config{
		WebhookSecrets: []string{testSecret},
		JWTKey:         key.publicPEM(t),
		SecretKey:      fakeSecretKey,
		SyncSchedule:   "every night",
	}
	err := Register(app, nil, config)
	if err == nil {
		t.Fatal("a bad CLERK_SYNC_SCHEDULE was accepted")
	}
	mustContain(t, err, "CLERK_SYNC_SCHEDULE")
	if app.OnServe().Length() != serveHooks || app.OnModelAfterCreateSuccess().Length() != modelHooks || app.Cron().Total() != jobs {
		t.Fatal("a refused configuration bound hooks or cron jobs")
	}

	config.WebhookSecrets = []string{"whsec_not base64!"}
	config.EventRetention = time.Hour
	err = Register(app, nil, config)
	for _, name := range []string{"CLERK_SYNC_SCHEDULE", "CLERK_WEBHOOK_SECRET", "CLERK_EVENT_RETENTION_DAYS"} {
		mustContain(t, err, name)
	}

	config = Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t), SecretKey: fakeSecretKey, SyncSchedule: "30 3 * * *"}
	if err := Register(app, nil, config); err != nil {
		t.Fatal(err)
	}
	scheduled := map[string]bool{}
	for _, j := range app.Cron().Jobs() {
		scheduled[j.Id()] = true
	}
	if app.OnServe().Length() == serveHooks || !scheduled[syncJobID] || !scheduled["clerkEventsPrune"] {
		t.Fatalf("a valid configuration registered nothing, or not its cron jobs: %v", scheduled)
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
