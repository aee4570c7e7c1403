package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/billing"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// billingSync is Clerk Billing's part of a sync: it lists every plan and
// every subscription item of the instance (free ones included), applies
// them through the webhook's mappings, and remembers what it saw for
// pruning. No event announces a change of plans or features: the sync is
// how they arrive. Payment attempts have no instance-wide listing and come
// by webhook only.
type billingSync struct {
	*syncer
	backend   clerk.Backend
	progress  io.Writer
	seenPlans map[string]struct{}
	seenItems map[string]struct{}
	// plansListedAgain is set once an item named a plan the listing had not
	// shown, and the plans were listed once more for it.
	plansListedAgain bool
}

func newBillingSync(s *syncer, cfg *clerk.ClientConfig, progress io.Writer) *billingSync {
	return &billingSync{
		syncer:    s,
		backend:   clerk.NewBackend(&cfg.BackendConfig),
		progress:  progress,
		seenPlans: map[string]struct{}{},
		seenItems: map[string]struct{}{},
	}
}

// billingNotEnabled is what a sync reports of an instance without Clerk
// Billing.
const billingNotEnabled = "not enabled in this Clerk instance: skipped"

// errBillingNotEnabled is Clerk's answer to the billing endpoints of an
// instance without Billing.
var errBillingNotEnabled = errors.New("billing is not enabled in this Clerk instance")

// isBillingNotEnabled reports whether Clerk refused a billing request
// because the instance has no Billing. Clerk does not document that
// answer: any 403 or 404 whose error code names billing or commerce (as
// organization_not_enabled_in_instance names organizations) is taken as it.
func isBillingNotEnabled(err error) bool {
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || isNotClerk(apiErr) ||
		apiErr.HTTPStatusCode != http.StatusForbidden && apiErr.HTTPStatusCode != http.StatusNotFound {
		return false
	}
	for _, e := range apiErr.Errors {
		if strings.Contains(e.Code, "billing") || strings.Contains(e.Code, "commerce") {
			return true
		}
	}
	return false
}

func (s *syncer) plans() syncTarget {
	return syncTarget{migrations.BillingPlansCollection, "billing plan", &s.counts.Plans}
}

func (s *syncer) items() syncTarget {
	return syncTarget{migrations.SubscriptionItemsCollection, "subscription item", &s.counts.Items}
}

