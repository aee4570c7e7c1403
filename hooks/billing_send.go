package hooks

import (
	"crypto/sha256"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/segmentio/ksuid"
)

// itemStatusOfEvent is the status of the item "clerk send" sends with each
// Clerk Billing event.
var itemStatusOfEvent = map[string]string{
	eventSubscriptionCreated: "active", eventSubscriptionUpdated: "active", eventSubscriptionActive: "active", eventSubscriptionPastDue: "past_due",
	eventItemCreated: "active", eventItemUpdated: "active", eventItemActive: "active", eventItemFreeTrialEnding: "active",
	eventItemCanceled: "canceled", eventItemEnded: "ended", eventItemPastDue: "past_due", eventItemUpcoming: "upcoming",
	eventItemIncomplete: "incomplete", eventItemAbandoned: "abandoned",
}

// checkBillingSend refuses a billing event whose payer or plan is not one.
func checkBillingSend(opts sendOptions) error {
	if opts.OrgID != "" && !strings.HasPrefix(opts.OrgID, "org_") {
		return fmt.Errorf("--org-id %q is not an organization id (org_...)", opts.OrgID)
	}
	if opts.UserID != "" && !strings.HasPrefix(opts.UserID, "user_") {
		return fmt.Errorf("--user-id %q is not a user id (user_...)", opts.UserID)
	}
	if opts.Plan == "" || strings.ContainsAny(opts.Plan, " ,:") {
		return fmt.Errorf("--plan %q is not a plan's slug (such as pro or free_user)", opts.Plan)
	}
	return nil
}

// clerkBillingEvent is a Clerk Billing event body, shaped like Clerk's
// examples (testdata/subscription.created.json,
// subscriptionItem.updated.json, paymentAttempt.created.json), dated now.
// The payer is the organization when opts names one, else the user. The
// item and the payment attempt have one id per payer and plan, so that
// every send for them names the same ones; it returns the id the event is
// about.
func clerkBillingEvent(opts sendOptions, now time.Time) (map[string]any, string) {
	payerID := opts.UserID
	if opts.OrgID != "" {
		payerID = opts.OrgID
	}
	ms := now.UnixMilli()
	payer := map[string]any{"object": "commerce_payer", "id": billingIDOf("cpayer_", payerID, ""),
		"image_url": "https://img.clerk.com/placeholder", "created_at": clerkIDTime(payerID, now).UnixMilli(), "updated_at": ms}
	if strings.HasPrefix(payerID, "org_") {
		payer["organization_id"], payer["organization_name"], payer["user_id"] = payerID, sendOrgNames[pick(payerID, len(sendOrgNames))], nil
	} else {
		who := sendPersonOf(payerID)
		payer["user_id"], payer["first_name"], payer["last_name"] = payerID, who.first, who.last
		payer["email"], payer["organization_id"], payer["organization_name"] = strings.ToLower(payerID)+"@example.com", "", ""
	}
	subscriptionID := billingIDOf("csub_", payerID, "")
	amount := int64(2000)
	if strings.Contains(opts.Plan, "free") {
		amount = 0
	}
	item := map[string]any{
		"object": "subscription_item", "id": billingIDOf("csub_item_", payerID, opts.Plan),
		"status": itemStatusOfEvent[opts.Type], "is_free_trial": opts.Type == eventItemFreeTrialEnding,
		"created_at": clerkIDTime(payerID, now).UnixMilli(), "updated_at": ms,
		"period_start": ms, "period_end": now.AddDate(0, 1, 0).UnixMilli(), "interval": "month",
		"plan_id": billingIDOf("cplan_", opts.Plan, ""),
		"plan": map[string]any{"id": billingIDOf("cplan_", opts.Plan, ""), "slug": opts.Plan, "name": opts.Plan,
			"is_recurring": amount > 0, "amount": amount, "currency": "USD"},
		"payer": payer, "subscription_id": subscriptionID,
	}
	if amount == 0 {
		item["period_end"] = nil // a default plan's item
	}
	data, subject := map[string]any(item), item["id"].(string)
	switch {
	case strings.HasPrefix(opts.Type, "subscription."):
		item["object"], item["payer"], item["subscription_id"] = "commerce_subscription_item", nil, nil
		data = map[string]any{"object": "commerce_subscription", "id": subscriptionID, "status": item["status"],
			"created_at": item["created_at"], "updated_at": ms, "payer_id": payer["id"], "payer": payer, "items": []any{item}}
		subject = subscriptionID
	case strings.HasPrefix(opts.Type, "paymentAttempt."):
		status, paidAt := "pending", any(nil)
		if opts.Type == eventPaymentAttemptUpdated {
			status, paidAt = "paid", ms
		}
		total := map[string]any{"amount": amount, "amount_formatted": fmt.Sprintf("$%d.%02d", amount/100, amount%100), "currency": "USD", "currency_symbol": "$"}
		subject = billingIDOf("pa_", payerID, opts.Plan)
		data = map[string]any{"id": subject, "status": status, "charge_type": "checkout",
			"created_at": clerkIDTime(payerID, now).UnixMilli(), "updated_at": ms, "paid_at": paidAt, "failed_at": nil, "failed_reason": nil,
			"payer": payer, "totals": map[string]any{"subtotal": total, "grand_total": total}}
	}
	return map[string]any{
		"object": "event", "type": opts.Type, "timestamp": ms, "data": data,
		"instance_id": "ins_clerksend",
		"event_attributes": map[string]any{"http_request": map[string]any{
			"client_ip": "127.0.0.1", "user_agent": "pocketclerk clerk send",
		}},
	}, subject
}

// billingIDOf is the one id with prefix that "clerk send" gives a payer's
// object (and plan, when not empty): a KSUID dated like the payer, whose
// payload comes from both, so every send for them names it.
func billingIDOf(prefix, payerID, plan string) string {
	sum := sha256.Sum256([]byte(prefix + payerID + " " + plan))
	id, err := ksuid.FromParts(clerkIDTime(payerID, time.Unix(1_700_000_000, 0)), sum[:16])
	if err != nil {
		return prefix + fmt.Sprintf("%x", sum[:13])
	}
	return prefix + id.String()
}

// billingSendHint says what to send next for the same payer and plan.
func billingSendHint(opts sendOptions) string {
	payer := "--user-id " + opts.UserID
	if opts.OrgID != "" {
		payer = "--org-id " + opts.OrgID
	}
	switch {
	case slices.Contains([]string{eventItemCanceled, eventItemEnded, eventItemAbandoned}, opts.Type):
		return fmt.Sprintf("next: clerk send subscriptionItem.active %s --plan %s (or user.deleted / organization.deleted, which remove its billing)", payer, opts.Plan)
	case strings.HasPrefix(opts.Type, "paymentAttempt."):
		return fmt.Sprintf("next: clerk send paymentAttempt.updated %s --plan %s (the attempt paid)", payer, opts.Plan)
	}
	return fmt.Sprintf("next: clerk send subscriptionItem.canceled %s --plan %s (or subscriptionItem.pastDue, subscriptionItem.ended, paymentAttempt.created)", payer, opts.Plan)
}
