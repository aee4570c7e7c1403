package hooks

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// billingSeq numbers the Clerk ids of the billing records the tests write.
var billingSeq atomic.Int64

// billingPlan stores a plan of Clerk Billing for payerType ("user" or
// "org") with features, as the sync would.
func billingPlan(t testing.TB, app core.App, slug, payerType string, features ...string) *core.Record {
	t.Helper()
	plans, err := app.FindCollectionByNameOrId("billing_plans")
	if err != nil {
		t.Fatal(err)
	}
	if features == nil {
		features = []string{}
	}
	p := core.NewRecord(plans)
	p.Set("clerkId", fmt.Sprintf("cplan_%s_%d", slug, billingSeq.Add(1)))
	p.Set("slug", slug)
	p.Set("name", slug)
	p.Set("forPayerType", payerType)
	p.Set("features", features)
	p.Set("isRecurring", true)
	p.Set("currency", "USD")
	if err := app.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// subscriptionItem stores an item of payer's subscription (a client or an
// organization record) to plan, in status, whose period ends at periodEnd.
func subscriptionItem(t testing.TB, app core.App, payer, plan *core.Record, status string, periodEnd time.Time) *core.Record {
	t.Helper()
	items, err := app.FindCollectionByNameOrId("subscription_items")
	if err != nil {
		t.Fatal(err)
	}
	item := core.NewRecord(items)
	item.Set("clerkId", fmt.Sprintf("csub_item_%d", billingSeq.Add(1)))
	switch payer.Collection().Name {
	case migrations.ClientsCollection:
		item.Set("client", payer.Id)
	case migrations.OrganizationsCollection:
		item.Set("organization", payer.Id)
	default:
		t.Fatalf("a payer of collection %s", payer.Collection().Name)
	}
	item.Set("clerkPayerId", payer.GetString(migrations.FieldClerkID))
	item.Set("plan", plan.Id)
	item.Set("planSlug", plan.GetString("slug"))
	item.Set("status", status)
	item.Set("periodStart", periodEnd.AddDate(0, -1, 0))
	item.Set("periodEnd", periodEnd)
	item.Set("interval", "month")
	item.Set("clerkSubscriptionId", fmt.Sprintf("csub_%d", billingSeq.Load()))
	if err := app.Save(item); err != nil {
		t.Fatal(err)
	}
	return item
}

// setItem changes item's status and period's end, as a later event would.
func setItem(t testing.TB, app core.App, item *core.Record, status string, periodEnd time.Time) {
	t.Helper()
	item.Set("status", status)
	item.Set("periodEnd", periodEnd)
	if err := app.Save(item); err != nil {
		t.Fatal(err)
	}
}

// dateTime is t as PocketBase stores dates.
func dateTime(t time.Time) types.DateTime {
	d, _ := types.ParseDateTime(t)
	return d
}
