package hooks

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// addBioAndPosts is the owner's migration of the README's "Build your app
// on clients", as written there.
func addBioAndPosts(app core.App) error {
	clients, err := app.FindCollectionByNameOrId("clients")
	if err != nil {
		return err
	}
	clients.Fields.Add(&core.TextField{Name: "bio", Max: 500})
	if err := app.Save(clients); err != nil {
		return err
	}

	posts := core.NewBaseCollection("posts")
	posts.Fields.Add(
		&core.TextField{Name: "text", Required: true},
		&core.RelationField{Name: "author", CollectionId: clients.Id, Required: true, MaxSelect: 1},
		&core.AutodateField{Name: "created", OnCreate: true},
	)
	signedIn := `@request.auth.collectionName = "clients"`
	posts.ListRule = &signedIn
	posts.ViewRule = &signedIn
	createRule := signedIn + ` && @request.body.author = @request.auth.id`
	posts.CreateRule = &createRule
	ownPost := signedIn + ` && author = @request.auth.id`
	posts.UpdateRule = &ownPost
	posts.DeleteRule = &ownPost
	return app.Save(posts)
}

func TestBuildYourAppOnClients(t *testing.T) {
	app := newTestApp(t)
	if err := addBioAndPosts(app); err != nil {
		t.Fatal(err)
	}
	srv := serveWithClerk(t, app, Config{})
	for _, u := range []map[string]any{clerkfake.NewUser(userA, "Alice", 1000), clerkfake.NewUser(userB, "Bob", 1000)} {
		deliver(t, srv.URL, "msg_"+u["id"].(string), clerkfake.Event(eventUserCreated, u))
	}
	idA, idB := clientOf(t, app, userA).Id, clientOf(t, app, userB).Id
	alice, bob := "Bearer "+srv.key.token(t, userA), "Bearer "+srv.key.token(t, userB)
	api := srv.URL + "/api/collections/"

	// A user edits their bio.
	if r := send(t, http.MethodPatch, api+"clients/records/"+idA, alice, `{"bio":"Writes about databases."}`); r.Status != http.StatusOK || r.Body["bio"] != "Writes about databases." {
		t.Fatalf("editing the bio: %d %v", r.Status, r.Body)
	}

	// Each writes a post as themselves, and not as someone else.
	for _, p := range []struct{ auth, author string }{{alice, idA}, {bob, idB}} {
		if r := send(t, http.MethodPost, api+"posts/records", p.auth, `{"text":"Hello","author":"`+p.author+`"}`); r.Status != http.StatusOK {
			t.Fatalf("posting: %d %v", r.Status, r.Body)
		}
	}
	if r := send(t, http.MethodPost, api+"posts/records", bob, `{"text":"Forged","author":"`+idA+`"}`); r.Status == http.StatusOK {
		t.Fatal("Bob posted as Alice")
	}

	// Listing posts with their authors' public profiles: two requests.
	r := get(t, api+"posts/records?sort=created", bob)
	var authors []string
	for _, item := range r.Body["items"].([]any) {
		authors = append(authors, item.(map[string]any)["author"].(string))
	}
	if len(authors) != 2 {
		t.Fatalf("posts: %v", r.Body)
	}
	var filter []string
	for _, id := range authors {
		filter = append(filter, `id="`+id+`"`)
	}
	r = get(t, api+"client_profiles/records?filter="+url.QueryEscape(strings.Join(filter, " || ")), bob)
	var names []string
	for _, item := range r.Body["items"].([]any) {
		names = append(names, item.(map[string]any)["firstName"].(string))
		if _, ok := item.(map[string]any)["email"]; ok {
			t.Fatal("a public profile carries an email")
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"Alice", "Bob"}) {
		t.Fatalf("authors: %v", names)
	}

	// Bob cannot edit Alice's post, and a guest reads nothing.
	var alicePost string
	for _, item := range get(t, api+"posts/records", alice).Body["items"].([]any) {
		if item.(map[string]any)["author"] == idA {
			alicePost = item.(map[string]any)["id"].(string)
		}
	}
	if r := send(t, http.MethodPatch, api+"posts/records/"+alicePost, bob, `{"text":"Bob was here"}`); r.Status != http.StatusNotFound {
		t.Fatalf("Bob editing Alice's post: %d", r.Status)
	}
	if r := get(t, api+"posts/records", ""); len(r.Body["items"].([]any)) != 0 {
		t.Fatal("a guest lists posts")
	}

	// Alice's deletion in Clerk keeps her post and its author, anonymized.
	if r := deleteUserA(t, srv.URL); r.Body["outcome"] != "anonymized" {
		t.Fatalf("deleting Alice: %v", r.Body)
	}
	if count(t, app, "posts", "") != 2 {
		t.Fatal("Alice's post is gone")
	}
}
