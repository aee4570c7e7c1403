package hooks

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// userFixture is a Clerk user object from testdata/users.
func userFixture(t testing.TB, name string) map[string]any {
	t.Helper()
	var u map[string]any
	if err := json.Unmarshal(readFixture(t, "users/"+name+".json"), &u); err != nil {
		t.Fatal(err)
	}
	return u
}

// jsonField decodes a client's JSON field.
func jsonField(t testing.TB, r *core.Record, name string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(r.GetString(name)), &v); err != nil {
		t.Fatalf("%s: %v (%q)", name, err, r.GetString(name))
	}
	return v
}

func TestRealClerkUsersMap(t *testing.T) {
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})

	cases := []struct {
		fixture string
		check   func(t *testing.T, c *core.Record)
	}{
		{"phone-only", func(t *testing.T, c *core.Record) {
			if c.Email() != "" || c.Verified() || c.GetString("phone") != "+15555550142" || c.GetString("firstName") != "" {
				t.Fatalf("email %q verified %v phone %q firstName %q", c.Email(), c.Verified(), c.GetString("phone"), c.GetString("firstName"))
			}
			mustContain(t, c.GetString("phoneNumbers"), `{"id":"idn_2gPhone000000000000000001","phoneNumber":"+15555550142","verified":true,"primary":true}`)
			if c.GetString("emailAddresses") != "[]" || c.GetDateTime("lastActiveAt").IsZero() {
				t.Fatalf("emailAddresses %s lastActiveAt %v", c.GetString("emailAddresses"), c.GetDateTime("lastActiveAt"))
			}
		}},
		{"oauth-several-emails", func(t *testing.T, c *core.Record) {
			// The primary email is the second one, and verified; the first is not.
			if c.Email() != "grace@gmail.example" || !c.Verified() || c.GetString("username") != "grace" {
				t.Fatalf("email %q verified %v username %q", c.Email(), c.Verified(), c.GetString("username"))
			}
			mustContain(t, c.GetString("emailAddresses"), `{"id":"idn_2gEmailFirst00000000000001","emailAddress":"old.address@example.com","verified":false,"primary":false}`)
			mustContain(t, c.GetString("emailAddresses"), `"emailAddress":"grace@gmail.example","verified":true,"primary":true}`)
			mustContain(t, c.GetString("externalAccounts"), `"provider":"oauth_google","emailAddress":"grace@gmail.example","username":"","providerUserId":"113748778708068676186"`)
			mustContain(t, c.GetString("externalAccounts"), `"provider":"oauth_github","emailAddress":"grace@users.noreply.github.example","username":"ghopper","providerUserId":"5551234"`)
			if !c.GetBool("twoFactorEnabled") || c.GetBool("passwordEnabled") || c.GetDateTime("legalAcceptedAt").IsZero() {
				t.Fatal("twoFactorEnabled, passwordEnabled or legalAcceptedAt is off")
			}
			mustContain(t, c.GetString("unsafeMetadata"), `"role":"designer"`)
		}},
		{"saml", func(t *testing.T, c *core.Record) {
			if c.Email() != "ada@corp.example" || c.GetString("lastName") != "Lovelace" || c.GetString("externalId") != "emp-1815" {
				t.Fatalf("email %q lastName %q", c.Email(), c.GetString("lastName"))
			}
			// Listed as a SAML and as an enterprise account: one entry.
			accounts := jsonField(t, c, "externalAccounts").([]any)
			if len(accounts) != 1 || accounts[0].(map[string]any)["provider"] != "saml_okta" || accounts[0].(map[string]any)["providerUserId"] != "00u1abcdEFGHijkl5d7" {
				t.Fatalf("externalAccounts: %v", accounts)
			}
		}},
		{"web3", func(t *testing.T, c *core.Record) {
			if c.Email() != "" || c.GetString("phone") != "" || !c.GetBool("locked") {
				t.Fatalf("email %q phone %q locked %v", c.Email(), c.GetString("phone"), c.GetBool("locked"))
			}
			mustContain(t, c.GetString("web3Wallets"), `{"id":"idn_2gWallet000000000000000001","web3Wallet":"0x5d8bC4ED0d1EE0ed2BE4dd6e0e4C9E8aB1c0F3a2","verified":false,"primary":false}`)
			mustContain(t, c.GetString("web3Wallets"), `"verified":true,"primary":true}`)
			if !c.GetDateTime("lastActiveAt").IsZero() {
				t.Fatal("a null last_active_at is not empty")
			}
		}},
	}
	for i, tc := range cases {
		t.Run(tc.fixture, func(t *testing.T) {
			u := userFixture(t, tc.fixture)
			body := clerkfake.Event(eventUserCreated, u)
			if r := deliver(t, srv.URL, "msg_fixture_"+tc.fixture, body); r.Status != http.StatusOK || r.Body["outcome"] != "created" {
				t.Fatalf("case %d: %d %v", i, r.Status, r.Body)
			}
			c := clientOf(t, app, u["id"].(string))
			tc.check(t, c)
			// clerkUser is the object exactly as sent, compacted.
			var sent bytes.Buffer
			raw, _ := json.Marshal(map[string]any{"data": u})
			_ = json.Compact(&sent, raw)
			if got := `{"data":` + c.GetString("clerkUser") + `}`; got != sent.String() {
				t.Fatalf("clerkUser is not the object as sent:\n%s\n%s", got, sent.String())
			}
		})
	}
}

