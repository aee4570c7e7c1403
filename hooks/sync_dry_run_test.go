package hooks

import (
	"bytes"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// runCommand runs the binary's command line on app, as main does.
func runCommand(t testing.TB, app core.App, config Config, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "pocketclerk"}
	if err := Register(app, root, config); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(args)
	err := root.Execute()
	return out.String(), err
}

// A dry run of --prune predicts the real run: when the real run would stop
// on a guard, the dry run names every guard it would meet (clients and
// organizations here), still lists what would be deleted, and fails too.
func TestPruneDryRunPredictsEveryGuard(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerkWithOrgs(t, 20, 3, 6)
	mustSync(t, app, f, syncOptions{})
	ageClients(t, app, 2*time.Minute)
	for _, c := range []string{migrations.OrganizationsCollection, migrations.MembershipsCollection} {
		ageRecords(t, app, c, 2*time.Minute)
	}
	f.edit(func(f *fakeClerk) {
		for _, id := range []string{"user_fake000011", "user_fake000012", "user_fake000013"} {
			f.RemoveUser(id)
		}
		f.RemoveOrg("org_fake001")
		f.RemoveOrg("org_fake002")
	})

	_, realErr := runCommand(t, app, fakeConfig(f), "clerk", "sync", "--prune")
	if realErr == nil {
		t.Fatal("the real prune of 3 of 20 clients and 2 of 3 organizations went ahead without --force")
	}

	out, err := runCommand(t, app, fakeConfig(f), "clerk", "sync", "--prune", "--dry-run")
	if err == nil {
		t.Fatalf("the dry run succeeded where the real run fails (%v):\n%s", realErr, out)
	}
	mustContain(t, err.Error(), "3 of 20 clients")
	mustContain(t, err.Error(), "2 of 3 organizations")
	mustContain(t, out, "Dry run, nothing written; would have: 17 users listed")
	mustContain(t, out, "unchanged, 0 skipped (stale or deleted), 3 deleted")
	for _, id := range []string{"user_fake000011", "user_fake000012", "user_fake000013"} {
		mustContain(t, out, "would delete "+id)
	}
	mustContain(t, out, "1 organizations listed: 0 created, 0 updated, 1 unchanged, 0 skipped, 2 deleted")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 20 {
		t.Errorf("%d clients after the dry run, want 20", n)
	}

	// With --force, the dry run passes as the real run does.
	if out, err := runCommand(t, app, fakeConfig(f), "clerk", "sync", "--prune", "--dry-run", "--force"); err != nil {
		t.Fatalf("dry run with --force: %v\n%s", err, out)
	}
}
