package hooks

import (
	"regexp"
	"testing"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// clerk send walks an organization and a membership through their six
// events, and the server applies each.
func TestClerkSendWalksAnOrganizationAndAMembership(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	url := srv.URL + WebhookPath
	config := Config{WebhookSecrets: []string{testSecret}}
	send := func(args ...string) string {
		t.Helper()
		out, err := clerkCLI(t, app, config, append([]string{"send", "--url", url}, args...)...)
		if err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		mustContain(t, out, "200 OK")
		return out
	}

	out := send("organization.created")
	orgID := regexp.MustCompile(`org_[0-9A-Za-z]{27}`).FindString(out)
	if orgID == "" || orgOf(t, app, orgID) == nil {
		t.Fatalf("no organization for:\n%s", out)
	}
	mustContain(t, out, `"outcome":"created"`)
	mustContain(t, send("organization.updated", "--org-id", orgID), `"outcome":"updated"`)
	if name := orgOf(t, app, orgID).GetString("name"); !regexp.MustCompile(`\(renamed\)$`).MatchString(name) {
		t.Fatalf("organization.updated did not rename: %q", name)
	}

	out = send("user.created")
	userID := regexp.MustCompile(`user_[0-9A-Za-z]{27}`).FindString(out)
	out = send("organizationMembership.created", "--org-id", orgID, "--user-id", userID, "--role", "org:admin")
	mustContain(t, out, `"outcome":"created"`)
	memberID := regexp.MustCompile(`orgmem_[0-9A-Za-z]{27}`).FindString(out)
	m := membershipOf(t, app, memberID)
	if m == nil || m.GetString("role") != "org:admin" || m.GetString("client") != clientOf(t, app, userID).Id {
		t.Fatalf("membership: %v", m)
	}
	// The embedded copy of the organization does not undo its rename.
	if name := orgOf(t, app, orgID).GetString("name"); !regexp.MustCompile(`\(renamed\)$`).MatchString(name) {
		t.Fatalf("the membership's copy undid the rename: %q", name)
	}
	mustContain(t, send("organizationMembership.updated", "--org-id", orgID, "--user-id", userID, "--role", "org:member"), `"outcome":"updated"`)
	if membershipOf(t, app, memberID).GetString("role") != "org:member" {
		t.Fatal("role not updated")
	}
	mustContain(t, send("organizationMembership.deleted", "--org-id", orgID, "--user-id", userID), `"outcome":"deleted"`)
	mustContain(t, send("organization.deleted", "--org-id", orgID), `"outcome":"deleted"`)
	if orgOf(t, app, orgID) != nil || count(t, app, migrations.MembershipsCollection, "") != 0 {
		t.Fatal("not deleted")
	}
}

func TestClerkSendRefusesAnIncompleteOrganizationEvent(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	config := Config{WebhookSecrets: []string{testSecret}}
	for _, args := range [][]string{
		{"organization.updated"},
		{"organizationMembership.deleted", "--org-id", "org_1"},
		{"organizationMembership.created", "--role", "admin"},
		{"organization.created", "--org-id", "user_1"},
	} {
		out, err := clerkCLI(t, app, config, append([]string{"send", "--url", "http://127.0.0.1:1/nothing"}, args...)...)
		if err == nil {
			t.Fatalf("%v accepted:\n%s", args, out)
		}
		mustContain(t, err, "org")
	}
}
