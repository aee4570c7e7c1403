package hooks

import (
	"bytes"
	"encoding/json"
	"strings"

	"github.com/clerk/clerk-sdk-go/v2"
)

// Clerk Billing's objects as its webhooks and its Backend API write them.
// The two differ (a webhook's plan has amount, the Backend API's has fee
// and features; a webhook's item has interval, the Backend API's
// plan_period; a webhook's subscription has items, the Backend API's
// subscription_items), so one type reads both, and clerk-sdk-go's, which
// reads only the Backend API's, is not used.

// billingPlan is a Clerk Billing plan. Only the Backend API's plans carry
// features; a plan that an item embeds has neither features nor its payer
// type, and nil leaves what is stored as it is.
type billingPlan struct {
	clerk.APIResource
	ID           string  `json:"id"`
	Slug         string  `json:"slug"`
	Name         string  `json:"name"`
	ForPayerType *string `json:"for_payer_type"`
	IsDefault    *bool   `json:"is_default"`
	IsRecurring  *bool   `json:"is_recurring"`
	// PubliclyVisible is false for a plan hidden from the pricing table.
	PubliclyVisible *bool             `json:"publicly_visible"`
	Amount          *int64            `json:"amount"`   // webhooks
	Currency        string            `json:"currency"` // webhooks
	Fee             *billingMoney     `json:"fee"`      // the Backend API
	Features        *[]billingFeature `json:"features"` // the Backend API
	CreatedAt       *int64            `json:"created_at"`
	UpdatedAt       *int64            `json:"updated_at"`
}

type billingMoney struct {
	Amount   int64  `json:"amount"`
	Currency string `json:"currency"`
}

type billingFeature struct {
	Slug string `json:"slug"`
}

// amount is the plan's fee in the currency's smallest unit, and its currency.
func (p *billingPlan) amount() (*int64, string) {
	if p.Fee != nil {
		return &p.Fee.Amount, p.Fee.Currency
	}
	return p.Amount, p.Currency
}

// featureSlugs are the slugs of the plan's features, nil when it came
// without them.
func (p *billingPlan) featureSlugs() []string {
	if p.Features == nil {
		return nil
	}
	slugs := make([]string, 0, len(*p.Features))
	for _, f := range *p.Features {
		if f.Slug != "" {
			slugs = append(slugs, f.Slug)
		}
	}
	return slugs
}

// billingPayer is who pays: a user or an organization. Clerk sends
// "organization_id": "" for a user.
type billingPayer struct {
	ID             string  `json:"id"` // cpayer_...
	UserID         *string `json:"user_id"`
	OrganizationID *string `json:"organization_id"`
}

// clerkID is the payer's user or organization id, "" for neither.
func (p *billingPayer) clerkID() string {
	switch {
	case p == nil:
		return ""
	case p.OrganizationID != nil && *p.OrganizationID != "":
		return *p.OrganizationID
	case p.UserID != nil:
		return *p.UserID
	}
	return ""
}

// subscriptionItem is a Clerk subscription item: one plan of a payer over
// one period. Clerk calls it commerce_subscription_item, or
// subscription_item in the standalone events. Within a subscription it has
// no payer and no subscription_id: the subscription's apply.
type subscriptionItem struct {
	ID             string        `json:"id"`
	Status         string        `json:"status"`
	IsFreeTrial    bool          `json:"is_free_trial"`
	CreatedAt      int64         `json:"created_at"`
	UpdatedAt      int64         `json:"updated_at"`
	PeriodStart    *int64        `json:"period_start"`
	PeriodEnd      *int64        `json:"period_end"`  // null for a default plan's item
	Interval       string        `json:"interval"`    // webhooks
	PlanPeriod     string        `json:"plan_period"` // the Backend API
	PlanID         *string       `json:"plan_id"`
	Plan           *billingPlan  `json:"plan"`
	Payer          *billingPayer `json:"payer"`
	SubscriptionID *string       `json:"subscription_id"`
}

func (it *subscriptionItem) interval() string {
	if it.Interval != "" {
		return it.Interval
	}
	return it.PlanPeriod
}

// planID is the id of the item's plan, "" for none.
func (it *subscriptionItem) planID() string {
	switch {
	case it.Plan != nil && it.Plan.ID != "":
		return it.Plan.ID
	case it.PlanID != nil:
		return *it.PlanID
	}
	return ""
}

// subscription is a Clerk subscription: a payer's items.
type subscription struct {
	clerk.APIResource
	ID                string              `json:"id"`
	Status            string              `json:"status"`
	UpdatedAt         int64               `json:"updated_at"`
	Payer             *billingPayer       `json:"payer"`
	Items             []*subscriptionItem `json:"items"`              // webhooks
	SubscriptionItems []*subscriptionItem `json:"subscription_items"` // the Backend API
}

func (s *subscription) items() []*subscriptionItem {
	if len(s.Items) > 0 {
		return s.Items
	}
	return s.SubscriptionItems
}

// paymentAttempt is a Clerk payment attempt.
type paymentAttempt struct {
	ID           string          `json:"id"`
	Status       string          `json:"status"`
	ChargeType   string          `json:"charge_type"`
	Payer        *billingPayer   `json:"payer"`
	Totals       json.RawMessage `json:"totals"`
	FailedReason json.RawMessage `json:"failed_reason"`
	PaidAt       *int64          `json:"paid_at"`
	CreatedAt    int64           `json:"created_at"`
	UpdatedAt    int64           `json:"updated_at"`
}

// failedReason is Clerk's reason as text: a string as is, an object (a
// gateway's code and message) as its JSON.
func (p *paymentAttempt) failedReason() string {
	raw := bytes.TrimSpace(p.FailedReason)
	if len(raw) == 0 || string(raw) == "null" {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return string(raw)
	}
	return buf.String()
}

// isOrganizationID reports whether a payer's Clerk id names an organization.
func isOrganizationID(clerkID string) bool {
	return strings.HasPrefix(clerkID, "org_")
}
