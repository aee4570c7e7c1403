package hooks

import (
	"fmt"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// What a past_due subscription item grants (CLERK_BILLING_PAST_DUE).
const (
	// BillingPastDueKeep (the default) keeps its plan's features, as Clerk
	// leaves access to the app while it retries the payment.
	BillingPastDueKeep = "keep"
	// BillingPastDueRevoke takes them away until the payment succeeds.
	BillingPastDueRevoke = "revoke"
)

// applyBillingPastDue makes the entitlements view grant past_due items'
// features or not, as pastDue says, by rewriting its query when it says
// otherwise: a change of CLERK_BILLING_PAST_DUE takes effect at start-up,
// and a start-up without a change writes nothing.
func applyBillingPastDue(app core.App, pastDue string) error {
	view, err := app.FindCollectionByNameOrId(migrations.EntitlementsCollection)
	if err != nil {
		return fmt.Errorf("finding the %s view to apply CLERK_BILLING_PAST_DUE=%s: %w", migrations.EntitlementsCollection, pastDue, err)
	}
	query := migrations.EntitlementsViewQuery(pastDue != BillingPastDueRevoke)
	if view.ViewQuery == query {
		return nil
	}
	view.ViewQuery = query
	if err := app.Save(view); err != nil {
		return fmt.Errorf("rewriting the %s view for CLERK_BILLING_PAST_DUE=%s: %w", migrations.EntitlementsCollection, pastDue, err)
	}
	app.Logger().Info("The entitlements view now follows CLERK_BILLING_PAST_DUE", "value", pastDue)
	return nil
}
