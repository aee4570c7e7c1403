package hooks

import (
	"encoding/json"
	"net/http"
	"slices"
	"testing"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// Plans of the billing tests: a user's free and pro plans, and an
// organization's team plan.
var (
	testFreePlan = clerkfake.NewPlan("cplan_free", "free", "user", 0, "basic")
	testProPlan  = clerkfake.NewPlan("cplan_pro", "pro", "user", 2000, "basic", "export")
	testTeamPlan = clerkfake.NewPlan("cplan_team", "team", "org", 9900, "teams", "export")
)

// recordOf is the record of collection that mirrors a Clerk object, or nil.
func recordOf(t testing.TB, app core.App, collection, clerkID string) *core.Record {
	t.Helper()
	record, err := findByClerkID(app, collection, clerkID)
	if err != nil {
		t.Fatal(err)
	}
	return record
}

// applyListedPlans stores plans as "clerk sync" lists them, features included.
func applyListedPlans(t testing.TB, app core.App, plans ...clerkfake.Plan) {
	t.Helper()
	err := app.RunInTransaction(func(txApp core.App) error {
		for _, p := range plans {
			var plan billingPlan
			raw, _ := json.Marshal(p)
			if err := json.Unmarshal(raw, &plan); err != nil {
				return err
			}
			if _, err := (planChange{Type: changePlanListed, Plan: &plan}).apply(txApp, mappingConfig{}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

func featuresOf(t testing.TB, app core.App, planID string) []string {
	t.Helper()
	var features []string
	plan := recordOf(t, app, migrations.BillingPlansCollection, planID)
	if plan == nil {
		t.Fatalf("plan %s missing", planID)
	}
	if err := plan.UnmarshalJSONField(migrations.FieldFeatures, &features); err != nil {
		t.Fatal(err)
	}
	return features
}

// An item or a payment that arrives before its payer's client or
// organization is kept, named by clerkPayerId, and linked in the
// transaction that creates the payer.
func TestBillingBeforeItsPayerIsLinkedWhenThePayerAppears(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})

	mustDeliver(t, srv.URL, "msg_item_user", clerkfake.Event(eventItemActive, clerkfake.NewSubscriptionItem("csub_item_u", "user_late", testProPlan, "active", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_pay_user", clerkfake.Event(eventPaymentAttemptCreated, clerkfake.NewPaymentAttempt("pa_u", "user_late", "paid", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_item_org", clerkfake.Event(eventItemActive, clerkfake.NewSubscriptionItem("csub_item_o", "org_late", testTeamPlan, "active", 1000)), outcomeCreated)
	for _, c := range []struct{ collection, id, payer string }{
		{migrations.SubscriptionItemsCollection, "csub_item_u", "user_late"},
		{migrations.PaymentAttemptsCollection, "pa_u", "user_late"},
		{migrations.SubscriptionItemsCollection, "csub_item_o", "org_late"},
	} {
		r := recordOf(t, app, c.collection, c.id)
		if r == nil || r.GetString("client") != "" || r.GetString("organization") != "" || r.GetString("clerkPayerId") != c.payer {
			t.Fatalf("%s before its payer: %v", c.id, r)
		}
	}
	// The item's plan came with it, for the payer's type, without features.
	if plan := recordOf(t, app, migrations.BillingPlansCollection, "cplan_team"); plan == nil || plan.GetString("forPayerType") != "org" || plan.GetString("slug") != "team" {
		t.Fatalf("the item's plan: %v", plan)
	}

	mustDeliver(t, srv.URL, "msg_user", clerkfake.Event(eventUserCreated, clerkfake.NewUser("user_late", "Late", 2000)), outcomeCreated)
	client := clientOf(t, app, "user_late")
	for _, c := range []struct{ collection, id string }{{migrations.SubscriptionItemsCollection, "csub_item_u"}, {migrations.PaymentAttemptsCollection, "pa_u"}} {
		if got := recordOf(t, app, c.collection, c.id).GetString("client"); got != client.Id {
			t.Errorf("%s: client %q, want %q", c.id, got, client.Id)
		}
	}
	// An organization that first comes embedded in a membership links too.
	mustDeliver(t, srv.URL, "msg_member", clerkfake.Event(eventMembershipCreated, clerkfake.NewMembership("orgmem_late", "org_late", "user_late", "org:admin", 2000)), outcomeCreated)
	if got, org := recordOf(t, app, migrations.SubscriptionItemsCollection, "csub_item_o").GetString("organization"), orgOf(t, app, "org_late"); org == nil || got != org.Id {
		t.Errorf("the organization's item: organization %q, want the organization's record", got)
	}
}

// A deleted user's or organization's items and payments go with it, those
// never linked included, and a late event of theirs is gone.
func TestBillingOfADeletedPayerGoesWithIt(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	mustDeliver(t, srv.URL, "msg_user", clerkfake.Event(eventUserCreated, clerkfake.NewUser("user_gone", "Gone", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_org", clerkfake.Event(eventOrganizationCreated, clerkfake.NewOrganization("org_gone", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_item_user", clerkfake.Event(eventItemActive, clerkfake.NewSubscriptionItem("csub_item_u", "user_gone", testProPlan, "active", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_pay_user", clerkfake.Event(eventPaymentAttemptCreated, clerkfake.NewPaymentAttempt("pa_u", "user_gone", "paid", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_item_org", clerkfake.Event(eventItemActive, clerkfake.NewSubscriptionItem("csub_item_o", "org_gone", testTeamPlan, "active", 1000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_item_nobody", clerkfake.Event(eventItemActive, clerkfake.NewSubscriptionItem("csub_item_n", "user_never", testProPlan, "active", 1000)), outcomeCreated)

	mustDeliver(t, srv.URL, "msg_user_deleted", userDeletedEvent("user_gone", 3000), outcomeDeleted)
	mustDeliver(t, srv.URL, "msg_org_deleted", clerkfake.Event(eventOrganizationDeleted, map[string]any{"object": "organization", "id": "org_gone", "deleted": true, "updated_at": 3000}), outcomeDeleted)
	mustDeliver(t, srv.URL, "msg_never_deleted", userDeletedEvent("user_never", 3000), outcomeDeleted)
	for _, c := range []struct{ collection, id string }{
		{migrations.SubscriptionItemsCollection, "csub_item_u"}, {migrations.PaymentAttemptsCollection, "pa_u"},
		{migrations.SubscriptionItemsCollection, "csub_item_o"}, {migrations.SubscriptionItemsCollection, "csub_item_n"},
	} {
		if recordOf(t, app, c.collection, c.id) != nil {
			t.Errorf("%s outlived its payer", c.id)
		}
	}
	mustDeliver(t, srv.URL, "msg_late_item", clerkfake.Event(eventItemCanceled, clerkfake.NewSubscriptionItem("csub_item_u", "user_gone", testProPlan, "canceled", 4000)), outcomeGone)
	mustDeliver(t, srv.URL, "msg_late_org_item", clerkfake.Event(eventItemUpdated, clerkfake.NewSubscriptionItem("csub_item_o2", "org_gone", testTeamPlan, "active", 4000)), outcomeGone)
	mustDeliver(t, srv.URL, "msg_late_pay", clerkfake.Event(eventPaymentAttemptUpdated, clerkfake.NewPaymentAttempt("pa_u", "user_gone", "failed", 4000)), outcomeGone)
	if n := count(t, app, migrations.SubscriptionItemsCollection, ""); n != 0 {
		t.Errorf("%d items left", n)
	}
}

// The newest updated_at wins per item; an item never wipes its plan's
// features, which only the Backend API's plans carry.
func TestBillingNewestItemWinsAndKeepsItsPlansFeatures(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	applyListedPlans(t, app, testProPlan)

	mustDeliver(t, srv.URL, "msg_1", clerkfake.Event(eventItemCanceled, clerkfake.NewSubscriptionItem("csub_item_1", "user_1", testProPlan, "canceled", 2000)), outcomeCreated)
	mustDeliver(t, srv.URL, "msg_0", clerkfake.Event(eventItemActive, clerkfake.NewSubscriptionItem("csub_item_1", "user_1", testProPlan, "active", 1000)), outcomeStale)
	// A subscription's event names no payer per item and no subscription_id:
	// the subscription's apply, and the item stays the subscription's.
	sub := map[string]any{"object": "commerce_subscription", "id": "csub_user_1", "status": "active", "updated_at": 3000,
		"payer": map[string]any{"id": "cpayer_1", "user_id": "user_1", "organization_id": ""}}
	item := clerkfake.NewSubscriptionItem("csub_item_1", "user_1", testProPlan, "active", 3000)
	item["object"], item["subscription_id"], item["payer"] = "commerce_subscription_item", nil, nil
	sub["items"] = []any{item}
	mustDeliver(t, srv.URL, "msg_sub", clerkfake.Event(eventSubscriptionUpdated, sub), outcomeUpdated)

	got := recordOf(t, app, migrations.SubscriptionItemsCollection, "csub_item_1")
	if got.GetString("status") != "active" || got.GetString("clerkSubscriptionId") != "csub_user_1" || got.GetString("planSlug") != "pro" {
		t.Fatalf("item after its subscription's event: %v", got)
	}
	if features := featuresOf(t, app, "cplan_pro"); !slices.Equal(features, []string{"basic", "export"}) {
		t.Fatalf("the plan's features after items named it: %v", features)
	}
	if plan := recordOf(t, app, migrations.BillingPlansCollection, "cplan_pro"); got.GetString("plan") != plan.Id || plan.GetInt("amount") != 2000 {
		t.Fatalf("the item's plan: %v", plan)
	}
}

// Billing data naming no payer is refused, 400, and changes nothing.
func TestBillingEventWithoutPayerIsRefused(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	item := clerkfake.NewSubscriptionItem("csub_item_x", "user_x", testProPlan, "active", 1000)
	item["payer"] = map[string]any{"id": "cpayer_x", "user_id": nil, "organization_id": ""}
	pay := clerkfake.NewPaymentAttempt("pa_x", "user_x", "paid", 1000)
	delete(pay, "payer")
	for i, body := range [][]byte{clerkfake.Event(eventItemActive, item), clerkfake.Event(eventPaymentAttemptCreated, pay),
		clerkfake.Event(eventSubscriptionCreated, map[string]any{"id": "csub_x", "items": []any{}})} {
		r := deliver(t, srv.URL, "msg_no_payer_"+string(rune('a'+i)), body)
		if r.Status != http.StatusBadRequest {
			t.Errorf("delivery %d: %d %v, want 400", i, r.Status, r.Body)
		}
		mustContain(t, r.Body, "payer")
	}
	for _, collection := range []string{migrations.SubscriptionItemsCollection, migrations.PaymentAttemptsCollection, migrations.BillingPlansCollection, migrations.EventsCollection} {
		if n := count(t, app, collection, ""); n != 0 {
			t.Errorf("%d records in %s", n, collection)
		}
	}
}

// Clerk's Billing fields are the sync's: a superuser's request that changes
// one is refused, as for organizations.
func TestBillingFieldsAreLockedToTheSync(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	mustDeliver(t, srv.URL, "msg_item", clerkfake.Event(eventItemActive, clerkfake.NewSubscriptionItem("csub_item_1", "user_1", testProPlan, "active", 1000)), outcomeCreated)
	item := recordOf(t, app, migrations.SubscriptionItemsCollection, "csub_item_1")
	token := newSuperuserToken(t, app)
	for _, c := range []struct{ path, body string }{
		{"/api/collections/subscription_items/records/" + item.Id, `{"status":"active","planSlug":"enterprise"}`},
		{"/api/collections/billing_plans/records/" + item.GetString("plan"), `{"features":["everything"]}`},
	} {
		if r := send(t, http.MethodPatch, srv.URL+c.path, token, c.body); r.Status != http.StatusBadRequest {
			t.Errorf("PATCH %s %s: %d %v, want 400", c.path, c.body, r.Status, r.Body)
		}
	}
	if r := send(t, http.MethodPost, srv.URL+"/api/collections/payment_attempts/records", token, `{"clerkId":"pa_mine","clerkPayerId":"user_1"}`); r.Status != http.StatusBadRequest {
		t.Errorf("creating a payment attempt: %d %v, want 400", r.Status, r.Body)
	}
	if got := recordOf(t, app, migrations.SubscriptionItemsCollection, "csub_item_1").GetString("planSlug"); got != "pro" {
		t.Fatalf("planSlug changed to %q", got)
	}
}
