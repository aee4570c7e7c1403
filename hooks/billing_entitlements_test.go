package hooks

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// entitlementsOf are the rows of the entitlements view of a client, as
// "feature" or "feature until <date>", sorted.
func entitlementsOf(t testing.TB, app core.App, client *core.Record) []string {
	t.Helper()
	rows, err := app.FindAllRecords(migrations.EntitlementsCollection)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, r := range rows {
		if r.GetString("client") != client.Id {
			continue
		}
		row := r.GetString("feature")
		if until := r.GetDateTime("until"); !until.IsZero() {
			row += " until " + until.Time().UTC().Format(time.DateOnly)
		}
		out = append(out, row)
	}
	slices.Sort(out)
	return out
}

// deliverItem delivers a subscription item of a user with a client.
func deliverItem(t testing.TB, url string, item clerkfake.SubscriptionItem) {
	t.Helper()
	r := deliver(t, url, "msg_"+item["id"].(string)+fmt.Sprint(item["updated_at"]), clerkfake.Event(eventItemUpdated, item))
	if r.Status != 200 {
		t.Fatalf("%s: %d %v", item["id"], r.Status, r.Body)
	}
}

// The entitlements view grants by Clerk's statuses: active grants its
// plan's features, canceled keeps them until the period's end, past_due as
// CLERK_BILLING_PAST_DUE says, the rest nothing; one row per feature.
func TestEntitlementsFollowClerksStatuses(t *testing.T) {
	t.Parallel()
	now := time.Now().UnixMilli()
	const day = 24 * 3600 * 1000
	for _, pastDue := range []string{"", BillingPastDueKeep, BillingPastDueRevoke} {
		t.Run("past_due="+pastDue, func(t *testing.T) {
			t.Parallel()
			app := newTestApp(t)
			srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, BillingPastDue: pastDue})
			applyListedPlans(t, app, testFreePlan, testProPlan)
			pastDueGrants := []string{"basic", "export"}
			if pastDue == BillingPastDueRevoke {
				pastDueGrants = nil
			}
			future := time.UnixMilli(now + 10*day).UTC().Format(time.DateOnly)
			for _, c := range []struct {
				status    string
				periodEnd int64
				want      []string
			}{
				{"active", now + 10*day, []string{"basic", "export"}},
				{"canceled", now + 10*day, []string{"basic until " + future, "export until " + future}},
				{"canceled", now - day, nil},
				{"ended", now - day, nil},
				{"past_due", now + 10*day, pastDueGrants},
				{"upcoming", now + 40*day, nil},
				{"incomplete", now + 10*day, nil},
				{"abandoned", now + 10*day, nil},
				{"expired", now + 10*day, nil},
			} {
				user := fmt.Sprintf("user_%s_%d", c.status, c.periodEnd)
				mustDeliver(t, srv.URL, "msg_"+user, clerkfake.Event(eventUserCreated, clerkfake.NewUser(user, "Payer", 1000)), outcomeCreated)
				item := clerkfake.NewSubscriptionItem("csub_item_"+user, user, testProPlan, c.status, 1000)
				item["period_end"] = c.periodEnd
				deliverItem(t, srv.URL, item)
				if got := entitlementsOf(t, app, clientOf(t, app, user)); !slices.Equal(got, c.want) {
					t.Errorf("%s ending %s: entitlements %v, want %v", c.status, time.UnixMilli(c.periodEnd).UTC(), got, c.want)
				}
			}

			// Two items granting one feature make one row, the one that
			// grants it longer; a free plan's item has no period end.
			mustDeliver(t, srv.URL, "msg_user_two", clerkfake.Event(eventUserCreated, clerkfake.NewUser("user_two", "Two", 1000)), outcomeCreated)
			free := clerkfake.NewSubscriptionItem("csub_item_two_free", "user_two", testFreePlan, "active", 1000)
			free["period_end"] = nil
			deliverItem(t, srv.URL, free)
			pro := clerkfake.NewSubscriptionItem("csub_item_two_pro", "user_two", testProPlan, "canceled", 1000)
			pro["period_end"] = now + 10*day
			deliverItem(t, srv.URL, pro)
			if got, want := entitlementsOf(t, app, clientOf(t, app, "user_two")), []string{"basic", "export until " + future}; !slices.Equal(got, want) {
				t.Errorf("a free item and a canceled pro one: %v, want %v", got, want)
			}
		})
	}
}

// A canceled item stops granting at its period's end, with no write: the
// view reads SQLite's clock.
func TestEntitlementsOfACanceledItemEndWithItsPeriod(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	applyListedPlans(t, app, testProPlan)
	mustDeliver(t, srv.URL, "msg_user", clerkfake.Event(eventUserCreated, clerkfake.NewUser("user_1", "One", 1000)), outcomeCreated)
	end := time.Now().Add(1500 * time.Millisecond)
	item := clerkfake.NewSubscriptionItem("csub_item_1", "user_1", testProPlan, "canceled", 1000)
	item["period_end"] = end.UnixMilli()
	deliverItem(t, srv.URL, item)
	client := clientOf(t, app, "user_1")
	if got := entitlementsOf(t, app, client); len(got) != 2 {
		t.Fatalf("before the period's end: %v, want basic and export", got)
	}
	time.Sleep(time.Until(end) + 100*time.Millisecond)
	if got := entitlementsOf(t, app, client); len(got) != 0 {
		t.Fatalf("after the period's end: %v, want none", got)
	}
}

