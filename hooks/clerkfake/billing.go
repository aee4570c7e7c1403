package clerkfake

import (
	"fmt"
	"net/http"
	"strings"
	"time"
)

// Plan, SubscriptionItem and PaymentAttempt are Clerk Billing's objects as
// JSON. A Plan is as the Backend API lists it (CommercePlan, features
// included); a SubscriptionItem and a PaymentAttempt are as the standalone
// webhooks send them (subscriptionItem.* and paymentAttempt.*), and the
// stand-in serves an item as the Backend API writes it (ServedItem).
type (
	Plan             map[string]any
	SubscriptionItem map[string]any
	PaymentAttempt   map[string]any
)

// instanceID is the instance of Clerk's examples.
const instanceID = "ins_2g7np7Hrk0SN6kj5EDMLDaKNL0S"

// NewPlan is a plan as GET /v1/billing/plans lists it: its id, slug (its
// name, capitalized), payer type (user or org), monthly fee in cents and
// features by slug.
func NewPlan(id, slug, payerType string, amount int64, features ...string) Plan {
	fs := []any{}
	for _, f := range features {
		fs = append(fs, map[string]any{"object": "feature", "id": "feat_" + f, "name": f, "description": nil, "slug": f, "avatar_url": nil})
	}
	return Plan{
		"object": "commerce_plan", "id": id, "name": strings.ToUpper(slug[:1]) + slug[1:], "slug": slug,
		"fee": money(amount), "annual_monthly_fee": money(amount * 10 / 12), "annual_fee": money(amount * 10),
		"description": nil, "product_id": "cprod_" + payerType, "is_default": amount == 0, "is_recurring": amount != 0,
		"publicly_visible": true, "has_base_fee": amount != 0, "for_payer_type": payerType, "avatar_url": nil,
		"features": fs, "free_trial_enabled": false, "free_trial_days": nil,
	}
}

func money(cents int64) map[string]any {
	return map[string]any{"amount": cents, "amount_formatted": fmt.Sprintf("$%d.%02d", cents/100, cents%100), "currency": "USD", "currency_symbol": "$"}
}

// Embedded is the plan as an item's webhook embeds it: without its
// features, payer type or fee object.
func (p Plan) Embedded() map[string]any {
	return map[string]any{"id": p["id"], "slug": p["slug"], "name": p["name"], "is_recurring": p["is_recurring"],
		"amount": p["fee"].(map[string]any)["amount"], "currency": "USD"}
}

// ExampleSubscriptionItem is the item of Clerk's example
// subscriptionItem.updated event, as is.
func ExampleSubscriptionItem() SubscriptionItem { return example("subscription_item") }

// NewSubscriptionItem is Clerk's example item as the item id of payerID
// (user_... or org_...) on plan, with status, created and updated at at
// (Unix milliseconds), and a month's period from at.
func NewSubscriptionItem(id, payerID string, plan Plan, status string, at int64) SubscriptionItem {
	it := ExampleSubscriptionItem()
	it["id"], it["status"], it["created_at"], it["updated_at"] = id, status, at, at
	it["period_start"], it["period_end"] = at, at+30*24*3600*1000
	it["plan_id"], it["plan"] = plan["id"], plan.Embedded()
	it["subscription_id"] = "csub_" + payerID
	it["payer"] = payer(payerID)
	return it
}

// payer is a commerce_payer of a user or an organization, as Clerk writes
// it: a user's has "organization_id": "".
func payer(clerkID string) map[string]any {
	p := map[string]any{"object": "commerce_payer", "id": "cpayer_" + clerkID, "instance_id": instanceID,
		"image_url": "https://img.clerk.com/xxxxxx", "created_at": 1716883200000, "updated_at": 1716883200000}
	if strings.HasPrefix(clerkID, "org_") {
		p["organization_id"], p["organization_name"], p["user_id"] = clerkID, "Org "+clerkID, nil
	} else {
		p["user_id"], p["first_name"], p["last_name"], p["email"] = clerkID, "Test", "User", strings.ToLower(clerkID)+"@example.org"
		p["organization_id"], p["organization_name"] = "", ""
	}
	return p
}

