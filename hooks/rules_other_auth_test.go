package hooks

import (
	"net/http"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// TestNoShippedRuleAdmitsAnotherAuthCollection: a record of another auth
// collection, even one sharing a client's id (PocketBase keeps ids apart
// across auth collections, but a raw insert or an import need not), passes
// no rule we ship: not clients', nor organizations' and memberships', where
// that client is a member. And there is no open sign-up beside Clerk to get
// one from.
func TestNoShippedRuleAdmitsAnotherAuthCollection(t *testing.T) {
	ten := newTenancy(t)

	if r := send(t, http.MethodPost, ten.url+"/api/collections/"+migrations.DefaultUsersCollection+"/records", "",
		`{"email":"me@example.org","password":"a long password","passwordConfirm":"a long password"}`); r.Status != http.StatusNotFound {
		t.Fatalf("sign-up to PocketBase's default users collection: %d %v", r.Status, r.Body)
	}

	// An owner's own auth collection with public sign-up; a sign-up that
	// shares a member's id (as an import or raw insert may make it).
	staff := core.NewAuthCollection("staff")
	staff.CreateRule = ptr("")
	if err := ten.app.Save(staff); err != nil {
		t.Fatal(err)
	}
	_, err := ten.app.DB().NewQuery("INSERT INTO staff (id, email, password, tokenKey, verified, emailVisibility) VALUES ({:id}, 'x@example.com', 'x', 'tokenkey0123456789012345678901', 1, 0)").
		Bind(map[string]any{"id": ten.alice.Id}).Execute()
	if err != nil {
		t.Fatal(err)
	}
	impostor, err := ten.app.FindRecordById("staff", ten.alice.Id)
	if err != nil {
		t.Fatal(err)
	}
	token := authToken(t, impostor)

	collections, err := ten.app.FindAllCollections()
	if err != nil {
		t.Fatal(err)
	}
	checked := map[string]bool{}
	for _, c := range collections {
		if c.System || c.Name == "staff" || strings.HasPrefix(c.Name, "_") {
			continue
		}
		checked[c.Name] = true
		// Superuser-only collections answer 403; the others list nothing.
		r := get(t, ten.url+"/api/collections/"+c.Name+"/records", token)
		if items, _ := r.Body["items"].([]any); r.Status != http.StatusForbidden && (r.Status != http.StatusOK || len(items) != 0) {
			t.Errorf("an auth record of another collection lists %s: %d %v", c.Name, r.Status, r.Body)
		}
		if c.Name == migrations.ClientsCollection {
			if r := get(t, ten.url+"/api/collections/clients/records/"+ten.alice.Id, token); r.Status != http.StatusNotFound {
				t.Errorf("an auth record of another collection views the client with its id: %d", r.Status)
			}
		}
	}
	for _, name := range []string{migrations.ClientsCollection, migrations.OrganizationsCollection, migrations.MembershipsCollection} {
		if !checked[name] {
			t.Fatalf("%s was not checked (checked: %v)", name, checked)
		}
	}
	// The same requests as the client itself do pass.
	if got := listAs(t, ten.url, authToken(t, ten.alice), migrations.ClientsCollection, "id"); len(got) != 1 {
		t.Fatalf("the client itself lists %v", got)
	}
}

func TestAKeptUsersCollectionIsWarnedOfAtStart(t *testing.T) {
	app := newTestApp(t)
	app.Settings().Logs.MaxDays = 7 // PocketBase's test app keeps no logs
	users := core.NewAuthCollection(migrations.DefaultUsersCollection)
	users.CreateRule = ptr("")
	if err := app.Save(users); err != nil {
		t.Fatal(err)
	}
	u := core.NewRecord(users)
	u.SetEmail("someone@example.org")
	u.SetPassword("a long password")
	if err := app.Save(u); err != nil {
		t.Fatal(err)
	}
	serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	rows := logRows(t, app, "PocketBase's default \"users\" auth collection was kept%")
	if len(rows) != 1 {
		t.Fatalf("%d warnings", len(rows))
	}

	// Without it, no warning.
	other := newTestApp(t)
	other.Settings().Logs.MaxDays = 7
	serve(t, other, Config{WebhookSecrets: []string{testSecret}})
	if rows := logRows(t, other, "PocketBase's default%"); len(rows) != 0 {
		t.Fatalf("warned without a users collection: %v", rows)
	}
}
