package hooks

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// Clerk Billing's event types: a subscription's events carry its items, an
// item's events the item alone. Clerk's SDK types list
// subscriptionItem.created, which its webhook spec does not.
const (
	eventSubscriptionCreated = "subscription.created"
	eventSubscriptionUpdated = "subscription.updated"
	eventSubscriptionActive  = "subscription.active"
	eventSubscriptionPastDue = "subscription.pastDue"

	eventItemCreated         = "subscriptionItem.created"
	eventItemUpdated         = "subscriptionItem.updated"
	eventItemActive          = "subscriptionItem.active"
	eventItemCanceled        = "subscriptionItem.canceled"
	eventItemUpcoming        = "subscriptionItem.upcoming"
	eventItemEnded           = "subscriptionItem.ended"
	eventItemAbandoned       = "subscriptionItem.abandoned"
	eventItemIncomplete      = "subscriptionItem.incomplete"
	eventItemPastDue         = "subscriptionItem.pastDue"
	eventItemFreeTrialEnding = "subscriptionItem.freeTrialEnding"

	eventPaymentAttemptCreated = "paymentAttempt.created"
	eventPaymentAttemptUpdated = "paymentAttempt.updated"
)

// Changes that no event brings: "clerk sync" makes them for the plans and
// items that Clerk no longer lists, and for the plans it lists.
const (
	changePlanListed = "billingPlan.listed"
	changePlanPruned = "billingPlan.pruned"
	changeItemPruned = "subscriptionItem.pruned"
)

// billingEvents are every Clerk Billing event the app applies.
var billingEvents = slices.Concat(subscriptionObject.events, subscriptionItemObject.events, paymentAttemptObject.events)

// The Clerk Billing objects. Plans come with the items that name them, and
// whole from "clerk sync"; a subscription is kept as its items.
var (
	billingPlanObject = clerkObject{
		owned: &clerkOwned{migrations.BillingPlansCollection, migrations.BillingPlanClerkFields, billingCreated, organizationsUpdated},
	}
	subscriptionObject = clerkObject{
		events: []string{eventSubscriptionCreated, eventSubscriptionUpdated, eventSubscriptionActive, eventSubscriptionPastDue},
		decode: decodeSubscriptionChange,
	}
	subscriptionItemObject = clerkObject{
		events: []string{eventItemCreated, eventItemUpdated, eventItemActive, eventItemCanceled, eventItemUpcoming,
			eventItemEnded, eventItemAbandoned, eventItemIncomplete, eventItemPastDue, eventItemFreeTrialEnding},
		decode: decodeSubscriptionItemChange,
		owned:  &clerkOwned{migrations.SubscriptionItemsCollection, migrations.SubscriptionItemClerkFields, billingCreated, organizationsUpdated},
	}
	paymentAttemptObject = clerkObject{
		events: []string{eventPaymentAttemptCreated, eventPaymentAttemptUpdated},
		decode: decodePaymentAttemptChange,
		owned:  &clerkOwned{migrations.PaymentAttemptsCollection, migrations.PaymentAttemptClerkFields, billingCreated, organizationsUpdated},
	}
)

const billingCreated = "Billing plans, subscription items and payment attempts are created by the sync from Clerk Billing: change them in Clerk."

// errNoPayer refuses billing data that names neither a user nor an
// organization: it could not be scoped to anyone.
var errNoPayer = errors.New("data.payer names neither a user (user_id) nor an organization (organization_id)")

// planChange is a plan as "clerk sync" lists it, whole, or its pruning.
type planChange struct {
	Type string
	Plan *billingPlan
}

// subscriptionItemChange is one change to a subscription item. PayerID
// and SubscriptionID come from the item or, within a subscription, from
// the subscription.
type subscriptionItemChange struct {
	Type           string
	Item           *subscriptionItem
	PayerID        string
	SubscriptionID string
}

// subscriptionChange is a subscription's event: a change to each item.
type subscriptionChange struct {
	Type         string
	Subscription *subscription
	PayerID      string
}

// paymentAttemptChange is one change to a payment attempt.
type paymentAttemptChange struct {
	Type    string
	Attempt *paymentAttempt
	PayerID string
}

