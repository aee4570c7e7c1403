package hooks

import (
	"regexp"
	"testing"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// clerk send walks a user's and an organization's subscription item and
// payment through Clerk Billing's events, and the server applies each.
func TestClerkSendWalksBillingEvents(t *testing.T) {
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
	userID := regexp.MustCompile(`user_[0-9A-Za-z]{27}`).FindString(send("user.created"))
	out := send("subscriptionItem.active", "--user-id", userID, "--plan", "pro")
	mustContain(t, out, `"outcome":"created"`)
	mustContain(t, out, "next: clerk send subscriptionItem.canceled --user-id "+userID+" --plan pro")
	itemID := regexp.MustCompile(`csub_item_[0-9A-Za-z]{27}`).FindString(out)
	item := recordOf(t, app, migrations.SubscriptionItemsCollection, itemID)
	if item == nil || item.GetString("client") != clientOf(t, app, userID).Id || item.GetString("planSlug") != "pro" {
		t.Fatalf("item: %v", item)
	}
	for _, c := range []struct{ typ, status string }{
		{"subscriptionItem.canceled", "canceled"}, {"subscription.pastDue", "past_due"}, {"subscriptionItem.ended", "ended"},
	} {
		mustContain(t, send(c.typ, "--user-id", userID), `"outcome":"updated"`)
		if got := recordOf(t, app, migrations.SubscriptionItemsCollection, itemID).GetString("status"); got != c.status {
			t.Fatalf("after %s: status %q, want %q", c.typ, got, c.status)
		}
	}
	mustContain(t, send("paymentAttempt.created", "--user-id", userID), `"outcome":"created"`)
	mustContain(t, send("paymentAttempt.updated", "--user-id", userID), `"outcome":"updated"`)
	if n := count(t, app, migrations.PaymentAttemptsCollection, "status = 'paid' && clerkPayerId = '"+userID+"'"); n != 1 {
		t.Fatalf("%d paid attempts, want 1", n)
	}

	// Every billing event is applied, an organization's too.
	orgID := regexp.MustCompile(`org_[0-9A-Za-z]{27}`).FindString(send("organization.created"))
	for _, typ := range billingEvents {
		if out := send(typ, "--org-id", orgID, "--plan", "team"); regexp.MustCompile(`"outcome":"(ignored|gone)"`).MatchString(out) {
			t.Errorf("%s was not applied:\n%s", typ, out)
		}
	}
	if n := count(t, app, migrations.SubscriptionItemsCollection, "organization.clerkId = '"+orgID+"'"); n != 1 {
		t.Fatalf("%d items of the organization, want 1", n)
	}

	if _, err := clerkCLI(t, app, config, "send", "--url", url, "subscriptionItem.active", "--org-id", "user_x"); err == nil {
		t.Fatal("a user id as --org-id was sent")
	}
}
