package hooks

import (
	"bytes"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// clerkSyncCommand runs "clerk sync" with args as the binary does, and
// returns what it printed and its error (a non-nil error exits 1).
func clerkSyncCommand(t *testing.T, app core.App, f *fakeClerk, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "pocketclerk"}
	if err := Register(app, root, fakeConfig(f)); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"clerk", "sync"}, args...))
	err := root.Execute()
	return out.String(), err
}

// Most Clerk instances have not turned organizations on: the sync keeps
// their users, prunes them, and says that organizations were skipped.
func TestSyncOfAnInstanceWithoutOrganizations(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerk(t, 5)
	f.OrganizationsDisabled = true

	out, err := clerkSyncCommand(t, app, f)
	if err != nil {
		t.Fatalf("clerk sync failed on an instance without organizations: %v\n%s", err, out)
	}
	mustContain(t, out, "5 users listed: 5 created")
	mustContain(t, out, "organizations: not enabled in this Clerk instance: skipped")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 5 {
		t.Fatalf("%d clients, want 5", n)
	}

	// --prune prunes users as usual.
	ageClients(t, app, time.Hour)
	f.edit(func(f *fakeClerk) { f.RemoveUser("user_fake000002") })
	out, err = clerkSyncCommand(t, app, f, "--prune")
	if err != nil {
		t.Fatalf("clerk sync --prune failed: %v\n%s", err, out)
	}
	if clientOf(t, app, "user_fake000002") != nil {
		t.Fatal("the deleted user's client was not pruned")
	}
	if strings.Contains(out, "not pruned") {
		t.Fatalf("with nothing stored, nothing needs saying about organizations: %s", out)
	}

	// The run is recorded as done, and the status page says what the
	// instance has.
	run, err := lastSyncRun(app)
	if err != nil || run == nil || run.Error != "" || run.Counts.OrganizationsSkipped != organizationsNotEnabled {
		t.Fatalf("recorded run: %+v, %v", run, err)
	}
	p := &plugin{app: app, config: fakeConfig(f), failures: newFailureRecorder()}
	part := configPartNamed(t, p, "Organizations")
	if part.State != "off" || !strings.Contains(part.Detail, "not enabled in this Clerk instance") {
		t.Fatalf("organizations part: %+v", part)
	}

	// Once the instance has them, the next sync says so.
	f.edit(func(f *fakeClerk) { f.OrganizationsDisabled = false })
	if _, err := clerkSyncCommand(t, app, f); err != nil {
		t.Fatal(err)
	}
	if part := configPartNamed(t, p, "Organizations"); part.State != "ok" {
		t.Fatalf("organizations part after enabling: %+v", part)
	}
}

func configPartNamed(t *testing.T, p *plugin, name string) configPart {
	t.Helper()
	for _, part := range p.configParts(time.Now()) {
		if part.Name == name {
			return part
		}
	}
	t.Fatalf("no configuration part %q", name)
	return configPart{}
}

// Organizations synced before the feature was turned off are not pruned:
// a refused listing says nothing of them.
func TestPruneKeepsOrganizationsWhenClerkRefusesToListThem(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerkWithOrgs(t, 4, 2, 4)
	mustSync(t, app, f, syncOptions{})

	f.edit(func(f *fakeClerk) {
		f.OrganizationsDisabled = true
		f.RemoveUser("user_fake000003")
	})
	ageClients(t, app, time.Hour)
	for _, c := range []string{migrations.OrganizationsCollection, migrations.MembershipsCollection} {
		ageRecords(t, app, c, time.Hour)
	}
	for _, dryRun := range []bool{true, false} {
		counts, _, err := syncWith(t, app, fakeConfig(f), syncOptions{Prune: true, Force: true, DryRun: dryRun})
		if err != nil {
			t.Fatalf("dry run %v: %v", dryRun, err)
		}
		summary := counts.summary(dryRun)
		mustContain(t, summary, "organizations: not enabled in this Clerk instance: skipped")
		mustContain(t, summary, "organizations not pruned")
		mustContain(t, summary, "the 2 organizations and")
	}
	if clientOf(t, app, "user_fake000003") != nil {
		t.Fatal("the deleted user was not pruned")
	}
	// The pruned user's membership goes with their client, as on
	// user.deleted; every other one is kept.
	if n, m := count(t, app, migrations.OrganizationsCollection, ""), count(t, app, migrations.MembershipsCollection, ""); n != 2 || m != 3 {
		t.Fatalf("%d organizations and %d memberships left, want 2 and 3", n, m)
	}
}

// A session token issued just before organizations were turned off still
// names one: the request is answered as without it, and Clerk is not asked
// again at every request.
func TestFirstSightOfAnOrganizationOnAnInstanceWithoutOrganizations(t *testing.T) {
	t.Parallel()
	app, srv, clerkAPI, key, _ := newcomerInClerk(t)
	clerkAPI.edit(func(f *fakeClerk) { f.OrganizationsDisabled = true })
	token := orgToken(t, key, newcomer, "org_gone", "org:admin")
	for range 3 {
		req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/collections/"+migrations.ClientsCollection+"/records", nil)
		req.Header.Set("Authorization", token)
		res := do(t, req)
		if res.Status != http.StatusOK {
			t.Fatalf("answered %d, want 200 as without an organization", res.Status)
		}
	}
	if got := listAs(t, srv.URL, token, migrations.OrganizationsCollection, "clerkId"); len(got) != 0 {
		t.Fatalf("sees organizations %v", got)
	}
	if clientOf(t, app, newcomer) == nil {
		t.Fatal("the user was not stored on first sight")
	}
	if n := clerkAPI.MemberHits.Load(); n != 1 {
		t.Fatalf("asked Clerk %d times for the memberships, want 1", n)
	}
}

// A 403 that is not about the key does not send the operator to the key.
func TestClerkErrorsNameClerksReason(t *testing.T) {
	notEnabled := &clerk.APIErrorResponse{HTTPStatusCode: http.StatusForbidden, TraceID: "t1", Errors: []clerk.Error{{
		Code: "organization_not_enabled_in_instance", Message: "access denied",
		LongMessage: "The organizations feature is not enabled for this instance. You can enable it at https://dashboard.clerk.com.",
	}}}
	msg := explainClerkError("listing", notEnabled).Error()
	if strings.Contains(msg, "CLERK_SECRET_KEY") {
		t.Errorf("a refusal for another reason blames the key: %s", msg)
	}
	mustContain(t, msg, "The organizations feature is not enabled for this instance")

	badKey := &clerk.APIErrorResponse{HTTPStatusCode: http.StatusUnauthorized, Errors: []clerk.Error{{Code: "clerk_key_invalid", Message: "The provided Clerk Secret Key is invalid."}}}
	mustContain(t, explainClerkError("listing", badKey).Error(), "CLERK_SECRET_KEY")
	if !isOrganizationsNotEnabled(notEnabled) || isOrganizationsNotEnabled(badKey) || isOrganizationsNotEnabled(errors.New("x")) {
		t.Error("isOrganizationsNotEnabled tells the wrong answers")
	}
}
