package hooks

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"slices"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// TestOrganizationsConvergeUnderSvixDelivery plays a random history of
// organizations, users and memberships in Clerk (renames, role changes,
// members leaving and joining again, organizations and users deleted),
// delivers every event one to three times, shuffled, from 8 goroutines,
// retrying non-2xx answers as Svix does, and checks that the end state is
// what Clerk holds.
func TestOrganizationsConvergeUnderSvixDelivery(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))

	var events []modelEvent
	emit := func(body []byte) {
		e := modelEvent{svixID: fmt.Sprintf("msg_%d", len(events)), body: body}
		for range 1 + rng.Intn(3) {
			events = append(events, e)
		}
	}
	clock := int64(1_700_000_000_000)
	tick := func() int64 { clock += 1000; return clock }

	// Clerk's state, as the history goes.
	type org struct {
		data    map[string]any // the current copy, as events embed it
		deleted bool
	}
	type member struct {
		id, org, user, role string
		deleted             bool
	}
	orgs := map[string]*org{}
	users := map[string]bool{} // id -> deleted
	var members []*member

	orgEvent := func(typ string, data map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"type": typ, "object": "event", "timestamp": clock, "data": data})
		return b
	}
	memberEvent := func(typ string, m *member, created int64) []byte {
		data := clerkfake.NewMembership(m.id, m.org, m.user, m.role, created)
		data["organization"], data["updated_at"] = orgs[m.org].data, clock
		return orgEvent(typ, data)
	}
	live := func(m *member) bool { return !m.deleted && !orgs[m.org].deleted && !users[m.user] }

	for i := range 6 {
		id := fmt.Sprintf("org_%d", i)
		at := tick()
		orgs[id] = &org{data: clerkfake.NewOrganization(id, at)}
		orgs[id].data["name"] = id + " v0"
		emit(orgEvent(eventOrganizationCreated, orgs[id].data))
	}
	for i := range 12 {
		id := fmt.Sprintf("user_%d", i)
		users[id] = false
		emit(clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Example", tick())))
	}
	roles := []string{"org:member", "org:admin"}
	for step := 0; step < 120; step++ {
		o := orgs[fmt.Sprintf("org_%d", rng.Intn(6))]
		if o.deleted {
			continue
		}
		switch r := rng.Intn(20); {
		case r < 8: // someone joins
			u := fmt.Sprintf("user_%d", rng.Intn(12))
			if users[u] {
				continue
			}
			m := &member{id: fmt.Sprintf("orgmem_%d", len(members)), org: o.data["id"].(string), user: u, role: roles[rng.Intn(2)]}
			members = append(members, m)
			tick()
			emit(memberEvent(eventMembershipCreated, m, clock))
		case r < 13: // a role changes
			if len(members) == 0 {
				continue
			}
			m := members[rng.Intn(len(members))]
			if !live(m) {
				continue
			}
			m.role = roles[1-slices.Index(roles, m.role)]
			tick()
			emit(memberEvent(eventMembershipUpdated, m, clock-1000))
		case r < 16: // someone leaves; Clerk may date it before the last update
			if len(members) == 0 {
				continue
			}
			m := members[rng.Intn(len(members))]
			if !live(m) {
				continue
			}
			m.deleted = true
			saved := clock
			clock -= 5000
			emit(memberEvent(eventMembershipDeleted, m, clock))
			clock = saved
		case r < 18: // the organization is renamed
			o.data["name"] = fmt.Sprintf("%s v%d", o.data["id"], step)
			o.data["updated_at"] = tick()
			emit(orgEvent(eventOrganizationUpdated, o.data))
		case r < 19: // the organization is deleted
			o.deleted = true
			tick()
			emit(orgEvent(eventOrganizationDeleted, map[string]any{"object": "organization", "id": o.data["id"], "deleted": true}))
		default: // a user is deleted
			u := fmt.Sprintf("user_%d", rng.Intn(12))
			if users[u] {
				continue
			}
			users[u] = true
			emit(userDeletedEvent(u, tick()))
		}
	}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	deliverLikeSvix(t, srv.URL, events)

	mustLogEachMessageOnce(t, app, events)
	liveOrgs := 0
	for id, o := range orgs {
		got := orgOf(t, app, id)
		switch {
		case o.deleted && got != nil:
			t.Errorf("%s: deleted in Clerk, still here", id)
		case !o.deleted && got == nil:
			t.Errorf("%s: missing", id)
		case !o.deleted && got.GetString("name") != o.data["name"]:
			t.Errorf("%s: name %q, want %q", id, got.GetString("name"), o.data["name"])
		}
		if !o.deleted {
			liveOrgs++
		}
	}
	liveMembers := 0
	for _, m := range members {
		got := membershipOf(t, app, m.id)
		if !live(m) {
			if got != nil {
				t.Errorf("%s (%s in %s): gone in Clerk, still here", m.id, m.user, m.org)
			}
			continue
		}
		liveMembers++
		client := clientOf(t, app, m.user)
		switch {
		case got == nil:
			t.Errorf("%s: missing", m.id)
		case got.GetString("role") != m.role:
			t.Errorf("%s: role %q, want %q", m.id, got.GetString("role"), m.role)
		case client == nil || got.GetString("client") != client.Id:
			t.Errorf("%s: client %q, not linked to %s's", m.id, got.GetString("client"), m.user)
		case got.GetString("organization") != orgOf(t, app, m.org).Id:
			t.Errorf("%s: in the wrong organization", m.id)
		}
	}
	if n := count(t, app, migrations.OrganizationsCollection, ""); n != liveOrgs {
		t.Errorf("%d organizations, Clerk has %d", n, liveOrgs)
	}
	if n := count(t, app, migrations.MembershipsCollection, ""); n != liveMembers {
		t.Errorf("%d memberships, Clerk has %d", n, liveMembers)
	}
}
