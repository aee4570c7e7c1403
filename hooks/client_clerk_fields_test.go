package hooks

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// ownerApp serves an app whose owner added a "bio" field to clients, with
// the clients of userA and userB.
func ownerApp(t *testing.T, key signingKey) (*tests.TestApp, string) {
	t.Helper()
	app := newTestApp(t)
	addBioField(t, app)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t)})
	for _, u := range []map[string]any{clerkfake.NewUser(userA, "Alice", 1000), clerkfake.NewUser(userB, "Bob", 1000)} {
		if r := deliver(t, srv.URL, "msg_"+u["id"].(string), clerkfake.Event(eventUserCreated, u)); r.Status != http.StatusOK {
			t.Fatalf("seeding %s: %+v", u["id"], r)
		}
	}
	return app, srv.URL
}

func addBioField(t testing.TB, app core.App) {
	t.Helper()
	addClientField(t, app, &core.TextField{Name: "bio", Max: 500})
}

// addClientField adds an owner's field to clients.
func addClientField(t testing.TB, app core.App, field core.Field) {
	t.Helper()
	c, err := app.FindCollectionByNameOrId(migrations.ClientsCollection)
	if err != nil {
		t.Fatal(err)
	}
	c.Fields.Add(field)
	if err := app.Save(c); err != nil {
		t.Fatal(err)
	}
}

// otherValues holds, for each Clerk field, a value that differs from what
// the seeded clients hold.
var otherValues = map[string]any{
	migrations.FieldClerkID:          "user_2ccccccccccccccccccccccccccc",
	"email":                          "mallory@example.org",
	"emailVisibility":                true,
	"verified":                       false,
	"password":                       "correct horse battery staple",
	"tokenKey":                       "forged-token-key-forged-token-key-forged",
	migrations.FieldFirstName:        "Mallory",
	migrations.FieldLastName:         "Forged",
	migrations.FieldUsername:         "mallory",
	migrations.FieldPhone:            "+15555550999",
	migrations.FieldImageURL:         "https://example.org/forged.png",
	migrations.FieldEmailAddresses:   []any{map[string]any{"id": "idn_forged"}},
	migrations.FieldPhoneNumbers:     []any{map[string]any{"id": "idn_forged"}},
	migrations.FieldExternalAccounts: []any{map[string]any{"provider": "oauth_forged"}},
	migrations.FieldWeb3Wallets:      []any{map[string]any{"id": "idn_forged"}},
	migrations.FieldPublicMetadata:   map[string]any{"role": "admin"},
	migrations.FieldUnsafeMetadata:   map[string]any{"onboarded": true},
	migrations.FieldPrivateMetadata:  map[string]any{"plan": "enterprise"},
	migrations.FieldExternalID:       "forged",
	migrations.FieldBanned:           true,
	migrations.FieldLocked:           true,
	migrations.FieldTwoFactorEnabled: true,
	migrations.FieldPasswordEnabled:  false,
	migrations.FieldLastSignInAt:     "2030-01-01 00:00:00.000Z",
	migrations.FieldLastActiveAt:     "2030-01-01 00:00:00.000Z",
	migrations.FieldLegalAcceptedAt:  "2030-01-01 00:00:00.000Z",
	migrations.FieldClerkCreatedAt:   "2030-01-01 00:00:00.000Z",
	migrations.FieldClerkUpdatedAt:   "9999-12-31 23:59:59.999Z",
	migrations.FieldDeletedAt:        "2030-01-01 00:00:00.000Z",
	migrations.FieldClerkUser:        map[string]any{"id": "user_forged"},
}

func TestClerkFieldsRefuseEveryChangeFromTheAPI(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	app, url := ownerApp(t, key)
	idA := clientOf(t, app, userA).Id
	record := url + "/api/collections/clients/records/" + idA
	callers := map[string]string{
		"the user":  "Bearer " + key.token(t, userA),
		"superuser": newSuperuserToken(t, app),
	}
	if len(otherValues) != len(migrations.ClerkFields) {
		t.Fatalf("otherValues covers %d fields, migrations.ClerkFields has %d", len(otherValues), len(migrations.ClerkFields))
	}
	for _, name := range migrations.ClerkFields {
		for caller, auth := range callers {
			t.Run(name+" by "+caller, func(t *testing.T) {
				before := clientOf(t, app, userA)
				body := map[string]any{name: otherValues[name]}
				if name == "password" {
					body["passwordConfirm"] = otherValues[name]
				}
				raw, _ := json.Marshal(body)
				r := send(t, http.MethodPatch, record, auth, string(raw))
				// A user's hidden fields are dropped by PocketBase before they reach the record.
				hiddenFromUser := caller == "the user" && before.Collection().Fields.GetByName(name).GetHidden()
				if r.Status != http.StatusBadRequest && !(hiddenFromUser && r.Status == http.StatusOK) {
					t.Fatalf("PATCH %s: %d %v, want 400", name, r.Status, r.Body)
				}
				if r.Status == http.StatusBadRequest {
					mustContain(t, r.Body["message"], name)
					mustContain(t, r.Body["message"], "change it in Clerk")
					mustContain(t, r.Body["data"], name)
				}
				after := clientOf(t, app, userA)
				if fmt.Sprint(after.GetRaw(name)) != fmt.Sprint(before.GetRaw(name)) || r.Status != http.StatusOK && after.GetString("updated") != before.GetString("updated") {
					t.Fatalf("%s changed from %v to %v", name, before.GetRaw(name), after.GetRaw(name))
				}
			})
		}
	}
}

