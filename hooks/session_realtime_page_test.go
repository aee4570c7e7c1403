package hooks

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// What the profile page holds (ProfilePageTopics: its own record, its
// memberships, organizations and plans, on one connection) receives exactly
// its own changes, with the realtime index on and off alike. With it on,
// the connection leaves PocketBase's loop and broker.
func TestTheProfilePagesConnectionsGetTheirOwnChangesWithTheIndexOnAndOff(t *testing.T) {
	t.Parallel()
	received := map[bool]map[string][]string{}
	for _, off := range []bool{false, true} {
		received[off] = profilePagesReceive(t, off)
	}
	want := map[string][]string{
		"alice": {
			"update " + userA + " Alicia", "update " + userA + " Alice again",
			"membership update org:member", "organization update " + fixtureOrgID + " Final", "organization update " + fixtureOrgID + " Renamed",
		},
		"bob": {
			"update " + userB + " Bobby",
			"organization update org_two Two", "organization update " + fixtureOrgID + " Final", "organization update " + fixtureOrgID + " Renamed",
		},
	}
	for name, events := range want {
		slices.Sort(events)
		if got := received[false][name]; !slices.Equal(got, events) {
			t.Errorf("index on, %s received %q, want %q", name, got, events)
		}
		if got := received[true][name]; !slices.Equal(got, events) {
			t.Errorf("index off, %s received %q, want %q", name, got, events)
		}
	}
}

func profilePagesReceive(t *testing.T, indexOff bool) map[string][]string {
	key := newSigningKey(t, 0, "ins_key1")
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t), RealtimeIndexOff: indexOff})
	n := 0
	send := func(body []byte) {
		n++
		if r := deliver(t, srv.URL, fmt.Sprintf("msg_page_%d", n), body); r.Status != 200 {
			t.Fatalf("delivery %d: %+v", n, r)
		}
	}
	send(clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	send(clerkfake.Event(eventUserCreated, clerkfake.NewUser(userB, "Bob", 1000)))
	org := func(typ, id, name string, at int64) []byte {
		return orgEventBody(t, typ, func(d map[string]any) { d["id"], d["slug"], d["name"], d["updated_at"] = id, id, name, at })
	}
	send(org("organization.created", fixtureOrgID, "One", 1000))
	send(org("organization.created", "org_two", "Two", 1000))
	// A membership event carries a copy of its organization: an old one,
	// which changes nothing.
	member := func(typ, id, orgID, userID, role string, at int64) []byte {
		return orgEventBody(t, typ, func(m map[string]any) {
			m["id"], m["role"], m["updated_at"] = id, role, at
			m["organization"] = map[string]any{"object": "organization", "id": orgID, "name": "old", "slug": orgID, "created_at": 1, "updated_at": 1}
			m["public_user_data"].(map[string]any)["user_id"] = userID
		})
	}
	send(member("organizationMembership.created", "orgmem_a1", fixtureOrgID, userA, "org:admin", 1000))
	send(member("organizationMembership.created", "orgmem_b1", fixtureOrgID, userB, "org:member", 1000))
	send(member("organizationMembership.created", "orgmem_b2", "org_two", userB, "org:member", 1000))

	conns := map[string]*realtimeConn{}
	for _, u := range []struct{ name, clerkID string }{{"alice", userA}, {"bob", userB}} {
		pages := ProfilePageTopics(clientOf(t, app, u.clerkID).Id)
		if len(pages) != 1 {
			t.Fatalf("the page holds %d connections, want 1", len(pages))
		}
		c := connectRealtime(t, srv.URL)
		c.subscribe(t, "Bearer "+key.token(t, u.clerkID), pages[0]...)
		conns[u.name] = c
		if !indexOff {
			mustBeDetached(t, app, c.clientID, false)
		}
	}

	send(clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userA, "Alicia", 2000)))
	send(org("organization.updated", fixtureOrgID, "Renamed", 2000))
	send(member("organizationMembership.updated", "orgmem_a1", fixtureOrgID, userA, "org:member", 2000))
	send(org("organization.updated", "org_two", "Two", 2000))
	// The last changes each page hears bound what it hears.
	send(clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userA, "Alice again", 3000)))
	send(clerkfake.Event(eventUserUpdated, clerkfake.NewUser(userB, "Bobby", 3000)))
	send(org("organization.updated", fixtureOrgID, "Final", 3000))
	lastName := map[string]string{"alice": "Alice again", "bob": "Bobby"}

	out := map[string][]string{}
	for name, c := range conns {
		for heardName, heardOrg := false, false; !heardName || !heardOrg; {
			ev := c.next(t)
			r := ev.Record()
			var got string
			switch {
			case strings.HasPrefix(ev.Name, "clients/"):
				got = fmt.Sprintf("%s %s %s", ev.Data["action"], r["clerkId"], r["firstName"])
				heardName = heardName || r["firstName"] == lastName[name]
			case strings.HasPrefix(ev.Name, "memberships/"):
				got = fmt.Sprintf("membership %s %s", ev.Data["action"], r["role"])
			default:
				got = fmt.Sprintf("organization %s %s %s", ev.Data["action"], r["clerkId"], r["name"])
				heardOrg = heardOrg || r["name"] == "Final"
			}
			out[name] = append(out[name], got)
		}
		// Messages are sent from goroutines of their own: one may overtake another.
		c.noEvent(t, 200*time.Millisecond)
		slices.Sort(out[name])
	}
	return out
}

// mustBeDetached checks that the connection left PocketBase's loop, and
// whether it is in PocketBase's broker.
func mustBeDetached(t *testing.T, app core.App, clientID string, inBroker bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		place, found := realtimeIndexOf(app).PlaceOf(clientID)
		if found && place.Detached && place.InBroker == inBroker {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("connection %s: detached and in the broker %v: not so within 5 s (found %v: %+v)", clientID, inBroker, found, place)
		}
	}
}