func decodeSubscriptionChange(eventType string, _ time.Time, data json.RawMessage) (change, error) {
	s, err := decodeData(data, "subscription", func(s *subscription) string { return s.ID })
	if err != nil {
		return nil, err
	}
	payer := s.Payer.clerkID()
	if payer == "" {
		return nil, errNoPayer
	}
	for i, it := range s.items() {
		if it == nil || it.ID == "" {
			return nil, fmt.Errorf("data.items[%d].id is missing", i)
		}
	}
	return subscriptionChange{Type: eventType, Subscription: s, PayerID: payer}, nil
}

func decodeSubscriptionItemChange(eventType string, _ time.Time, data json.RawMessage) (change, error) {
	it, err := decodeData(data, "subscription item", func(it *subscriptionItem) string { return it.ID })
	if err != nil {
		return nil, err
	}
	payer := it.Payer.clerkID()
	if payer == "" {
		return nil, errNoPayer
	}
	return subscriptionItemChange{Type: eventType, Item: it, PayerID: payer, SubscriptionID: deref(it.SubscriptionID)}, nil
}

func decodePaymentAttemptChange(eventType string, _ time.Time, data json.RawMessage) (change, error) {
	p, err := decodeData(data, "payment attempt", func(p *paymentAttempt) string { return p.ID })
	if err != nil {
		return nil, err
	}
	payer := p.Payer.clerkID()
	if payer == "" {
		return nil, errNoPayer
	}
	return paymentAttemptChange{Type: eventType, Attempt: p, PayerID: payer}, nil
}

func (ch planChange) clerkID() string             { return ch.Plan.ID }
func (ch subscriptionItemChange) clerkID() string { return ch.Item.ID }
func (ch subscriptionChange) clerkID() string     { return ch.Subscription.ID }
func (ch paymentAttemptChange) clerkID() string   { return ch.Attempt.ID }

// apply writes a plan as the Backend API lists it, features included, or
// deletes a pruned one (its items keep their planSlug; their plan relation
// is cleared).
func (ch planChange) apply(txApp core.App, _ mappingConfig) (outcome, error) {
	plan, err := findPlan(txApp, ch.Plan.ID)
	if err != nil {
		return "", err
	}
	if ch.Type == changePlanPruned {
		if plan == nil {
			return outcomeGone, nil
		}
		if err := txApp.Delete(plan.Record); err != nil {
			return "", fmt.Errorf("deleting billing plan %s: %w", ch.Plan.ID, err)
		}
		return outcomeDeleted, nil
	}
	_, result, err := savePlan(txApp, plan, ch.Plan, "")
	return result, err
}

// apply is the one place that decides how a subscription's event becomes
// records: each of its items is applied as an item's own event would be.
// The outcome is the weightiest of the items'.
func (ch subscriptionChange) apply(txApp core.App, config mappingConfig) (outcome, error) {
	result := outcomeUnchanged
	weight := map[outcome]int{outcomeGone: 0, outcomeStale: 1, outcomeUnchanged: 2, outcomeUpdated: 3, outcomeCreated: 4}
	for i, it := range ch.Subscription.items() {
		o, err := subscriptionItemChange{Type: ch.Type, Item: it, PayerID: ch.PayerID, SubscriptionID: ch.Subscription.ID}.apply(txApp, config)
		if err != nil {
			return "", err
		}
		if i == 0 || weight[o] > weight[result] {
			result = o
		}
	}
	return result, nil
}

