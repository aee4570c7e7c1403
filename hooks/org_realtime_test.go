package hooks

import (
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// Realtime subscribers to memberships see every change the webhook makes to
// the memberships of their organizations, cascades included, and nothing else.
func TestRealtimeMembersSeeMembershipChanges(t *testing.T) {
	ten := newTenancy(t)
	alice := connectRealtime(t, ten.url)
	alice.subscribe(t, authToken(t, ten.alice), "memberships/*")
	carol := connectRealtime(t, ten.url)
	carol.subscribe(t, authToken(t, ten.carol), "memberships/*")

	mustDeliver(t, ten.url, "msg_promote", clerkfake.Event(eventMembershipUpdated, clerkfake.NewMembership("orgmem_bob_a", "org_a", "user_bob", "org:member", 2000)), outcomeUpdated)
	ev := alice.next(t)
	if ev.Data["action"] != "update" || ev.Record()["clerkId"] != "orgmem_bob_a" || ev.Record()["role"] != "org:member" {
		t.Fatalf("alice's event: %+v", ev)
	}
	if _, ok := ev.Record()["privateMetadata"]; ok {
		t.Fatal("a membership's privateMetadata went out over realtime")
	}
	mustDeliver(t, ten.url, "msg_org_b_gone", []byte(`{"type":"organization.deleted","timestamp":3000,"data":{"id":"org_b","deleted":true,"object":"organization"}}`), outcomeDeleted)
	if ev := alice.next(t); ev.Data["action"] != "delete" || ev.Record()["clerkId"] != "orgmem_alice_b" {
		t.Fatalf("alice's event for the deletion of org_b: %+v", ev)
	}
	carol.noEvent(t, 200*time.Millisecond)
	// Carol's first event is her own membership's: nothing came before it.
	mustDeliver(t, ten.url, "msg_carol_c", clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_carol_c", "org_c", "user_carol", "org:member", 4000)), outcomeCreated)
	if ev := carol.next(t); ev.Data["action"] != "create" || ev.Record()["clerkId"] != "orgmem_carol_c" {
		t.Fatalf("carol's first event: %+v", ev)
	}
}
