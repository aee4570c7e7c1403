package hooks

import (
	"net/http"
	"testing"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// addPosts adds an owner's "posts" collection whose required author
// relation to clients has no cascade delete, and a post by each client.
func addPosts(t testing.TB, app core.App, authors ...*core.Record) {
	t.Helper()
	clients, err := app.FindCollectionByNameOrId(migrations.ClientsCollection)
	if err != nil {
		t.Fatal(err)
	}
	posts := core.NewBaseCollection("posts")
	posts.Fields.Add(
		&core.TextField{Name: "title"},
		&core.RelationField{Name: "author", CollectionId: clients.Id, Required: true, MaxSelect: 1},
	)
	if err := app.Save(posts); err != nil {
		t.Fatal(err)
	}
	for _, a := range authors {
		p := core.NewRecord(posts)
		p.Set("title", "by "+a.GetString("firstName"))
		p.Set("author", a.Id)
		if err := app.Save(p); err != nil {
			t.Fatal(err)
		}
	}
}

func deletionApp(t *testing.T, mode string, blocking bool) (*tests.TestApp, string, signingKey) {
	t.Helper()
	key := newSigningKey(t, 0, "ins_key1")
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t), UserDelete: mode})
	for _, u := range []map[string]any{clerkfake.NewUser(userA, "Alice", 1000), clerkfake.NewUser(userB, "Bob", 1000)} {
		if r := deliver(t, srv.URL, "msg_"+u["id"].(string), clerkfake.Event(eventUserCreated, u)); r.Status != http.StatusOK {
			t.Fatalf("seeding: %+v", r)
		}
	}
	if blocking {
		addPosts(t, app, clientOf(t, app, userA))
	}
	return app, srv.URL, key
}

func deleteUserA(t *testing.T, url string) reply {
	t.Helper()
	return deliver(t, url, "msg_delete_a", clerkfake.Event(eventUserDeleted, map[string]any{"id": userA, "object": "user", "deleted": true, "updated_at": 3000}))
}

func TestUserDeletion(t *testing.T) {
	for _, tc := range []struct {
		mode     string
		blocking bool
		want     outcome
	}{
		{UserDeleteDelete, false, outcomeDeleted},
		{UserDeleteDelete, true, outcomeAnonymized},
		{UserDeleteAnonymize, false, outcomeAnonymized},
		{UserDeleteAnonymize, true, outcomeAnonymized},
	} {
		name := tc.mode
		if tc.blocking {
			name += " with a required relation"
		}
		t.Run(name, func(t *testing.T) {
			app, url, key := deletionApp(t, tc.mode, tc.blocking)
			before := clientOf(t, app, userA)
			tokenB := "Bearer " + key.token(t, userB)

			if r := deleteUserA(t, url); r.Status != http.StatusOK || r.Body["outcome"] != string(tc.want) {
				t.Fatalf("user.deleted: %d %v, want %s", r.Status, r.Body, tc.want)
			}
			if count(t, app, migrations.TombstonesCollection, "") != 1 {
				t.Fatal("no tombstone")
			}
			if count(t, app, migrations.EventsCollection, `outcome = "`+string(tc.want)+`"`) != 1 {
				t.Fatal("the outcome is not logged")
			}
			// The client leaves the public profiles.
			for _, id := range publicProfileIDs(t, url, tokenB) {
				if id == before.Id {
					t.Fatal("the deleted user is still in client_profiles")
				}
			}
			// Their tokens authenticate nobody.
			if ids := listClerkIDs(t, url, "Bearer "+key.token(t, userA)); len(ids) != 0 {
				t.Fatalf("the deleted user's token sees %v", ids)
			}

			kept, err := app.FindRecordById(migrations.ClientsCollection, before.Id)
			if tc.want == outcomeDeleted {
				if err == nil {
					t.Fatal("the client was kept")
				}
			} else {
				if err != nil {
					t.Fatalf("the anonymized client is gone: %v", err)
				}
				c := &clientRecord{kept}
				if !c.Deleted() || c.ClerkID() != userA || c.Email() != "" || c.GetString("firstName") != "" ||
					c.GetString("privateMetadata") != "null" && c.GetString("privateMetadata") != "" || c.GetString("clerkUser") != "null" && c.GetString("clerkUser") != "" ||
					c.TokenKey() == before.TokenKey() {
					t.Fatalf("not anonymized: %v", kept.FieldsData())
				}
				if tc.blocking && count(t, app, "posts", "") != 1 {
					t.Fatal("the post lost its author")
				}
			}

			// The email is free for a new sign-up, and the user's late events are gone.
			newcomer := clerkfake.NewUser("user_2nnnnnnnnnnnnnnnnnnnnnnnnnn", "Nina", 4000)
			newcomer["email_addresses"].([]any)[0].(map[string]any)["email_address"] = before.Email()
			if r := deliver(t, url, "msg_newcomer", clerkfake.Event(eventUserCreated, newcomer)); r.Body["outcome"] != "created" {
				t.Fatalf("a new user with the freed email: %v", r.Body)
			}
			late := clerkfake.NewUser(userA, "Alice", 5000)
			if r := deliver(t, url, "msg_late", clerkfake.Event(eventUserUpdated, late)); r.Body["outcome"] != "gone" {
				t.Fatalf("a late update: %v", r.Body)
			}
			if r := deliver(t, url, "msg_delete_again", clerkfake.Event(eventUserDeleted, map[string]any{"id": userA, "deleted": true})); r.Body["outcome"] != "gone" {
				t.Fatalf("a second deletion: %v", r.Body)
			}
		})
	}
}