// The dashboard's form sends the whole record back: the Clerk fields as
// they are do not count as a change, and the owner's field is saved.
func TestSuperuserSavesTheWholeRecordAsTheDashboardDoes(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	app, url := ownerApp(t, key)
	su := newSuperuserToken(t, app)
	record := url + "/api/collections/clients/records/" + clientOf(t, app, userA).Id
	r := get(t, record, su)
	if r.Status != http.StatusOK {
		t.Fatalf("view: %+v", r)
	}
	whole := r.Body
	whole["bio"] = "Set in the dashboard"
	// The dashboard's JSON editor indents.
	meta, _ := json.MarshalIndent(whole["publicMetadata"], "", "  ")
	whole["publicMetadata"] = string(meta)
	raw, _ := json.Marshal(whole)
	if r := send(t, http.MethodPatch, record, su, string(raw)); r.Status != http.StatusOK {
		t.Fatalf("saving the whole record: %d %v", r.Status, r.Body)
	}
	if got := clientOf(t, app, userA).GetString("bio"); got != "Set in the dashboard" {
		t.Fatalf("bio = %q", got)
	}
}

// The three attacks that an open update rule allowed before.
func TestAnOpenUpdateRuleDoesNotHandClerkFieldsToUsers(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	app, url := ownerApp(t, key)
	su := newSuperuserToken(t, app)
	// The owner opens the rule as a new owner would.
	if r := send(t, http.MethodPatch, url+"/api/collections/clients", su, `{"updateRule":"id = @request.auth.id"}`); r.Status != http.StatusOK {
		t.Fatalf("opening the update rule: %+v", r)
	}
	auth := "Bearer " + key.token(t, userA)
	record := url + "/api/collections/clients/records/" + clientOf(t, app, userA).Id
	for _, attack := range []string{
		`{"publicMetadata":{"role":"admin"},"verified":true,"banned":false}`,
		`{"clerkUpdatedAt":"9999-12-31 23:59:59.999Z"}`,
		`{"clerkId":"user_2ccccccccccccccccccccccccccc"}`,
	} {
		if r := send(t, http.MethodPatch, record, auth, attack); r.Status != http.StatusBadRequest {
			t.Errorf("%s: %d %v, want 400", attack, r.Status, r.Body)
		}
	}
	client := &clientRecord{clientOf(t, app, userA)}
	if client.ClerkUpdatedAt().Year() != 1970 || client.GetString("publicMetadata") != `{"role":"member"}` {
		t.Fatalf("the client changed: %v", client.PublicExport())
	}
	// A ban still lands, and the user Clerk has not synced yet still gets their own client.
	banned := clerkfake.NewUser(userA, "Alice", 2000)
	banned["banned"] = true
	if r := deliver(t, url, "msg_ban", clerkfake.Event(eventUserUpdated, banned)); r.Body["outcome"] != "updated" {
		t.Fatalf("ban: %+v", r)
	}
	newUser := clerkfake.NewUser("user_2ccccccccccccccccccccccccccc", "Carol", 1000)
	if r := deliver(t, url, "msg_carol", clerkfake.Event(eventUserCreated, newUser)); r.Body["outcome"] != "created" {
		t.Fatalf("the other user's creation: %+v", r)
	}
}