// A change of CLERK_BILLING_PAST_DUE rewrites the view at start-up, and
// only then.
func TestBillingPastDueRewritesTheViewWhenItChanges(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	applyListedPlans(t, app, testProPlan)
	mustDeliver(t, srv.URL, "msg_user", clerkfake.Event(eventUserCreated, clerkfake.NewUser("user_1", "One", 1000)), outcomeCreated)
	deliverItem(t, srv.URL, clerkfake.NewSubscriptionItem("csub_item_1", "user_1", testProPlan, "past_due", time.Now().UnixMilli()))
	client := clientOf(t, app, "user_1")
	saves := 0
	app.OnCollectionAfterUpdateSuccess(migrations.EntitlementsCollection).BindFunc(func(e *core.CollectionEvent) error {
		saves++
		return e.Next()
	})
	for _, c := range []struct {
		pastDue string
		want    int
		saves   int
	}{{BillingPastDueRevoke, 0, 1}, {BillingPastDueRevoke, 0, 1}, {BillingPastDueKeep, 2, 2}} {
		if err := applyBillingPastDue(app, c.pastDue); err != nil {
			t.Fatal(err)
		}
		if got := entitlementsOf(t, app, client); len(got) != c.want {
			t.Errorf("%s: %v, want %d rows", c.pastDue, got, c.want)
		}
		if saves != c.saves {
			t.Errorf("%s: the view was saved %d times in all, want %d", c.pastDue, saves, c.saves)
		}
	}
	if err := (Config{BillingPastDue: "grace"}).validate(); err == nil || !strings.Contains(err.Error(), "CLERK_BILLING_PAST_DUE") {
		t.Errorf("an unknown CLERK_BILLING_PAST_DUE: %v", err)
	}
}

// The rules: a client reads its own billing and its organizations'; an
// organization's payments are read by its admins only; plans by anyone.
func TestBillingRulesScopeToPayers(t *testing.T) {
	t.Parallel()
	ten := newTenancy(t)
	applyListedPlans(t, ten.app, testProPlan, testTeamPlan)
	at := time.Now().UnixMilli()
	for _, it := range []clerkfake.SubscriptionItem{
		clerkfake.NewSubscriptionItem("csub_item_alice", "user_alice", testProPlan, "active", at),
		clerkfake.NewSubscriptionItem("csub_item_carol", "user_carol", testProPlan, "active", at),
		clerkfake.NewSubscriptionItem("csub_item_a", "org_a", testTeamPlan, "active", at),
		clerkfake.NewSubscriptionItem("csub_item_b", "org_b", testTeamPlan, "active", at),
	} {
		deliverItem(t, ten.url, it)
	}
	for _, p := range []clerkfake.PaymentAttempt{
		clerkfake.NewPaymentAttempt("pa_alice", "user_alice", "paid", at),
		clerkfake.NewPaymentAttempt("pa_a", "org_a", "paid", at),
		clerkfake.NewPaymentAttempt("pa_b", "org_b", "failed", at),
	} {
		mustDeliver(t, ten.url, "msg_"+p["id"].(string), clerkfake.Event(eventPaymentAttemptCreated, p), outcomeCreated)
	}
	for name, c := range map[string]struct {
		token                     string
		items, payments, entitled []string
	}{
		"alice": {authToken(t, ten.alice), []string{"csub_item_a", "csub_item_alice", "csub_item_b"}, []string{"pa_alice", "pa_b"}, []string{"basic", "export", "export", "export", "teams", "teams"}},
		"bob":   {authToken(t, ten.bob), []string{"csub_item_a"}, []string{"pa_a"}, []string{"export", "teams"}},
		"carol": {authToken(t, ten.carol), []string{"csub_item_carol"}, nil, []string{"basic", "export"}},
		"guest": {"", nil, nil, nil},
	} {
		if got := sorted(listAs(t, ten.url, c.token, migrations.SubscriptionItemsCollection, "clerkId")); !slices.Equal(got, c.items) {
			t.Errorf("%s sees items %v, want %v", name, got, c.items)
		}
		if got := sorted(listAs(t, ten.url, c.token, migrations.PaymentAttemptsCollection, "clerkId")); !slices.Equal(got, c.payments) {
			t.Errorf("%s sees payments %v, want %v", name, got, c.payments)
		}
		if got := sorted(listAs(t, ten.url, c.token, migrations.EntitlementsCollection, "feature")); !slices.Equal(got, c.entitled) {
			t.Errorf("%s sees entitlements %v, want %v", name, got, c.entitled)
		}
		if got := sorted(listAs(t, ten.url, c.token, migrations.BillingPlansCollection, "clerkId")); !slices.Equal(got, []string{"cplan_pro", "cplan_team"}) {
			t.Errorf("%s sees plans %v, want all", name, got)
		}
	}
}
