package hooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
	"golang.org/x/sync/singleflight"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// billingFirstSight stores the subscription of a payer whose session token
// names a plan (v2's "pla": u:free_user, o:pro) that its stored items do
// not grant, before the webhooks land: the first request after a checkout
// already passes the rules that read entitlements.
type billingFirstSight struct {
	p *plugin
	// fetches lets concurrent requests of one payer share one fetch.
	fetches singleflight.Group
	// missing are the payer/plan pairs that Clerk's answer lacked, or whose
	// fetch failed, so that a token naming a plan that just ended costs no
	// fetch per request.
	missing *expirable.LRU[string, struct{}]
}

func newBillingFirstSight(p *plugin) *billingFirstSight {
	return &billingFirstSight{p: p, missing: expirable.NewLRU[string, struct{}](4096, nil, unknownUserTTL)}
}

// ensure makes sure that each plan the token names is granted by a stored
// item of its payer: the user for u:, the active organization for o:. It
// costs one indexed query per plan when it is. Failures are logged: the
// request goes on, signed in, without it.
func (s *billingFirstSight) ensure(ctx context.Context, app core.App, claims *clerk.SessionClaims) {
	t, _ := claims.Custom.(*tokenClaims)
	if t == nil || t.Plan == "" || s.p.config.SecretKey == "" {
		return
	}
	orgPlans, userPlans := splitByScope(t.Plan)
	s.ensurePayer(ctx, app, claims.Subject, userPlans)
	orgID := claims.ActiveOrganizationID
	if t.Org != nil && t.Org.ID != "" {
		orgID = t.Org.ID
	}
	if orgID != "" {
		s.ensurePayer(ctx, app, orgID, orgPlans)
	}
}

func (s *billingFirstSight) ensurePayer(ctx context.Context, app core.App, payerID string, plans []string) {
	var unknown []string
	for _, plan := range plans {
		granted, err := planGranted(app, payerID, plan)
		if err != nil {
			app.Logger().Error("Could not look up a signed-in payer's subscription items", "payer", payerID, "plan", plan, "error", err.Error())
			return
		}
		if !granted && !s.missing.Contains(payerID+" "+plan) {
			unknown = append(unknown, plan)
		}
	}
	if len(unknown) == 0 {
		return
	}
	if gone, err := firstTombstone(app, payerID); gone != "" || err != nil {
		return // deleted: the token is older than the deletion
	}
	_, err, _ := s.fetches.Do(payerID, func() (any, error) {
		// A request that arrived just after an earlier fetch finished finds it stored.
		if granted, err := allGranted(app, payerID, unknown); granted || err != nil {
			return nil, err
		}
		return nil, s.fetch(context.WithoutCancel(ctx), app, payerID)
	})
	switch {
	case isBillingNotEnabled(err) || isClerkNotFound(err):
		// No subscription (or no Billing) for this payer: the token is
		// older than the change. Not asked again for a while.
		for _, plan := range unknown {
			s.missing.Add(payerID+" "+plan, struct{}{})
		}
		app.Logger().Warn("A session token names a plan, but Clerk holds no subscription for its payer: the request goes on without it", "payer", payerID, "plans", unknown)
		return
	case err != nil:
		// Not asked again for a while either: a Backend API that fails
		// (or limits the rate) must not cost a fetch per request.
		for _, plan := range unknown {
			s.missing.Add(payerID+" "+plan, struct{}{})
		}
		app.Logger().Error("Fetching a signed-in payer's subscription failed; the webhooks will still bring it", "payer", payerID, "error", explainClerkError("getting the payer's billing subscription", err).Error())
		return
	}
	for _, plan := range unknown {
		if granted, _ := planGranted(app, payerID, plan); !granted {
			s.missing.Add(payerID+" "+plan, struct{}{})
		}
	}
}

// fetch applies a payer's subscription as the Backend API answers it: the
// network call first, then one transaction.
func (s *billingFirstSight) fetch(ctx context.Context, app core.App, payerID string) error {
	ctx, cancel := context.WithTimeout(ctx, firstSightTimeout)
	defer cancel()
	cfg := s.p.clerkConfig()
	sub, err := fetchSubscription(ctx, clerk.NewBackend(&cfg.BackendConfig), payerID)
	if err != nil {
		return err
	}
	// The same apply as a webhook's: ordering and tombstones hold.
	hookErr, err := runInTransaction(app, func(txApp core.App) error {
		for _, it := range sub.items() {
			if it == nil || it.ID == "" {
				continue
			}
			ch := subscriptionItemChange{Type: eventItemUpdated, Item: it, PayerID: payerID, SubscriptionID: sub.ID}
			if _, err := ch.apply(txApp, s.p.mapping); err != nil {
				return fmt.Errorf("subscription item %s: %w", it.ID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("applying the fetched subscription: %w", err)
	}
	if hookErr != nil {
		app.Logger().Error("Clerk subscription synced on first sight, but "+hookFailureReason(hookErr), "payer", payerID)
	}
	app.Logger().Info("Clerk subscription synced on first sight", "payer", payerID, "items", len(sub.items()))
	return nil
}

// allGranted reports whether stored items of the payer grant every one of plans.
func allGranted(app core.App, payerID string, plans []string) (bool, error) {
	for _, plan := range plans {
		if granted, err := planGranted(app, payerID, plan); !granted || err != nil {
			return false, err
		}
	}
	return true, nil
}

// planGranted reports whether a stored item of the payer on the plan (by
// slug) grants it now: active, past_due, or canceled before its period's
// end, as Clerk's token would still name it.
func planGranted(app core.App, payerID, planSlug string) (bool, error) {
	now, _ := types.ParseDateTime(time.Now())
	var id string
	err := app.DB().Select("id").From(migrations.SubscriptionItemsCollection).
		Where(dbx.HashExp{migrations.FieldClerkPayerID: payerID, migrations.FieldPlanSlug: planSlug}).
		AndWhere(dbx.Or(
			dbx.In(migrations.FieldStatus, migrations.ItemActive, migrations.ItemPastDue),
			dbx.And(dbx.HashExp{migrations.FieldStatus: migrations.ItemCanceled},
				dbx.NewExp("[["+migrations.FieldPeriodEnd+"]] > {:now}", dbx.Params{"now": now.String()})),
		)).
		Limit(1).Row(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