// Clients synced before the whole Clerk user was kept get it from the next
// "clerk sync", though Clerk's updated_at has not moved; a second sync
// finds nothing to do.
func TestSyncFillsTheWholeUserAfterAnUpgrade(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerk(t, 0)
	grace := userFixture(t, "oauth-several-emails")
	f.addUser(grace)
	if counts := mustSync(t, app, f, syncOptions{}); counts.Created != 1 {
		t.Fatalf("first sync: %+v", counts)
	}
	// As the previous version left it: the columns that the upgrade adds
	// hold their defaults (migrations_test upgrades a real database).
	// Test set-up only: the app itself never writes clients with SQL.
	_, err := app.DB().Update(migrations.ClientsCollection, dbx.Params{
		migrations.FieldEmailAddresses: nil, migrations.FieldPhoneNumbers: nil, migrations.FieldExternalAccounts: nil,
		migrations.FieldWeb3Wallets: nil, migrations.FieldUnsafeMetadata: nil, migrations.FieldClerkUser: nil,
		migrations.FieldTwoFactorEnabled: false, migrations.FieldLegalAcceptedAt: "", migrations.FieldLastActiveAt: "",
	}, nil).Execute()
	if err != nil {
		t.Fatal(err)
	}
	client := clientOf(t, app, grace["id"].(string))
	if client.GetString("emailAddresses") != "" && client.GetString("emailAddresses") != "null" {
		t.Fatalf("emailAddresses before the sync: %s", client.GetString("emailAddresses"))
	}

	if counts := mustSync(t, app, f, syncOptions{}); counts.Updated != 1 {
		t.Fatalf("sync after the upgrade: %+v", counts)
	}
	client = clientOf(t, app, grace["id"].(string))
	mustContain(t, client.GetString("emailAddresses"), `"primary":true`)
	mustContain(t, client.GetString("clerkUser"), `"id":"user_2gOAuthSeveralEmails000001"`)
	if !client.GetBool("twoFactorEnabled") {
		t.Fatal("twoFactorEnabled not filled")
	}
	if counts := mustSync(t, app, f, syncOptions{}); counts.Unchanged != 1 {
		t.Fatalf("second sync: %+v", counts)
	}
}

// A signed event whose data PocketBase cannot store whole still syncs:
// the refused values are left out, kept in clerkUser, and logged.
func TestValuesPocketBaseRefusesDoNotStopTheUser(t *testing.T) {
	app := newTestApp(t)
	app.Settings().Logs.MaxDays = 7 // PocketBase's test app keeps no logs
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	u := clerkfake.NewUser(userA, strings.Repeat("A", 6000), 1000)
	// A quoted local part: valid by RFC 5322, refused by PocketBase.
	u["email_addresses"].([]any)[0].(map[string]any)["email_address"] = `"jo doe"@example.org`

	r := deliver(t, srv.URL, "msg_refused", clerkfake.Event(eventUserCreated, u))
	if r.Status != http.StatusOK || r.Body["outcome"] != "created" {
		t.Fatalf("delivery: %d %v", r.Status, r.Body)
	}
	c := clientOf(t, app, userA)
	if c.Email() != "" || c.Verified() || c.GetString("firstName") != "" || c.GetString("lastName") != "Example" {
		t.Fatalf("email %q verified %v firstName %d chars", c.Email(), c.Verified(), len(c.GetString("firstName")))
	}
	mustContain(t, c.GetString("emailAddresses"), `\"jo doe\"@example.org`)
	mustContain(t, c.GetString("clerkUser"), `\"jo doe\"@example.org`)

	// The same data again changes nothing; a fixed email in Clerk lands.
	if r := deliver(t, srv.URL, "msg_refused_again", clerkfake.Event(eventUserUpdated, u)); r.Body["outcome"] != "unchanged" {
		t.Fatalf("the same data again: %v", r.Body)
	}
	u["email_addresses"].([]any)[0].(map[string]any)["email_address"] = "jo.doe@example.org"
	u["first_name"], u["updated_at"] = "Jörg", 2000
	if r := deliver(t, srv.URL, "msg_fixed", clerkfake.Event(eventUserUpdated, u)); r.Body["outcome"] != "updated" {
		t.Fatalf("the fixed data: %v", r.Body)
	}
	if c := clientOf(t, app, userA); c.Email() != "jo.doe@example.org" || c.GetString("firstName") != "Jörg" {
		t.Fatalf("after the fix: %q %q", c.Email(), c.GetString("firstName"))
	}
	// PocketBase writes its logs in batches and flushes them before it stops.
	if err := app.OnBootstrapClear().Trigger(&core.BootstrapEvent{App: app}, func(e *core.BootstrapEvent) error { return nil }); err != nil {
		t.Fatal(err)
	}
	var warned int
	if err := app.AuxDB().NewQuery("SELECT count(*) FROM _logs WHERE message LIKE '%was not stored%'").Row(&warned); err != nil {
		t.Fatal(err)
	}
	if warned < 2 {
		t.Fatalf("%d warnings logged for the email and the name", warned)
	}
}
