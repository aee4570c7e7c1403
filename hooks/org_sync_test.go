package hooks

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// newFakeClerkWithOrgs serves users users, orgs organizations and members
// memberships, spread over the organizations, of users user_fake000000...
// (the first users of them have clients once synced).
func newFakeClerkWithOrgs(t testing.TB, users, orgs, members int) *fakeClerk {
	t.Helper()
	f := newFakeClerk(t, users)
	for i := range orgs {
		f.Orgs = append(f.Orgs, clerkfake.NewOrganization(fmt.Sprintf("org_fake%03d", i), int64(1700000000000+i)).Served())
	}
	for i := range members {
		f.Members = append(f.Members, clerkfake.NewMembership(fmt.Sprintf("orgmem_fake%06d", i), fmt.Sprintf("org_fake%03d", i%orgs), fmt.Sprintf("user_fake%06d", i), "org:member", int64(1700000000000+i)).Served())
	}
	return f
}

// ageRecords makes every record of collection look saved d ago.
// Test set-up only: the app itself never writes these records with SQL.
func ageRecords(t testing.TB, app core.App, collection string, d time.Duration) {
	t.Helper()
	at, _ := types.ParseDateTime(time.Now().Add(-d))
	if _, err := app.DB().Update(collection, dbx.Params{"updated": at.String()}, nil).Execute(); err != nil {
		t.Fatal(err)
	}
}

func TestSyncBackfillsOrganizationsAndMemberships(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerkWithOrgs(t, 3, 2, 1201) // three pages of memberships

	counts, out, err := syncWith(t, app, fakeConfig(f), syncOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if counts.Organizations.Created != 2 || counts.Memberships.Created != 1201 || counts.Memberships.Listed != 1201 {
		t.Fatalf("counts: %+v %+v", counts.Organizations, counts.Memberships)
	}
	mustContain(t, out, "listed 1201 memberships")
	mustContain(t, counts.summary(false), "2 organizations listed: 2 created")
	mustContain(t, counts.summary(false), "1201 memberships listed: 1201 created")
	if n := count(t, app, migrations.MembershipsCollection, "client != ''"); n != 3 {
		t.Fatalf("%d memberships linked to a client, want the 3 users'", n)
	}
	m := membershipOf(t, app, "orgmem_fake000001")
	if m.GetString("organization") != orgOf(t, app, "org_fake001").Id || m.GetString("client") != clientOf(t, app, "user_fake000001").Id {
		t.Fatalf("membership not mapped: %v", m)
	}

	// A second run finds everything up to date, and applies Clerk's changes.
	f.edit(func(f *fakeClerk) {
		f.Orgs[0].Name, f.Orgs[0].UpdatedAt = "Renamed", f.Orgs[0].UpdatedAt+1
		f.Members[2].Role, f.Members[2].UpdatedAt = "org:admin", f.Members[2].UpdatedAt+1
	})
	counts = mustSync(t, app, f, syncOptions{})
	if counts.Organizations.Updated != 1 || counts.Memberships.Updated != 1 || counts.Memberships.Unchanged != 1200 {
		t.Fatalf("second run: %+v %+v", counts.Organizations, counts.Memberships)
	}
	if orgOf(t, app, "org_fake000").GetString("name") != "Renamed" || membershipOf(t, app, "orgmem_fake000002").GetString("role") != "org:admin" {
		t.Fatal("Clerk's changes not applied")
	}
}

func TestSyncPrunesOrganizationsAndMemberships(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerkWithOrgs(t, 3, 3, 60)
	mustSync(t, app, f, syncOptions{})

	// In Clerk: org_fake002 is deleted with its 20 memberships, and one
	// membership of org_fake000 ends.
	f.edit(func(f *fakeClerk) {
		f.RemoveOrg("org_fake002")
		f.RemoveMember("orgmem_fake000003")
	})
	for _, c := range []string{migrations.OrganizationsCollection, migrations.MembershipsCollection} {
		ageRecords(t, app, c, time.Hour)
	}

	counts := mustSync(t, app, f, syncOptions{Prune: true, DryRun: true})
	if counts.Organizations.Deleted != 1 || count(t, app, migrations.OrganizationsCollection, "") != 3 || count(t, app, migrations.MembershipsCollection, "") != 60 {
		t.Fatalf("dry run: %+v, or it wrote", counts.Organizations)
	}

	// A membership saved just now (by a webhook, say) is left for the next run.
	fresh := membershipOf(t, app, "orgmem_fake000006")
	fresh.Set("roleName", "touched")
	if err := app.Save(fresh); err != nil {
		t.Fatal(err)
	}
	f.edit(func(f *fakeClerk) { f.RemoveMember("orgmem_fake000006") })

	counts = mustSync(t, app, f, syncOptions{Prune: true})
	if counts.Organizations.Deleted != 1 || counts.Memberships.Deleted != 1 {
		t.Fatalf("prune: %+v %+v", counts.Organizations, counts.Memberships)
	}
	if orgOf(t, app, "org_fake002") != nil || membershipOf(t, app, "orgmem_fake000003") != nil || membershipOf(t, app, "orgmem_fake000006") == nil {
		t.Fatal("wrong records pruned")
	}
	if n := count(t, app, migrations.MembershipsCollection, ""); n != 39 {
		t.Fatalf("%d memberships left, want 39 (60, less the deleted organization's 20 and one ended; the other, saved just now, stays for now)", n)
	}
	for _, id := range []string{"org_fake002", "orgmem_fake000003"} {
		if gone, _ := isTombstoned(app, id); !gone {
			t.Fatalf("%s pruned without a tombstone", id)
		}
	}
}

func TestSyncPruneOfOrganizationsKeepsTheShareGuard(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerkWithOrgs(t, 0, 2, 4)
	mustSync(t, app, f, syncOptions{})
	f.edit(func(f *fakeClerk) { f.Orgs, f.Members = nil, nil })
	for _, c := range []string{migrations.OrganizationsCollection, migrations.MembershipsCollection} {
		ageRecords(t, app, c, time.Hour)
	}
	_, _, err := syncWith(t, app, fakeConfig(f), syncOptions{Prune: true})
	if err == nil || !strings.Contains(err.Error(), "not pruning") || count(t, app, migrations.OrganizationsCollection, "") != 2 {
		t.Fatalf("emptied the organizations without --force: %v", err)
	}
	counts := mustSync(t, app, f, syncOptions{Prune: true, Force: true})
	if counts.Organizations.Deleted != 2 || count(t, app, migrations.MembershipsCollection, "") != 0 {
		t.Fatalf("forced prune: %+v", counts.Organizations)
	}
}