// apply is the one place that decides how a Clerk subscription item
// becomes a record. Call it with a transaction's app.
//
// As for memberships: an item of a deleted user or organization is gone,
// and otherwise the newest updated_at wins, equal timestamps applying. The
// plan it names is created from the item's copy when none is stored. The item is kept while its payer has no record
// (clerkPayerId names it); the payer's relation links it when there is one.
func (ch subscriptionItemChange) apply(txApp core.App, config mappingConfig) (outcome, error) {
	it := ch.Item
	record, gone, err := findMirror(txApp, migrations.SubscriptionItemsCollection, it.ID, ch.PayerID)
	if err != nil || gone {
		return outcomeGone, err
	}
	if ch.Type == changeItemPruned {
		if record == nil {
			return outcomeGone, nil
		}
		if err := txApp.Delete(record); err != nil {
			return "", fmt.Errorf("deleting subscription item %s: %w", it.ID, err)
		}
		return outcomeDeleted, nil
	}
	if record != nil && it.UpdatedAt < (&subscriptionItemRecord{record}).ClerkUpdatedAt().UnixMilli() {
		return outcomeStale, nil
	}
	plan, err := itemPlan(txApp, it, ch.PayerID, config)
	if err != nil {
		return "", err
	}
	if record == nil {
		col, err := txApp.FindCachedCollectionByNameOrId(migrations.SubscriptionItemsCollection)
		if err != nil {
			return "", err
		}
		record = core.NewRecord(col)
	}
	planID, planSlug := "", ""
	if plan != nil {
		planID, planSlug = plan.Id, plan.GetString(migrations.FieldSlug)
	}
	if it.Plan != nil && it.Plan.Slug != "" {
		planSlug = it.Plan.Slug
	}
	linked, err := linkPayer(txApp, record, ch.PayerID)
	if err != nil {
		return "", err
	}
	changed := setFields(record, map[string]any{
		migrations.FieldClerkID:             it.ID,
		migrations.FieldClerkPayerID:        ch.PayerID,
		migrations.FieldPlan:                planID,
		migrations.FieldPlanSlug:            planSlug,
		migrations.FieldStatus:              it.Status,
		migrations.FieldPeriodStart:         millis(it.PeriodStart),
		migrations.FieldPeriodEnd:           millis(it.PeriodEnd),
		migrations.FieldIsFreeTrial:         it.IsFreeTrial,
		migrations.FieldInterval:            it.interval(),
		migrations.FieldClerkSubscriptionID: keepUnlessEmpty(record, migrations.FieldClerkSubscriptionID, ch.SubscriptionID),
		migrations.FieldClerkCreatedAt:      millis(&it.CreatedAt),
		migrations.FieldClerkUpdatedAt:      millis(&it.UpdatedAt),
	})
	return saveBillingRecord(txApp, record, changed || linked, "subscription item", it.ID)
}

// apply is the one place that decides how a Clerk payment attempt becomes
// a record, as for subscription items.
func (ch paymentAttemptChange) apply(txApp core.App, _ mappingConfig) (outcome, error) {
	p := ch.Attempt
	record, gone, err := findMirror(txApp, migrations.PaymentAttemptsCollection, p.ID, ch.PayerID)
	if err != nil || gone {
		return outcomeGone, err
	}
	if record != nil && p.UpdatedAt < (&paymentAttemptRecord{record}).ClerkUpdatedAt().UnixMilli() {
		return outcomeStale, nil
	}
	if record == nil {
		col, err := txApp.FindCachedCollectionByNameOrId(migrations.PaymentAttemptsCollection)
		if err != nil {
			return "", err
		}
		record = core.NewRecord(col)
	}
	linked, err := linkPayer(txApp, record, ch.PayerID)
	if err != nil {
		return "", err
	}
	changed := setFields(record, map[string]any{
		migrations.FieldClerkID:        p.ID,
		migrations.FieldClerkPayerID:   ch.PayerID,
		migrations.FieldStatus:         p.Status,
		migrations.FieldChargeType:     p.ChargeType,
		migrations.FieldTotals:         jsonOrEmpty(p.Totals),
		migrations.FieldFailedReason:   p.failedReason(),
		migrations.FieldPaidAt:         millis(p.PaidAt),
		migrations.FieldClerkCreatedAt: millis(&p.CreatedAt),
		migrations.FieldClerkUpdatedAt: millis(&p.UpdatedAt),
	})
	return saveBillingRecord(txApp, record, changed || linked, "payment attempt", p.ID)
}

// linkPayer sets record's client or organization when it has none and its
// payer has a record now, and reports whether it did.
func linkPayer(txApp core.App, record *core.Record, payerClerkID string) (bool, error) {
	field := payerField(payerClerkID)
	if record.GetString(field) != "" {
		return false, nil
	}
	id, err := findPayer(txApp, payerClerkID)
	if id == "" || err != nil {
		return false, err
	}
	record.Set(field, id)
	return true, nil
}

