package hooks

import (
	"bytes"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/spf13/cobra"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// clerkCLI runs the app's "clerk" commands as the binary would.
func clerkCLI(t testing.TB, app core.App, config Config, args ...string) (string, error) {
	t.Helper()
	root := &cobra.Command{Use: "pocketclerk"}
	p := &plugin{app: app, config: config}
	if err := p.registerOps(root); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetErr(&out)
	root.SetArgs(append([]string{"clerk"}, args...))
	err := root.Execute()
	return out.String(), err
}

func TestClerkSendWalksAUserThroughCreatedUpdatedDeleted(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	url := srv.URL + WebhookPath
	// The sender reads CLERK_WEBHOOK_SECRET as the server does.
	config := Config{WebhookSecrets: []string{testSecret}}

	out, err := clerkCLI(t, app, config, "send", "user.created", "--url", url)
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, out, "200 OK")
	id := regexp.MustCompile(`user_[0-9A-Za-z]{27}`).FindString(out)
	c := clientOf(t, app, id)
	if id == "" || c == nil {
		t.Fatalf("no client for the sent user:\n%s", out)
	}
	who := sendPersonOf(id)
	if c.Email() != strings.ToLower(id)+"@example.com" || c.GetString("firstName") != who.first || c.GetString("lastName") != who.last || !c.Verified() {
		t.Fatalf("created client: email %q, lastName %q", c.Email(), c.GetString("lastName"))
	}
	created := c.GetDateTime("clerkCreatedAt")
	if d := time.Since(created.Time()); d < 0 || d > time.Minute {
		t.Fatalf("clerkCreatedAt %v is not now", created)
	}

	time.Sleep(2 * time.Millisecond) // updated_at is in milliseconds
	if out, err := clerkCLI(t, app, config, "send", "user.updated", "--url", url, "--user-id", id); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	c = clientOf(t, app, id)
	if c.GetString("lastName") != who.otherLast || c.GetDateTime("clerkCreatedAt") != created {
		t.Fatalf("updated client: lastName %q, clerkCreatedAt %v (was %v)", c.GetString("lastName"), c.GetDateTime("clerkCreatedAt"), created)
	}
	mustContain(t, c.GetString("publicMetadata"), `"role":"admin"`)

	if out, err := clerkCLI(t, app, config, "send", "user.deleted", "--url", url, "--user-id", id); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	if clientOf(t, app, id) != nil || count(t, app, migrations.TombstonesCollection, "clerkId = '"+id+"'") != 1 {
		t.Fatal("the client was not deleted and tombstoned")
	}
}

func TestClerkSendWithWrongSecretFails(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})

	out, err := clerkCLI(t, app, Config{}, "send", "user.created", "--url", srv.URL+WebhookPath,
		"--secret", "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err == nil {
		t.Fatalf("a rejected event exited successfully:\n%s", out)
	}
	mustContain(t, out, "401")
	if n := count(t, app, migrations.ClientsCollection, ""); n != 0 {
		t.Fatalf("%d clients written by an event with a wrong signature", n)
	}

	_, err = clerkCLI(t, app, Config{}, "send", "user.created", "--url", srv.URL+WebhookPath)
	if err == nil {
		t.Fatal("send without any secret succeeded")
	}
	mustContain(t, err, "CLERK_WEBHOOK_SECRET")

	if _, err = clerkCLI(t, app, Config{}, "send", "user.banned", "--secret", testSecret); err == nil {
		t.Fatal("an unknown event type was sent")
	}
}

// Clerk ids carry their creation time, as the ids "clerk send" makes do.
func TestClerkIDTime(t *testing.T) {
	t.Parallel()
	if got := clerkIDTime(fixtureUserID, time.Time{}); got.Unix() != 1654012591 {
		t.Fatalf("the fixture's id decodes to %v, want its created_at 2022-05-31 15:56:31 UTC", got.UTC())
	}
	at := time.Unix(1764190000, 0)
	id, err := newClerkID("user_", at)
	if err != nil {
		t.Fatal(err)
	}
	if got := clerkIDTime(id, time.Time{}); !got.Equal(at) {
		t.Fatalf("%s decodes to %v, want %v", id, got, at)
	}
	if got := clerkIDTime("user_not-a-ksuid", at); !got.Equal(at) {
		t.Fatalf("a foreign id decodes to %v", got)
	}
}

// Users and organizations sent one after another look different in the
// dashboard, and each keeps its name on every send.
func TestClerkSendGivesDifferentNames(t *testing.T) {
	t.Parallel()
	users, orgs := map[string]bool{}, map[string]bool{}
	for i := range 40 {
		id, err := newClerkID("user_", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		who := sendPersonOf(id)
		if sendPersonOf(id) != who {
			t.Fatal("a user's name changes between sends")
		}
		users[who.first+" "+who.last] = true
		org := clerkOrgData(fmt.Sprintf("org_%027d", i), id, false, time.Now())["name"].(string)
		orgs[strings.Fields(org)[0]] = true
	}
	if len(users) < 4 || len(orgs) < 4 {
		t.Errorf("40 sends gave %d user names and %d organization names", len(users), len(orgs))
	}
}
