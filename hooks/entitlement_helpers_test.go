package hooks

import (
	"fmt"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// billingSeq numbers the Clerk ids of the billing records the tests write.
var billingSeq atomic.Int64

// storePlan stores a plan of Clerk Billing for payerType ("user" or
// "org") with features, named after its slug, as the sync would.
func storePlan(t testing.TB, app core.App, slug, payerType string, features ...string) *core.Record {
	t.Helper()
	plans, err := app.FindCollectionByNameOrId(migrations.BillingPlansCollection)
	if err != nil {
		t.Fatal(err)
	}
	if features == nil {
		features = []string{}
	}
	p := core.NewRecord(plans)
	p.Set(migrations.FieldClerkID, fmt.Sprintf("cplan_%s_%d", slug, billingSeq.Add(1)))
	p.Set(migrations.FieldSlug, slug)
	p.Set(migrations.FieldName, strings.ToUpper(slug[:1])+strings.ReplaceAll(slug[1:], "_", " ")) // "free_user": "Free user"
	p.Set(migrations.FieldForPayerType, payerType)
	p.Set(migrations.FieldFeatures, features)
	p.Set(migrations.FieldIsRecurring, true)
	p.Set(migrations.FieldPubliclyVisible, true)
	p.Set(migrations.FieldCurrency, "USD")
	if err := app.Save(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// storeItem stores an item of payer's subscription (a client or an
// organization record) to plan, in status, whose period ends at periodEnd.
func storeItem(t testing.TB, app core.App, payer, plan *core.Record, status string, periodEnd time.Time) *core.Record {
	t.Helper()
	items, err := app.FindCollectionByNameOrId(migrations.SubscriptionItemsCollection)
	if err != nil {
		t.Fatal(err)
	}
	item := core.NewRecord(items)
	item.Set(migrations.FieldClerkID, fmt.Sprintf("csub_item_%d", billingSeq.Add(1)))
	switch payer.Collection().Name {
	case migrations.ClientsCollection:
		item.Set(migrations.FieldClient, payer.Id)
	case migrations.OrganizationsCollection:
		item.Set(migrations.FieldOrganization, payer.Id)
	default:
		t.Fatalf("a payer of collection %s", payer.Collection().Name)
	}
	item.Set(migrations.FieldClerkPayerID, payer.GetString(migrations.FieldClerkID))
	item.Set(migrations.FieldPlan, plan.Id)
	item.Set(migrations.FieldPlanSlug, plan.GetString(migrations.FieldSlug))
	item.Set(migrations.FieldStatus, status)
	item.Set(migrations.FieldPeriodStart, periodEnd.AddDate(0, -1, 0))
	item.Set(migrations.FieldPeriodEnd, periodEnd)
	item.Set(migrations.FieldInterval, "month")
	item.Set(migrations.FieldClerkSubscriptionID, fmt.Sprintf("csub_%d", billingSeq.Load()))
	if err := app.Save(item); err != nil {
		t.Fatal(err)
	}
	return item
}

// changeItem changes item's status and period's end, as a later event would.
func changeItem(t testing.TB, app core.App, item *core.Record, status string, periodEnd time.Time) {
	t.Helper()
	item.Set(migrations.FieldStatus, status)
	item.Set(migrations.FieldPeriodEnd, periodEnd)
	if err := app.Save(item); err != nil {
		t.Fatal(err)
	}
}