// saveBillingRecord saves record when changed and says what it did.
func saveBillingRecord(txApp core.App, record *core.Record, changed bool, what, clerkID string) (outcome, error) {
	if !changed {
		return outcomeUnchanged, nil
	}
	result := outcomeUpdated
	if record.IsNew() {
		result = outcomeCreated
	}
	if err := txApp.Save(record); err != nil {
		return "", fmt.Errorf("saving %s %s: %w", what, clerkID, err)
	}
	return result, nil
}

// keepUnlessEmpty is value, or what record holds when value is empty: an
// item within a subscription's event names no subscription.
func keepUnlessEmpty(record *core.Record, field, value string) string {
	if value == "" {
		return record.GetString(field)
	}
	return value
}

// itemPlan finds the plan an item names, or creates it from the item's
// copy (nil: the item names none). Clerk's listing of plans is the plans'
// source: an item's copy has no date to order it by and no features, so it
// never changes a stored plan. A plan created from it grants nothing until
// the listing brings its features: config.newPlan asks for the listing
// once the transaction commits. The plan is for the item's payer type.
func itemPlan(txApp core.App, it *subscriptionItem, payerClerkID string, config mappingConfig) (*planRecord, error) {
	id := it.planID()
	if id == "" {
		return nil, nil
	}
	plan, err := findPlan(txApp, id)
	if err != nil || plan != nil {
		return plan, err
	}
	embedded := it.Plan
	if embedded == nil {
		embedded = &billingPlan{ID: id}
	}
	payerType := "user"
	if isOrganizationID(payerClerkID) {
		payerType = "org"
	}
	plan, _, err = savePlan(txApp, nil, embedded, payerType)
	if err == nil && config.newPlan != nil {
		if info := txApp.TxInfo(); info != nil {
			info.OnComplete(func(txErr error) error {
				if txErr == nil {
					config.newPlan()
				}
				return nil
			})
		}
	}
	return plan, err
}

// savePlan writes p onto plan (nil: a new record): the fields p carries,
// leaving the others as they are. payerType fills forPayerType when p does
// not say and none is stored.
func savePlan(txApp core.App, plan *planRecord, p *billingPlan, payerType string) (*planRecord, outcome, error) {
	if plan == nil {
		col, err := txApp.FindCachedCollectionByNameOrId(migrations.BillingPlansCollection)
		if err != nil {
			return nil, "", err
		}
		plan = &planRecord{core.NewRecord(col)}
		plan.Set(migrations.FieldFeatures, types.JSONRaw("[]"))
	}
	fields := map[string]any{migrations.FieldClerkID: p.ID}
	if p.Slug != "" {
		fields[migrations.FieldSlug] = p.Slug
	}
	if p.Name != "" {
		fields[migrations.FieldName] = p.Name
	}
	switch {
	case p.ForPayerType != nil:
		fields[migrations.FieldForPayerType] = *p.ForPayerType
	case plan.GetString(migrations.FieldForPayerType) == "" && payerType != "":
		fields[migrations.FieldForPayerType] = payerType
	}
	if p.IsDefault != nil {
		fields[migrations.FieldIsDefault] = *p.IsDefault
	}
	if p.IsRecurring != nil {
		fields[migrations.FieldIsRecurring] = *p.IsRecurring
	}
	if p.PubliclyVisible != nil {
		fields[migrations.FieldPubliclyVisible] = *p.PubliclyVisible
	}
	if amount, currency := p.amount(); amount != nil {
		fields[migrations.FieldAmount] = *amount
		fields[migrations.FieldCurrency] = currency
	}
	if slugs := p.featureSlugs(); slugs != nil {
		raw, _ := json.Marshal(slugs)
		fields[migrations.FieldFeatures] = types.JSONRaw(raw)
	}
	if p.CreatedAt != nil {
		fields[migrations.FieldClerkCreatedAt] = millis(p.CreatedAt)
	}
	if p.UpdatedAt != nil {
		fields[migrations.FieldClerkUpdatedAt] = millis(p.UpdatedAt)
	}
	if !setFields(plan.Record, fields) {
		return plan, outcomeUnchanged, nil
	}
	result := outcomeUpdated
	if plan.IsNew() {
		result = outcomeCreated
	}
	if err := txApp.Save(plan.Record); err != nil {
		return nil, "", fmt.Errorf("saving billing plan %s: %w", p.ID, err)
	}
	return plan, result, nil
}