// PayerID is the user or organization id of the item's payer.
func (it SubscriptionItem) PayerID() string {
	p := it["payer"].(map[string]any)
	if org, _ := p["organization_id"].(string); org != "" {
		return org
	}
	return p["user_id"].(string)
}

// ExamplePaymentAttempt is the payment attempt of Clerk's example
// paymentAttempt.created event, as is.
func ExamplePaymentAttempt() PaymentAttempt { return example("payment_attempt") }

// NewPaymentAttempt is Clerk's example payment attempt as the attempt id
// of payerID, with status, created and updated at at.
func NewPaymentAttempt(id, payerID, status string, at int64) PaymentAttempt {
	p := ExamplePaymentAttempt()
	p["id"], p["status"], p["created_at"], p["updated_at"] = id, status, at, at
	p["payer"] = payer(payerID)
	if status == "paid" {
		p["paid_at"] = at
	}
	if status == "failed" {
		p["failed_at"], p["failed_reason"] = at, "card_declined"
	}
	return p
}

// servedItem is the item as the Backend API writes it
// (CommerceSubscriptionItem): plan_period for interval, payer_id, and its
// plan whole, as the stand-in holds it.
func (f *BackendAPI) servedItem(it SubscriptionItem) map[string]any {
	out := map[string]any{"object": "commerce_subscription_item", "instance_id": instanceID,
		"canceled_at": nil, "past_due_at": nil, "ended_at": nil}
	for _, k := range []string{"id", "status", "is_free_trial", "created_at", "updated_at", "period_start", "period_end", "plan_id"} {
		out[k] = it[k]
	}
	out["plan_period"] = it["interval"]
	p := it["payer"].(map[string]any)
	out["payer_id"], out["payer"] = p["id"], p
	if plan := f.plan(fmt.Sprint(it["plan_id"])); plan != nil {
		out["plan"] = plan
	}
	return out
}

func (f *BackendAPI) plan(id string) Plan {
	for _, p := range f.Plans {
		if p["id"] == id {
			return p
		}
	}
	return nil
}

// isFree reports whether the item's plan costs nothing: the listing of
// items leaves those out unless include_free=true.
func (f *BackendAPI) isFree(it SubscriptionItem) bool {
	plan := f.plan(fmt.Sprint(it["plan_id"]))
	return plan == nil || plan["fee"].(map[string]any)["amount"] == int64(0)
}

func (f *BackendAPI) listPlans(w http.ResponseWriter, r *http.Request) {
	f.PlanListings.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	payerType := r.URL.Query().Get("payer_type")
	plans := []Plan{}
	for _, p := range f.Plans {
		if payerType == "" || p["for_payer_type"] == payerType {
			plans = append(plans, p)
		}
	}
	writeList(w, r, plans)
}

func (f *BackendAPI) listSubscriptionItems(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	includeFree := r.URL.Query().Get("include_free") == "true"
	items := []map[string]any{}
	for _, it := range f.Items {
		if includeFree || !f.isFree(it) {
			items = append(items, f.servedItem(it))
		}
	}
	writeList(w, r, items)
}

// getSubscription answers a payer's subscription: its items, or 404 for a
// payer without any.
func (f *BackendAPI) getSubscription(w http.ResponseWriter, r *http.Request) {
	f.BillingHits.Add(1)
	f.mu.Lock()
	delay := f.SubscriptionDelay
	f.mu.Unlock()
	time.Sleep(delay)
	f.mu.Lock()
	defer f.mu.Unlock()
	payerID := r.PathValue("id")
	items := []map[string]any{}
	var updated int64
	for _, it := range f.Items {
		if it.PayerID() == payerID {
			items = append(items, f.servedItem(it))
			updated = max(updated, toInt64(it["updated_at"]))
		}
	}
	if len(items) == 0 {
		writeError(w, errNotFound)
		return
	}
	writeJSON(w, map[string]any{"object": "commerce_subscription", "id": "csub_" + payerID, "instance_id": instanceID,
		"status": "active", "payer_id": "cpayer_" + payerID, "created_at": updated, "updated_at": updated,
		"active_at": updated, "past_due_at": nil, "subscription_items": items})
}

func toInt64(v any) int64 {
	switch n := v.(type) {
	case int64:
		return n
	case float64:
		return int64(n)
	case int:
		return int64(n)
	}
	return 0
}
