package hooks

import (
	"encoding/json"
	"fmt"
	"math/rand"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// TestBillingConvergesUnderSvixDelivery plays a random history of Clerk
// Billing (items created, moving through Clerk's statuses, carried by
// their own events and by their subscription's; payments attempted and
// settled; payers created late and deleted), delivers every event one to
// three times, shuffled, from 8 goroutines, retrying non-2xx answers as
// Svix does, and checks that the end state is what Clerk holds.
func TestBillingConvergesUnderSvixDelivery(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	applyListedPlans(t, app, testFreePlan, testProPlan, testTeamPlan)
	seed := time.Now().UnixNano()
	t.Logf("seed %d", seed)
	rng := rand.New(rand.NewSource(seed))

	var events []modelEvent
	emit := func(body []byte) {
		e := modelEvent{svixID: fmt.Sprintf("msg_%d", len(events)), body: body}
		for range 1 + rng.Intn(3) {
			events = append(events, e)
		}
	}
	clock := int64(1_700_000_000_000)
	tick := func() int64 { clock += 1000; return clock }
	event := func(typ string, data map[string]any) []byte {
		b, _ := json.Marshal(map[string]any{"type": typ, "object": "event", "timestamp": clock / 1000, "data": data})
		return b
	}

	// Clerk's state, as the history goes.
	type item struct {
		data  clerkfake.SubscriptionItem // the current copy
		payer string
	}
	type payment struct {
		data  clerkfake.PaymentAttempt
		payer string
	}
	deleted := map[string]bool{} // payer -> deleted
	var payers []string
	for i := range 5 {
		id := fmt.Sprintf("user_%d", i)
		payers = append(payers, id)
		emit(clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Payer", tick())))
	}
	for i := range 3 {
		id := fmt.Sprintf("org_%d", i)
		payers = append(payers, id)
		emit(event(eventOrganizationCreated, clerkfake.NewOrganization(id, tick())))
	}
	var items []*item
	var payments []*payment
	statusEvents := map[string]string{
		"active": eventItemActive, "canceled": eventItemCanceled, "ended": eventItemEnded, "past_due": eventItemPastDue,
		"upcoming": eventItemUpcoming, "incomplete": eventItemIncomplete, "abandoned": eventItemAbandoned,
	}
	statuses := []string{"active", "canceled", "ended", "past_due", "upcoming", "incomplete", "abandoned"}
	livePayer := func() string {
		p := payers[rng.Intn(len(payers))]
		if deleted[p] {
			return ""
		}
		return p
	}
	for step := 0; step < 150; step++ {
		switch r := rng.Intn(20); {
		case r < 5: // a payer subscribes
			p := livePayer()
			if p == "" {
				continue
			}
			plan := testProPlan
			if isOrganizationID(p) {
				plan = testTeamPlan
			} else if rng.Intn(2) == 0 {
				plan = testFreePlan
			}
			it := &item{data: clerkfake.NewSubscriptionItem(fmt.Sprintf("csub_item_%d", len(items)), p, plan, "active", tick()), payer: p}
			if rng.Intn(3) == 0 {
				it.data["period_end"] = nil // a default plan's item
			}
			items = append(items, it)
			emit(event([]string{eventItemCreated, eventItemActive}[rng.Intn(2)], it.data))
		case r < 12: // an item moves to another status
			if len(items) == 0 {
				continue
			}
			it := items[rng.Intn(len(items))]
			if deleted[it.payer] {
				continue
			}
			status := statuses[rng.Intn(len(statuses))]
			it.data["status"], it.data["updated_at"] = status, tick()
			typ := statusEvents[status]
			if rng.Intn(3) == 0 {
				typ = eventItemUpdated
			}
			emit(event(typ, it.data))
		case r < 14: // the subscription's event carries each of the payer's items
			p := livePayer()
			if p == "" {
				continue
			}
			var carried []any
			for _, it := range items {
				if it.payer == p {
					copied := map[string]any{}
					for k, v := range it.data {
						copied[k] = v
					}
					copied["object"], copied["payer"], copied["subscription_id"] = "commerce_subscription_item", nil, nil
					carried = append(carried, copied)
				}
			}
			payer := clerkfake.NewSubscriptionItem("x", p, testProPlan, "active", 0)["payer"]
			tick()
			emit(event([]string{eventSubscriptionUpdated, eventSubscriptionActive, eventSubscriptionPastDue}[rng.Intn(3)],
				map[string]any{"object": "commerce_subscription", "id": "csub_" + p, "status": "active", "updated_at": clock, "payer": payer, "items": carried}))
		case r < 17: // a payment is attempted, or settles
			if len(payments) == 0 || rng.Intn(2) == 0 {
				p := livePayer()
				if p == "" {
					continue
				}
				pay := &payment{data: clerkfake.NewPaymentAttempt(fmt.Sprintf("pa_%d", len(payments)), p, "pending", tick()), payer: p}
				payments = append(payments, pay)
				emit(event(eventPaymentAttemptCreated, pay.data))
				continue
			}
			pay := payments[rng.Intn(len(payments))]
			if deleted[pay.payer] {
				continue
			}
			pay.data["status"], pay.data["updated_at"] = []string{"paid", "failed"}[rng.Intn(2)], tick()
			emit(event(eventPaymentAttemptUpdated, pay.data))
		case r < 18: // a payer is deleted
			p := livePayer()
			if p == "" {
				continue
			}
			deleted[p] = true
			tick()
			if isOrganizationID(p) {
				emit(event(eventOrganizationDeleted, map[string]any{"object": "organization", "id": p, "deleted": true}))
			} else {
				emit(userDeletedEvent(p, clock))
			}
		}
	}
	rng.Shuffle(len(events), func(i, j int) { events[i], events[j] = events[j], events[i] })
	deliverLikeSvix(t, srv.URL, events)

	mustLogEachMessageOnce(t, app, events)
	linkedTo := func(payer string) string {
		if isOrganizationID(payer) {
			return orgOf(t, app, payer).Id
		}
		return clientOf(t, app, payer).Id
	}
	liveItems := 0
	for _, it := range items {
		id := it.data["id"].(string)
		got := recordOf(t, app, migrations.SubscriptionItemsCollection, id)
		if deleted[it.payer] {
			if got != nil {
				t.Errorf("%s of deleted %s: still here", id, it.payer)
			}
			continue
		}
		liveItems++
		switch {
		case got == nil:
			t.Errorf("%s: missing", id)
		case got.GetString("status") != it.data["status"]:
			t.Errorf("%s: status %q, want %q", id, got.GetString("status"), it.data["status"])
		case got.GetString(payerField(it.payer)) != linkedTo(it.payer):
			t.Errorf("%s: not linked to %s", id, it.payer)
		case got.GetString("planSlug") != it.data["plan"].(map[string]any)["slug"]:
			t.Errorf("%s: plan %q", id, got.GetString("planSlug"))
		case got.GetString("clerkSubscriptionId") != "csub_"+it.payer:
			t.Errorf("%s: subscription %q", id, got.GetString("clerkSubscriptionId"))
		case (it.data["period_end"] == nil) != got.GetDateTime("periodEnd").IsZero():
			t.Errorf("%s: periodEnd %v, want %v", id, got.GetDateTime("periodEnd"), it.data["period_end"])
		}
	}
	livePayments := 0
	for _, pay := range payments {
		id := pay.data["id"].(string)
		got := recordOf(t, app, migrations.PaymentAttemptsCollection, id)
		if deleted[pay.payer] {
			if got != nil {
				t.Errorf("%s of deleted %s: still here", id, pay.payer)
			}
			continue
		}
		livePayments++
		if got == nil || got.GetString("status") != pay.data["status"] || got.GetString(payerField(pay.payer)) != linkedTo(pay.payer) {
			t.Errorf("%s: %v, want status %q linked to %s", id, got, pay.data["status"], pay.payer)
		}
	}
	if n := count(t, app, migrations.SubscriptionItemsCollection, ""); n != liveItems {
		t.Errorf("%d items, Clerk has %d", n, liveItems)
	}
	if n := count(t, app, migrations.PaymentAttemptsCollection, ""); n != livePayments {
		t.Errorf("%d payments, Clerk has %d", n, livePayments)
	}
	// Features come from the plans' listing only: no item wiped them.
	for _, plan := range []string{"cplan_free", "cplan_pro", "cplan_team"} {
		if len(featuresOf(t, app, plan)) == 0 {
			t.Errorf("%s lost its features", plan)
		}
	}
}