// TestUserDeletionFollowsCascades: a reference further down a cascade
// blocks a deletion as surely as one on the client itself, and PocketBase
// would refuse it only half-way through the cascade.
func TestUserDeletionFollowsCascades(t *testing.T) {
	type values = map[string]any
	for _, tc := range []struct {
		name string
		// build adds the owner's collections and records referring to
		// client a (and b, who stays).
		build func(t *testing.T, app core.App, a, b string)
		want  outcome
	}{
		{"a cascade that deletes freely", func(t *testing.T, app core.App, a, b string) {
			addCollection(t, app, "posts", relation("author", "clients", true, true, 1))
			addCollection(t, app, "likes", relation("post", "posts", false, false, 1))
			post := addRecord(t, app, "posts", values{"author": a})
			addRecord(t, app, "likes", values{"post": post})
		}, outcomeDeleted},
		{"a required reference two cascades down", func(t *testing.T, app core.App, a, b string) {
			addCollection(t, app, "posts", relation("author", "clients", true, true, 1))
			addCollection(t, app, "replies", relation("post", "posts", true, true, 1))
			addCollection(t, app, "quotes", relation("reply", "replies", true, false, 1))
			post := addRecord(t, app, "posts", values{"author": a})
			reply := addRecord(t, app, "replies", values{"post": post})
			addRecord(t, app, "quotes", values{"reply": reply})
		}, outcomeAnonymized},
		{"a required multiple relation holding only the client", func(t *testing.T, app core.App, a, b string) {
			addCollection(t, app, "teams", relation("members", "clients", true, false, 5))
			addRecord(t, app, "teams", values{"members": []string{a}})
		}, outcomeAnonymized},
		{"a required multiple relation holding others too", func(t *testing.T, app core.App, a, b string) {
			addCollection(t, app, "teams", relation("members", "clients", true, false, 5))
			addRecord(t, app, "teams", values{"members": []string{a, b}})
		}, outcomeDeleted},
		{"a required multiple relation emptied one cascaded record at a time", func(t *testing.T, app core.App, a, b string) {
			addCollection(t, app, "posts", relation("author", "clients", true, true, 1))
			addCollection(t, app, "series", relation("posts", "posts", true, false, 5))
			p1 := addRecord(t, app, "posts", values{"author": a})
			p2 := addRecord(t, app, "posts", values{"author": a})
			addRecord(t, app, "series", values{"posts": []string{p1, p2}})
		}, outcomeAnonymized},
		{"a required multiple relation keeping another author's record", func(t *testing.T, app core.App, a, b string) {
			addCollection(t, app, "posts", relation("author", "clients", true, true, 1))
			addCollection(t, app, "series", relation("posts", "posts", true, false, 5))
			p1 := addRecord(t, app, "posts", values{"author": a})
			p2 := addRecord(t, app, "posts", values{"author": a})
			p3 := addRecord(t, app, "posts", values{"author": b})
			addRecord(t, app, "series", values{"posts": []string{p1, p2, p3}})
		}, outcomeDeleted},
		{"a required reference from a record the cascade deletes first", func(t *testing.T, app core.App, a, b string) {
			// PocketBase follows references in the order of their collections'
			// names: the draft goes first, and its note with it.
			addCollection(t, app, "drafts", relation("author", "clients", true, true, 1))
			addCollection(t, app, "notes", relation("author", "clients", true, false, 1), relation("draft", "drafts", true, true, 1))
			draft := addRecord(t, app, "drafts", values{"author": a})
			addRecord(t, app, "notes", values{"author": a, "draft": draft})
		}, outcomeDeleted},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			app, url, _ := deletionApp(t, UserDeleteDelete, false)
			tc.build(t, app, clientOf(t, app, userA).Id, clientOf(t, app, userB).Id)
			if r := deleteUserA(t, url); r.Status != http.StatusOK || r.Body["outcome"] != string(tc.want) {
				t.Fatalf("user.deleted: %d %v, want %s", r.Status, r.Body, tc.want)
			}
			_, err := app.FindFirstRecordByData(migrations.ClientsCollection, migrations.FieldClerkID, userA)
			if kept := err == nil; kept != (tc.want == outcomeAnonymized) {
				t.Fatalf("client kept: %v, outcome %s", kept, tc.want)
			}
			if tc.want == outcomeDeleted && count(t, app, migrations.ClientsCollection, "") != 1 {
				t.Fatal("client b was deleted too")
			}
		})
	}
}

// relation is a relation field to the collection named to.
func relation(name, to string, required, cascade bool, maxSelect int) *core.RelationField {
	return &core.RelationField{Name: name, CollectionId: to, Required: required, CascadeDelete: cascade, MaxSelect: maxSelect}
}

// addCollection adds a base collection of relation fields, each naming its
// target collection in CollectionId.
func addCollection(t *testing.T, app core.App, name string, rels ...*core.RelationField) {
	t.Helper()
	col := core.NewBaseCollection(name)
	for _, rel := range rels {
		to, err := app.FindCollectionByNameOrId(rel.CollectionId)
		if err != nil {
			t.Fatal(err)
		}
		rel.CollectionId = to.Id
		col.Fields.Add(rel)
	}
	if err := app.Save(col); err != nil {
		t.Fatal(err)
	}
}

func addRecord(t *testing.T, app core.App, collection string, values map[string]any) string {
	t.Helper()
	col, err := app.FindCollectionByNameOrId(collection)
	if err != nil {
		t.Fatal(err)
	}
	r := core.NewRecord(col)
	r.Load(values)
	if err := app.Save(r); err != nil {
		t.Fatal(err)
	}
	return r.Id
}

func TestUserDeleteSettingIsChecked(t *testing.T) {
	err := Register(newTestApp(t), nil, Config{UserDelete: "erase"})
	if err == nil {
		t.Fatal("CLERK_USER_DELETE=erase was accepted")
	}
	mustContain(t, err, "CLERK_USER_DELETE")
}
