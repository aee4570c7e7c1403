package hooks

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

const newcomer = "user_2newcomerxxxxxxxxxxxxxxxxx"

// newcomerInClerk serves an app whose Clerk knows newcomer (as u), who has
// no client yet.
func newcomerInClerk(t *testing.T) (*tests.TestApp, *httptest.Server, *fakeClerk, signingKey, map[string]any) {
	t.Helper()
	key := newSigningKey(t, 0, "ins_key1")
	clerkAPI := newFakeClerk(t, 0, key)
	u := clerkfake.NewUser(newcomer, "Nina", 2000)
	clerkAPI.addUser(u)
	app := newTestApp(t)
	return app, serve(t, app, clerkAPI.config()), clerkAPI, key, u
}

func TestFirstSightSyncsAUserBeforeTheWebhook(t *testing.T) {
	t.Parallel()
	app, srv, clerkAPI, key, u := newcomerInClerk(t)

	if ids := listClerkIDs(t, srv.URL, "Bearer "+key.token(t, newcomer)); !slices.Equal(ids, []string{newcomer}) {
		t.Fatalf("first request sees %v, want its own new client", ids)
	}
	c := clientOf(t, app, newcomer)
	if c == nil || c.Email() != "user_2newcomerxxxxxxxxxxxxxxxxx@example.org" || c.GetString("firstName") != "Nina" {
		t.Fatalf("first-sight client: %v", c)
	}
	mustContain(t, c.GetString("privateMetadata"), "private-of-"+newcomer)

	// The webhooks that land afterwards find the client, and never duplicate it.
	for i, tc := range []struct {
		typ       string
		updatedAt int64
		outcome   string
	}{
		{eventUserCreated, 1000, "stale"},
		{eventUserCreated, 2000, "unchanged"},
		{eventUserUpdated, 3000, "updated"},
	} {
		t.Run(fmt.Sprint(tc.typ, " at ", tc.updatedAt), func(t *testing.T) {
			u["updated_at"] = tc.updatedAt
			r := deliver(t, srv.URL, "msg_late_"+string(rune('a'+i)), clerkfake.Event(tc.typ, u))
			if r.Status != http.StatusOK || r.Body["outcome"] != tc.outcome {
				t.Fatalf("%+v, want %s", r, tc.outcome)
			}
		})
	}
	if n := count(t, app, migrations.ClientsCollection, ""); n != 1 {
		t.Fatalf("%d clients, want 1", n)
	}
	if n := clerkAPI.UserHits.Load(); n != 1 {
		t.Fatalf("user fetched %d times, want 1", n)
	}
}

func TestFirstSightOfAUserClerkDoesNotKnowWritesNothing(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	clerkAPI := newFakeClerk(t, 0, key)
	app := newTestApp(t)
	srv := serve(t, app, clerkAPI.config())

	// Its token may come with every request: Clerk is asked once, not each time.
	for range 5 {
		if ids := listClerkIDs(t, srv.URL, "Bearer "+key.token(t, newcomer)); len(ids) != 0 {
			t.Fatalf("a user unknown to Clerk sees %v", ids)
		}
	}
	if n := clerkAPI.UserHits.Load(); n != 1 {
		t.Fatalf("the user was looked up %d times for 5 requests", n)
	}
	for _, col := range []string{migrations.ClientsCollection, migrations.TombstonesCollection, migrations.EventsCollection} {
		if n := count(t, app, col, ""); n != 0 {
			t.Fatalf("%d rows written to %s", n, col)
		}
	}
}

func TestFirstSightNeedsTheSecretKey(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	clerkAPI := newFakeClerk(t, 0, key)
	clerkAPI.addUser(clerkfake.NewUser(newcomer, "Nina", 2000))
	app := newTestApp(t)
	srv := serve(t, app, Config{JWTKey: key.publicPEM(t), APIURL: clerkAPI.URL})

	if ids := listClerkIDs(t, srv.URL, "Bearer "+key.token(t, newcomer)); len(ids) != 0 {
		t.Fatalf("without CLERK_SECRET_KEY a new user sees %v", ids)
	}
	if n := clerkAPI.UserHits.Load() + clerkAPI.JWKSHits.Load(); n != 0 {
		t.Fatalf("%d calls to Clerk without CLERK_SECRET_KEY", n)
	}
	if n := count(t, app, migrations.ClientsCollection, ""); n != 0 {
		t.Fatalf("%d clients written", n)
	}
}

func TestFirstSightDoesNotBringBackADeletedUser(t *testing.T) {
	t.Parallel()
	app, srv, clerkAPI, key, _ := newcomerInClerk(t)
	deliver(t, srv.URL, "msg_deleted", userDeletedEvent(newcomer, 2500))

	// The session token outlives the deletion by up to a minute.
	if ids := listClerkIDs(t, srv.URL, "Bearer "+key.token(t, newcomer)); len(ids) != 0 {
		t.Fatalf("a deleted user sees %v", ids)
	}
	if clientOf(t, app, newcomer) != nil || clerkAPI.UserHits.Load() != 0 {
		t.Fatalf("a deleted user was fetched (%d) or recreated", clerkAPI.UserHits.Load())
	}
}

func TestConcurrentFirstRequestsCreateOneClient(t *testing.T) {
	t.Parallel()
	app, srv, clerkAPI, key, u := newcomerInClerk(t)
	clerkAPI.UserDelay = 50 * time.Millisecond // let the requests overlap

	var wg sync.WaitGroup
	for range 16 {
		wg.Go(func() {
			if ids := listClerkIDs(t, srv.URL, "Bearer "+key.token(t, newcomer)); !slices.Equal(ids, []string{newcomer}) {
				t.Errorf("a concurrent first request sees %v", ids)
			}
		})
	}
	wg.Wait()
	if n := count(t, app, migrations.ClientsCollection, ""); n != 1 {
		t.Fatalf("%d clients, want 1", n)
	}
	if n := clerkAPI.UserHits.Load(); n != 1 {
		t.Fatalf("user fetched %d times for 16 concurrent requests, want 1", n)
	}
	if r := deliver(t, srv.URL, "msg_created", clerkfake.Event(eventUserCreated, u)); r.Body["outcome"] != "unchanged" {
		t.Fatalf("the webhook after first sight: %+v", r)
	}
	if n := count(t, app, migrations.ClientsCollection, ""); n != 1 {
		t.Fatalf("%d clients after the webhook, want 1", n)
	}
}
