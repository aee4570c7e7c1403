package hooks

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// modelEvent is one Svix message of the randomized model test.
type modelEvent struct {
	svixID string
	body   []byte
}

// TestWebhookConvergesUnderSvixDelivery delivers every event of many users
// one to three times, shuffled, from 8 goroutines, retrying non-2xx answers
// as Svix does, and checks the end state against a model: the newest
// updated_at wins and deletion wins.
func TestWebhookConvergesUnderSvixDelivery(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))

	type want struct {
		deleted   bool
		firstName string
		email     string
	}
	model := map[string]want{}
	var events []modelEvent
	emit := func(body []byte, copies int) {
		e := modelEvent{svixID: fmt.Sprintf("msg_%d", len(events)), body: body}
		for range copies {
			events = append(events, e)
		}
	}
	userBody := func(typ, id, first, email string, updated int64) []byte {
		return userEventBody(typ, func(u map[string]any) {
			u["id"] = id
			u["first_name"] = first
			u["updated_at"] = updated
			u["email_addresses"] = []any{map[string]any{"id": "idn_" + email, "email_address": email}}
			u["primary_email_address_id"] = "idn_" + email
			u["phone_numbers"] = []any{}
		})
	}

	for i := range 60 {
		id := fmt.Sprintf("user_%03d", i)
		versions := 1 + rng.Intn(4)
		trades := i < 10 // pairs (0,1), (2,3)... trade addresses in their second version
		if trades {
			versions = 2
		}
		var last want
		for v := range versions {
			typ := eventUserUpdated
			if v == 0 {
				typ = eventUserCreated
			}
			email := fmt.Sprintf("u%d-v%d@example.org", i, v)
			if trades && v == 1 {
				email = fmt.Sprintf("u%d-v0@example.org", i^1)
			}
			last = want{firstName: fmt.Sprintf("First %d.%d", i, v), email: email}
			emit(userBody(typ, id, last.firstName, email, int64(1000*(v+1))), 1+rng.Intn(3))
		}
		if !trades && rng.Intn(4) == 0 {
			emit(userDeletedEvent(id, int64(1000*(versions+1))), 1+rng.Intn(3))
			last = want{deleted: true}
		}
		model[id] = last
	}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })

	deliverLikeSvix(t, srv.URL, events)

	mustLogEachMessageOnce(t, app, events)
	for id, w := range model {
		c := clientOf(t, app, id)
		if w.deleted {
			if c != nil {
				t.Errorf("%s: deleted in Clerk but still a client", id)
			}
			continue
		}
		if c == nil {
			t.Errorf("%s: missing", id)
			continue
		}
		if c.GetString("firstName") != w.firstName || c.Email() != w.email {
			t.Errorf("%s: got %q <%s>, want %q <%s>", id, c.GetString("firstName"), c.Email(), w.firstName, w.email)
		}
	}
	var live int
	for _, w := range model {
		if !w.deleted {
			live++
		}
	}
	if n := count(t, app, migrations.ClientsCollection, ""); n != live {
		t.Fatalf("%d clients, model has %d", n, live)
	}
}

// Two concurrent deliveries of one svix-id apply once.
func TestConcurrentDuplicateDeliveriesApplyOnce(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	body := readFixture(t, "user.created.json")
	var wg sync.WaitGroup
	replies := make([]reply, 8)
	for i := range replies {
		wg.Go(func() { replies[i] = deliver(t, srv.URL, "msg_same", body) })
	}
	wg.Wait()
	applied := 0
	for _, r := range replies {
		if r.Status != 200 {
			t.Fatalf("status %d: %v", r.Status, r.Body)
		}
		if r.Body["duplicate"] != true {
			applied++
		}
	}
	if applied != 1 || count(t, app, migrations.EventsCollection, "") != 1 || count(t, app, migrations.ClientsCollection, "") != 1 {
		raw, _ := json.Marshal(replies)
		t.Fatalf("applied %d times: %s", applied, raw)
	}
}

// deliverLikeSvix delivers events from 8 goroutines, retrying 5xx answers
// as Svix does, and fails on any other non-2xx answer.
// mustLogEachMessageOnce checks that clerk_events holds one row per
// distinct svix-id among events, however often each was delivered.
func mustLogEachMessageOnce(t *testing.T, app core.App, events []modelEvent) {
	t.Helper()
	distinct := map[string]bool{}
	for _, e := range events {
		distinct[e.svixID] = true
	}
	if n := count(t, app, migrations.EventsCollection, ""); n != len(distinct) {
		t.Fatalf("%d log rows for %d distinct messages", n, len(distinct))
	}
}

func deliverLikeSvix(t *testing.T, url string, events []modelEvent) {
	t.Helper()
	queue := make(chan modelEvent, len(events))
	for _, e := range events {
		queue <- e
	}
	var pending sync.WaitGroup
	pending.Add(len(events))
	var retries sync.Map // svix-id -> *atomic.Int32
	for range 8 {
		go func() {
			for e := range queue {
				r, err := tryDo(signedRequest(t, url, testSecret, e.svixID, time.Now(), e.body))
				switch {
				case err != nil:
					t.Errorf("%s: %v", e.svixID, err)
					pending.Done()
				case r.Status == http.StatusOK:
					pending.Done()
				case r.Status >= 500:
					n, _ := retries.LoadOrStore(e.svixID, new(atomic.Int32))
					if n.(*atomic.Int32).Add(1) > 200 {
						t.Errorf("%s still failing: %v", e.svixID, r.Body)
						pending.Done()
						continue
					}
					queue <- e
				default:
					t.Errorf("%s: %d %v", e.svixID, r.Status, r.Body)
					pending.Done()
				}
			}
		}()
	}
	pending.Wait()
	close(queue)
}
