package hooks

import (
	"net/http"
	"testing"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

func TestOrganizationEventsApplyOnceNewestWinsDeletionWins(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})

	mustDeliver(t, srv.URL, "msg_created", readFixture(t, "organization.created.json"), outcomeCreated)
	org := orgOf(t, app, fixtureOrgID)
	if org == nil || org.GetString("name") != "Acme Corp" || org.GetString("slug") != "acme-corp" ||
		org.GetInt("maxAllowedMemberships") != 5 || !org.GetBool("adminDeleteEnabled") ||
		org.GetString("createdBy") != "user_2g7np7Hrk0SN6kj5EDMLDaKNL0S" || org.GetString("imageUrl") != "https://img.clerk.com/xxxxxx" {
		t.Fatalf("organization not mapped: %v", org)
	}
	if r := deliver(t, srv.URL, "msg_created", readFixture(t, "organization.created.json")); r.Body["duplicate"] != true {
		t.Fatalf("redelivery applied again: %v", r.Body)
	}

	mustDeliver(t, srv.URL, "msg_updated", readFixture(t, "organization.updated.json"), outcomeUpdated)
	org = orgOf(t, app, fixtureOrgID)
	if org.GetString("name") != "Acme Corp Updated" || org.GetString("privateMetadata") != `{"internal_id":"ORG-123"}` {
		t.Fatalf("update not applied: %v", org)
	}
	// The creation again, under another svix-id: older, so stale.
	mustDeliver(t, srv.URL, "msg_created_again", readFixture(t, "organization.created.json"), outcomeStale)
	if orgOf(t, app, fixtureOrgID).GetString("name") != "Acme Corp Updated" {
		t.Fatal("an older event overwrote a newer one")
	}

	mustDeliver(t, srv.URL, "msg_member", readFixture(t, "organizationMembership.created.json"), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_deleted", readFixture(t, "organization.deleted.json"), outcomeDeleted)
	if orgOf(t, app, fixtureOrgID) != nil || membershipOf(t, app, fixtureMembershipID) != nil {
		t.Fatal("the organization or its membership survived the deletion")
	}
	// Deletion wins over any later-arriving event, whatever its time.
	mustDeliver(t, srv.URL, "msg_late_update", orgEventBody(t, eventOrganizationUpdated, func(o map[string]any) {
		o["updated_at"] = 9999999999999
	}), outcomeGone)
	mustDeliver(t, srv.URL, "msg_late_member", readFixture(t, "organizationMembership.updated.json"), outcomeGone)
	if orgOf(t, app, fixtureOrgID) != nil || count(t, app, migrations.MembershipsCollection, "") != 0 {
		t.Fatal("a deleted organization came back")
	}
	if n := count(t, app, migrations.EventsCollection, ""); n != 7 {
		t.Fatalf("%d log rows, want 7", n)
	}
}

// A membership event creates its organization from the copy it embeds, and
// is kept while its user has no client; the client is linked when it appears.
func TestMembershipBeforeItsOrganizationAndItsClient(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})

	mustDeliver(t, srv.URL, "msg_member", readFixture(t, "organizationMembership.created.json"), outcomeCreated)
	m := membershipOf(t, app, fixtureMembershipID)
	org := orgOf(t, app, fixtureOrgID)
	if m == nil || org == nil {
		t.Fatal("membership or its organization missing")
	}
	if m.GetString("organization") != org.Id || m.GetString("client") != "" || m.GetString("role") != "org:member" ||
		m.GetString("roleName") != "Member" || m.GetString("clerkUserId") != fixtureMemberUserID ||
		m.GetString("clerkOrganizationId") != fixtureOrgID || m.GetString("permissions") != `["org:posts:read","org:posts:write"]` {
		t.Fatalf("membership not mapped: %v", m)
	}

	mustDeliver(t, srv.URL, "msg_user", clerkfake.Event(eventUserCreated, clerkfake.NewUser(fixtureMemberUserID, "Example", 1000)), outcomeCreated)
	client := clientOf(t, app, fixtureMemberUserID)
	if got := membershipOf(t, app, fixtureMembershipID).GetString("client"); got != client.Id {
		t.Fatalf("membership client %q, want %q", got, client.Id)
	}

	// A membership of a user who already has a client is linked at once.
	mustDeliver(t, srv.URL, "msg_member2", clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_2", "org_other", fixtureMemberUserID, "org:admin", 1000)), outcomeCreated)
	if got := membershipOf(t, app, "orgmem_2").GetString("client"); got != client.Id {
		t.Fatalf("second membership client %q, want %q", got, client.Id)
	}
}