func TestOwnerFieldsAreTheUsersToEdit(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	app, url := ownerApp(t, key)
	records := url + "/api/collections/clients/records/"
	idA, idB := clientOf(t, app, userA).Id, clientOf(t, app, userB).Id
	authA := "Bearer " + key.token(t, userA)

	if r := send(t, http.MethodPatch, records+idA, authA, `{"bio":"Hello from Alice"}`); r.Status != http.StatusOK || r.Body["bio"] != "Hello from Alice" {
		t.Fatalf("editing own bio: %d %v", r.Status, r.Body)
	}
	if r := send(t, http.MethodPatch, records+idB, authA, `{"bio":"Alice was here"}`); r.Status != http.StatusNotFound {
		t.Fatalf("editing another's bio: %d %v, want 404", r.Status, r.Body)
	}
	if got := clientOf(t, app, userB).GetString("bio"); got != "" {
		t.Fatalf("B's bio = %q", got)
	}
	if r := send(t, http.MethodPatch, records+idA, "", `{"bio":"guest"}`); r.Status == http.StatusOK {
		t.Fatalf("a guest edited a bio: %v", r.Body)
	}

	// Clerk's next event leaves the owner's field alone.
	alice := clerkfake.NewUser(userA, "Alicia", 2000)
	if r := deliver(t, url, "msg_a2", clerkfake.Event(eventUserUpdated, alice)); r.Body["outcome"] != "updated" {
		t.Fatalf("update: %+v", r)
	}
	client := clientOf(t, app, userA)
	if client.GetString("bio") != "Hello from Alice" || client.GetString("firstName") != "Alicia" {
		t.Fatalf("after the event: bio %q, firstName %q", client.GetString("bio"), client.GetString("firstName"))
	}
}

func TestBatchAPICannotChangeClerkFields(t *testing.T) {
	key := newSigningKey(t, 0, "ins_key1")
	app, url := ownerApp(t, key)
	app.Settings().Batch.Enabled = true
	app.Settings().Batch.MaxRequests = 10
	if err := app.Save(app.Settings()); err != nil {
		t.Fatal(err)
	}
	id := clientOf(t, app, userA).Id
	body := `{"requests":[
		{"method":"PATCH","url":"/api/collections/clients/records/` + id + `","body":{"bio":"ok"}},
		{"method":"PATCH","url":"/api/collections/clients/records/` + id + `","body":{"banned":true}}]}`
	r := send(t, http.MethodPost, url+"/api/batch", newSuperuserToken(t, app), body)
	if r.Status != http.StatusBadRequest || !strings.Contains(fmt.Sprint(r.Body), "banned") {
		t.Fatalf("batch: %d %v", r.Status, r.Body)
	}
	client := clientOf(t, app, userA)
	if client.GetBool("banned") || client.GetString("bio") != "" {
		t.Fatal("the batch changed the client")
	}
}

func TestClerkFieldsCarryTheDashboardsHelpText(t *testing.T) {
	app := newTestApp(t)
	c, err := app.FindCollectionByNameOrId(migrations.ClientsCollection)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range migrations.ClerkFields {
		raw, _ := json.Marshal(c.Fields.GetByName(name))
		if !strings.Contains(string(raw), `"help":"Synced from Clerk: change it in Clerk`) {
			t.Errorf("%s: %s", name, raw)
		}
	}
}

// A number beyond float64's integers is Clerk's to the last digit: the
// nearest float64 sent back is another value, not the same one.
func TestClerkFieldsCompareLargeNumbersExactly(t *testing.T) {
	app := newTestApp(t)
	addBioField(t, app)
	srv := serveWithClerk(t, app, Config{})
	alice := clerkfake.NewUser(userA, "Alice", 1000)
	alice["public_metadata"] = json.RawMessage(`{"discordId": 1152921504606846976, "score": 1.5}`)
	if r := deliver(t, srv.URL, "msg_a1", clerkfake.Event(eventUserCreated, alice)); r.Status != http.StatusOK {
		t.Fatalf("seeding: %+v", r)
	}
	record := srv.URL + "/api/collections/clients/records/" + clientOf(t, app, userA).Id
	auth := "Bearer " + srv.key.token(t, userA)
	stored := clientOf(t, app, userA).GetString(migrations.FieldPublicMetadata)

	if r := send(t, http.MethodPatch, record, auth, `{"publicMetadata":{"discordId":1152921504606847000,"score":1.5}}`); r.Status != http.StatusBadRequest {
		t.Errorf("a rounded id: %d %v, want 400", r.Status, r.Body)
	}
	if got := clientOf(t, app, userA).GetString(migrations.FieldPublicMetadata); got != stored {
		t.Fatalf("publicMetadata changed from %s to %s", stored, got)
	}
	// The same numbers, however written, are no change. (A JSON body's
	// numbers reach the record as float64s; a form keeps the text.)
	form := url.Values{migrations.FieldPublicMetadata: {`{"score":15e-1,"discordId":1152921504606846976}`}, "bio": {"hi"}}
	req, _ := http.NewRequest(http.MethodPatch, record, strings.NewReader(form.Encode()))
	req.Header.Set("Authorization", auth)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if r := do(t, req); r.Status != http.StatusOK {
		t.Errorf("the same value resent: %d %v, want 200", r.Status, r.Body)
	}
}