// list applies every plan, then every subscription item. Users and
// organizations come first, so that items find their payers. An instance
// without Billing refuses the listings: the sync goes on without them and
// says so.
func (b *billingSync) list(ctx context.Context) error {
	if err := b.listPlans(ctx); err != nil {
		return b.refused(err)
	}
	bar := newProgressBar(b.progress)
	bar.noun = "subscription items"
	counts := &b.counts.Items
	for page := range listPages(ctx, "listing Clerk subscription items", b.fetchItems) {
		if page.err != nil {
			return b.refused(page.err)
		}
		counts.Listed += len(page.items)
		changes := make([]change, 0, len(page.items))
		for _, it := range page.items {
			payer := it.Payer.clerkID()
			if payer == "" {
				b.fail(b.items(), it.ID, errNoPayer)
				continue
			}
			b.seenItems[it.ID] = struct{}{}
			changes = append(changes, subscriptionItemChange{Type: eventItemUpdated, Item: it, PayerID: payer})
		}
		if err := b.listPlansForNew(ctx, page.items); err != nil {
			return b.refused(err)
		}
		b.applyChanges(changes, b.items(), time.Time{})
		bar.update(counts.Listed, page.total)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	bar.finish(counts.Listed)
	return nil
}

// listPlans lists and applies every plan, features included.
func (b *billingSync) listPlans(ctx context.Context) error {
	bar := newProgressBar(b.progress)
	bar.noun = "billing plans"
	counts := &b.counts.Plans
	for page := range listPages(ctx, "listing Clerk Billing plans", b.fetchPlans) {
		if page.err != nil {
			return page.err
		}
		changes := make([]change, 0, len(page.items))
		for _, p := range page.items {
			// Listed again for a new plan: the others were applied.
			if _, seen := b.seenPlans[p.ID]; seen {
				continue
			}
			b.seenPlans[p.ID] = struct{}{}
			changes = append(changes, planChange{Type: changePlanListed, Plan: p})
		}
		counts.Listed += len(changes)
		b.applyChanges(changes, b.plans(), time.Time{})
		bar.update(counts.Listed, page.total)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	bar.finish(counts.Listed)
	return nil
}

// listPlansForNew lists the plans once more, once per sync, when an item
// names a plan that the listing did not show: one created during the run,
// whose features only the plans' listing carries.
func (b *billingSync) listPlansForNew(ctx context.Context, items []*subscriptionItem) error {
	if b.plansListedAgain {
		return nil
	}
	for _, it := range items {
		id := it.planID()
		if _, seen := b.seenPlans[id]; id == "" || seen {
			continue
		}
		b.plansListedAgain = true
		return b.listPlans(ctx)
	}
	return nil
}

// refused is nil, with Billing marked skipped, when err says that the
// instance has no Billing; else err.
func (b *billingSync) refused(err error) error {
	if !errors.Is(err, errBillingNotEnabled) {
		return err
	}
	b.counts.BillingSkipped = billingNotEnabled
	b.counts.Plans, b.counts.Items = objectCounts{}, objectCounts{}
	b.app.Logger().Info("Clerk sync: Billing is " + billingNotEnabled + ": " + err.Error() + "; enable Billing in Clerk's dashboard → Billing to keep plans and subscriptions here")
	return nil
}

// keepUnlisted says, in place of a prune, that the stored plans and items
// are kept: a refused listing proves nothing about them.
func (b *billingSync) keepUnlisted() error {
	plans, err := b.app.CountRecords(migrations.BillingPlansCollection)
	if err != nil {
		return err
	}
	items, err := b.app.CountRecords(migrations.SubscriptionItemsCollection)
	if err != nil {
		return err
	}
	if plans+items == 0 {
		return nil
	}
	msg := fmt.Sprintf("billing not pruned: Clerk refused to list it (Billing is not enabled in this instance; turned off since the last sync?), so the %d plans and %d subscription items stored are kept; delete them in the dashboard if they are gone for good", plans, items)
	if b.counts.NotPruned != "" {
		b.counts.NotPruned += "; "
	}
	b.counts.NotPruned += msg
	b.app.Logger().Warn("Clerk sync: " + msg)
	return nil
}

// fetchPlans pages GET /v1/billing/plans. clerk-sdk-go's billing client
// reads Clerk's plans into its own types; the sync reads them, through
// the SDK's backend, into the type its mappings read.
func (b *billingSync) fetchPlans(ctx context.Context, offset int64) ([]*billingPlan, int64, error) {
	return fetchPlans(ctx, b.backend, offset)
}

// fetchPlans gets one page of GET /v1/billing/plans.
func fetchPlans(ctx context.Context, backend clerk.Backend, offset int64) ([]*billingPlan, int64, error) {
	req := clerk.NewAPIRequest(http.MethodGet, "/billing/plans")
	req.SetParams(paginated{&billing.ListPlansParams{ListParams: clerk.ListParams{Limit: clerk.Int64(syncPageSize), Offset: clerk.Int64(offset)}}})
	list := &struct {
		clerk.APIResource
		Data       []*billingPlan `json:"data"`
		TotalCount int64          `json:"total_count"`
	}{}
	if err := backend.Call(ctx, req, list); err != nil {
		return nil, 0, billingError(err)
	}
	return list.Data, list.TotalCount, nil
}

// fetchItems pages GET /v1/billing/subscription_items, free plans' items
// included (Clerk leaves them out by default).
func (b *billingSync) fetchItems(ctx context.Context, offset int64) ([]*subscriptionItem, int64, error) {
	req := clerk.NewAPIRequest(http.MethodGet, "/billing/subscription_items")
	req.SetParams(paginated{&billing.ListSubscriptionItemsParams{
		ListParams:  clerk.ListParams{Limit: clerk.Int64(syncPageSize), Offset: clerk.Int64(offset)},
		IncludeFree: clerk.Bool(true),
	}})
	list := &struct {
		clerk.APIResource
		Data       []*subscriptionItem `json:"data"`
		TotalCount int64               `json:"total_count"`
	}{}
	if err := b.backend.Call(ctx, req, list); err != nil {
		return nil, 0, billingError(err)
	}
	for i, it := range list.Data {
		if it == nil || it.ID == "" {
			return nil, 0, fmt.Errorf("item %d of the page has no id", i)
		}
	}
	return list.Data, list.TotalCount, nil
}

// paginated asks a billing listing for pages ("paginated=true", which
// clerk-sdk-go's parameters lack): Clerk's spec leaves a listing without it
// unpaginated, where limit and offset would not hold.
type paginated struct{ clerk.Params }

func (p paginated) ToQuery() url.Values {
	q := p.Params.ToQuery()
	q.Set("paginated", "true")
	return q
}

// billingError is errBillingNotEnabled, with Clerk's reason, when Clerk
// refuses to list billing objects, else err. Clerk documents no answer for
// an instance without Billing, so any refusal of a listing by Clerk itself
// (402, 403 or 404 other than for the key, which listed the users) counts:
// the rest of the sync goes on.
func billingError(err error) error {
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) || isNotClerk(apiErr) || isKeyRefused(apiErr) {
		return err
	}
	switch apiErr.HTTPStatusCode {
	case http.StatusPaymentRequired, http.StatusForbidden, http.StatusNotFound:
		var reasons []string
		for _, e := range apiErr.Errors {
			reasons = append(reasons, e.Code+": "+e.Message)
		}
		return fmt.Errorf("%w (Clerk answered %d, %s)", errBillingNotEnabled, apiErr.HTTPStatusCode, strings.Join(reasons, "; "))
	}
	return err
}

// prune deletes the plans and subscription items that Clerk no longer
// lists, under the guards of the other prunes: absent from the listing,
// saved before cutoff, confirmed gone by a request made after the listing
// (the plans listed again; the payer's subscription, which must not hold
// the item), and no more than the share guard allows. They are not
// tombstoned: Clerk deletes neither, so an item that comes back is kept.
func (b *billingSync) prune(ctx context.Context, cutoff time.Time) error {
	if err := b.prunePlans(ctx, cutoff); err != nil {
		return err
	}
	return b.pruneItems(ctx, cutoff)
}

func (b *billingSync) prunePlans(ctx context.Context, cutoff time.Time) error {
	// A plan that a stored item names is kept, listed or not (a hidden or
	// archived plan still has subscribers): its features are theirs.
	inUse := func(plan *core.Record) bool {
		n, err := b.app.CountRecords(migrations.SubscriptionItemsCollection, dbx.HashExp{migrations.FieldPlan: plan.Id})
		return err != nil || n > 0
	}
	unseen, err := b.unseen(migrations.BillingPlansCollection, b.seenPlans, cutoff, inUse)
	if err != nil || len(unseen) == 0 {
		return err
	}
	listed := map[string]bool{}
	for page := range listPages(ctx, "listing Clerk Billing plans before pruning", b.fetchPlans) {
		if page.err != nil {
			return page.err
		}
		for _, p := range page.items {
			listed[p.ID] = true
		}
	}
	var gone []change
	for _, r := range unseen {
		if id := r.GetString(migrations.FieldClerkID); !listed[id] {
			gone = append(gone, planChange{Type: changePlanPruned, Plan: &billingPlan{ID: id}})
		}
	}
	b.applyChanges(gone, b.plans(), cutoff)
	return nil
}

func (b *billingSync) pruneItems(ctx context.Context, cutoff time.Time) error {
	unseen, err := b.unseen(migrations.SubscriptionItemsCollection, b.seenItems, cutoff, nil)
	if err != nil {
		return err
	}
	byPayer := map[string][]*core.Record{}
	for _, r := range unseen {
		payer := r.GetString(migrations.FieldClerkPayerID)
		byPayer[payer] = append(byPayer[payer], r)
	}
	var gone []change
	for payer, records := range byPayer {
		sub, err := fetchSubscription(ctx, b.backend, payer)
		if isOrganizationsNotEnabled(err) || isBillingNotEnabled(err) {
			// Clerk cannot say: the items are kept.
			b.app.Logger().Warn("Clerk sync: subscription items not pruned: Clerk refused to show their payer's subscription", "payer", payer, "items", len(records), "error", err.Error())
			continue
		}
		if err != nil && !isClerkNotFound(err) {
			return explainClerkError("checking the subscription of "+payer+" before pruning its subscription items", err)
		}
		held := map[string]bool{}
		if sub != nil {
			var listed []change
			for _, it := range sub.items() {
				held[it.ID] = true
				listed = append(listed, subscriptionItemChange{Type: eventItemUpdated, Item: it, PayerID: payer, SubscriptionID: sub.ID})
			}
			// Items that the listing missed are applied like any other.
			b.counts.Items.Listed += len(listed)
			b.applyChanges(listed, b.items(), time.Time{})
		}
		for _, r := range records {
			if id := r.GetString(migrations.FieldClerkID); !held[id] {
				gone = append(gone, subscriptionItemChange{Type: changeItemPruned, Item: &subscriptionItem{ID: id}, PayerID: payer})
			}
		}
	}
	b.applyChanges(gone, b.items(), cutoff)
	return nil
}

// fetchSubscription gets a payer's subscription: GET
// /v1/users/{id}/billing/subscription or
// /v1/organizations/{id}/billing/subscription, which clerk-sdk-go has no
// client for.
func fetchSubscription(ctx context.Context, backend clerk.Backend, payerClerkID string) (*subscription, error) {
	collection := "/users/"
	if isOrganizationID(payerClerkID) {
		collection = "/organizations/"
	}
	path, err := clerk.JoinPath(collection, payerClerkID, "/billing/subscription")
	if err != nil {
		return nil, err
	}
	sub := &subscription{}
	if err := backend.Call(ctx, clerk.NewAPIRequest(http.MethodGet, path), sub); err != nil {
		return nil, err
	}
	return sub, nil
}