// Clerk may date a membership's deletion before its last update: the
// deletion still wins, by its tombstone, in either order.
func TestMembershipDeletionWinsOverANewerUpdate(t *testing.T) {
	t.Parallel()
	for _, deleteFirst := range []bool{false, true} {
		app := newTestApp(t)
		srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
		mustDeliver(t, srv.URL, "msg_created", readFixture(t, "organizationMembership.created.json"), outcomeCreated)
		if deleteFirst {
			mustDeliver(t, srv.URL, "msg_deleted", readFixture(t, "organizationMembership.deleted.json"), outcomeDeleted)
			mustDeliver(t, srv.URL, "msg_updated", readFixture(t, "organizationMembership.updated.json"), outcomeGone)
		} else {
			mustDeliver(t, srv.URL, "msg_updated", readFixture(t, "organizationMembership.updated.json"), outcomeUpdated)
			if membershipOf(t, app, fixtureMembershipID).GetString("role") != "org:admin" {
				t.Fatal("update not applied")
			}
			mustDeliver(t, srv.URL, "msg_deleted", readFixture(t, "organizationMembership.deleted.json"), outcomeDeleted)
		}
		mustDeliver(t, srv.URL, "msg_created_again", readFixture(t, "organizationMembership.created.json"), outcomeGone)
		if membershipOf(t, app, fixtureMembershipID) != nil {
			t.Fatalf("deleteFirst=%v: the deleted membership is back", deleteFirst)
		}
		if orgOf(t, app, fixtureOrgID) == nil {
			t.Fatal("a membership's deletion took its organization")
		}
	}
}

// A membership's embedded organization refreshes the stored one only when newer.
func TestMembershipRefreshesItsOrganizationWhenNewer(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	mustDeliver(t, srv.URL, "msg_org", readFixture(t, "organization.updated.json"), outcomeCreated)

	// Older copy: the stored organization stays.
	mustDeliver(t, srv.URL, "msg_m1", readFixture(t, "organizationMembership.created.json"), outcomeCreated)
	if got := orgOf(t, app, fixtureOrgID).GetString("name"); got != "Acme Corp Updated" {
		t.Fatalf("an older embedded copy overwrote the organization: %q", got)
	}
	// Newer copy: applied.
	mustDeliver(t, srv.URL, "msg_m2", orgEventBody(t, eventMembershipUpdated, func(m map[string]any) {
		o := m["organization"].(map[string]any)
		o["name"] = "Acme Renamed"
		o["updated_at"] = 1716883900000
	}), outcomeUpdated)
	if got := orgOf(t, app, fixtureOrgID).GetString("name"); got != "Acme Renamed" {
		t.Fatalf("a newer embedded copy was not applied: %q", got)
	}
}

// A user's deletion removes their memberships, with or without a client,
// and their later memberships are gone.
func TestUserDeletionRemovesMemberships(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	mustDeliver(t, srv.URL, "msg_u1", clerkfake.Event(eventUserCreated, clerkfake.NewUser("user_with_client", "Example", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_m1", clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_1", "org_a", "user_with_client", "org:member", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_m2", clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_2", "org_a", "user_without_client", "org:member", 1000)), outcomeCreated)

	for i, id := range []string{"user_with_client", "user_without_client"} {
		del := userDeletedEvent(id, 2000)
		mustDeliver(t, srv.URL, "msg_del"+id, del, outcomeDeleted)
		if n := count(t, app, migrations.MembershipsCollection, ""); n != 1-i {
			t.Fatalf("after deleting %s: %d memberships, want %d", id, n, 1-i)
		}
	}
	mustDeliver(t, srv.URL, "msg_m3", clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_3", "org_a", "user_with_client", "org:member", 3000)), outcomeGone)
	if orgOf(t, app, "org_a") == nil {
		t.Fatal("the organization went with its members")
	}
}

func TestMalformedOrganizationEventsChangeNothing(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	for name, body := range map[string][]byte{
		"no org id":     orgEventBody(t, eventOrganizationCreated, func(o map[string]any) { delete(o, "id") }),
		"no member org": orgEventBody(t, eventMembershipCreated, func(m map[string]any) { delete(m, "organization") }),
		"no member user": orgEventBody(t, eventMembershipCreated, func(m map[string]any) {
			delete(m, "public_user_data")
		}),
		"org is a string": []byte(`{"type":"organization.created","timestamp":1,"data":"org_1"}`),
	} {
		r := deliver(t, srv.URL, "msg_"+name, body)
		if r.Status != http.StatusBadRequest {
			t.Fatalf("%s: %d %v", name, r.Status, r.Body)
		}
	}
	for _, c := range []string{migrations.OrganizationsCollection, migrations.MembershipsCollection, migrations.EventsCollection} {
		if n := count(t, app, c, ""); n != 0 {
			t.Fatalf("%s has %d records", c, n)
		}
	}
}
