package migrations

import (
	"strings"

	"github.com/pocketbase/pocketbase/core"
	m "github.com/pocketbase/pocketbase/migrations"
)

func init() {
	m.Register(createBillingCollections, dropBillingCollections)
}

// Rules of the billing collections. Like the organizations' rules they name
// the clients collection, so that no record of another auth collection
// passes them.
const (
	// payerRule lets a client read what it pays for, and what its
	// organizations pay for.
	payerRule = `@request.auth.collectionName = "` + ClientsCollection + `" && (` +
		FieldClient + ` = @request.auth.id || ` +
		FieldOrganization + `.` + MembershipsCollection + `_via_` + FieldOrganization + `.` + FieldClient + ` ?= @request.auth.id)`
	// payerAdminRule lets a client read what it pays for, and what the
	// organizations it is an org:admin of pay for. The three conditions
	// name one alias, so that they hold for one membership row: the admin's
	// own, in this organization.
	payerAdminRule = `@request.auth.collectionName = "` + ClientsCollection + `" && (` +
		FieldClient + ` = @request.auth.id || (` +
		`@collection.` + MembershipsCollection + `:admin.` + FieldOrganization + ` ?= ` + FieldOrganization + ` && ` +
		`@collection.` + MembershipsCollection + `:admin.` + FieldClient + ` ?= @request.auth.id && ` +
		`@collection.` + MembershipsCollection + `:admin.` + FieldRole + ` ?= "org:admin"))`
)

func createBillingCollections(app core.App) error {
	clients, err := app.FindCollectionByNameOrId(ClientsCollection)
	if err != nil {
		return err
	}
	orgs, err := app.FindCollectionByNameOrId(OrganizationsCollection)
	if err != nil {
		return err
	}
	plans := billingPlansCollection()
	if err := app.Save(plans); err != nil {
		return err
	}
	for _, c := range []*core.Collection{
		subscriptionItemsCollection(clients, orgs, plans),
		paymentAttemptsCollection(clients, orgs),
		entitlementsCollection(true),
	} {
		if err := app.Save(c); err != nil {
			return err
		}
	}
	return nil
}

func dropBillingCollections(app core.App) error {
	return deleteCollections(app, EntitlementsCollection, PaymentAttemptsCollection, SubscriptionItemsCollection, BillingPlansCollection)
}

// billingPlansCollection is one record per Clerk Billing plan. Anyone may
// read the plans of Clerk's pricing table; a plan Clerk hides (a custom
// price for one customer) is for superusers only.
func billingPlansCollection() *core.Collection {
	c := core.NewBaseCollection(BillingPlansCollection)
	c.ListRule = ptr(FieldPubliclyVisible + " = true")
	c.ViewRule = ptr(FieldPubliclyVisible + " = true")
	c.Fields.Add(
		&core.TextField{Name: FieldClerkID, Required: true, Presentable: true, Help: clerkFieldHelp + " (cplan_...)"},
		&core.TextField{Name: FieldSlug, Help: clerkFieldHelp},
		&core.TextField{Name: FieldName, Presentable: true, Help: clerkFieldHelp},
		&core.TextField{Name: FieldForPayerType, Help: clerkFieldHelp + " (user or org)"},
		&core.JSONField{Name: FieldFeatures, Help: clerkFieldHelp + " (the slugs of the plan's features; kept by clerk sync)"},
		&core.BoolField{Name: FieldIsDefault, Help: clerkFieldHelp},
		&core.BoolField{Name: FieldIsRecurring, Help: clerkFieldHelp},
		&core.BoolField{Name: FieldPubliclyVisible, Help: clerkFieldHelp + " (shown in Clerk's pricing table: only these are public here)"},
		&core.NumberField{Name: FieldAmount, OnlyInt: true, Help: clerkFieldHelp + " (the fee, in the currency's smallest unit)"},
		&core.TextField{Name: FieldCurrency, Help: clerkFieldHelp},
		&core.DateField{Name: FieldClerkCreatedAt, Help: clerkFieldHelp},
		&core.DateField{Name: FieldClerkUpdatedAt, Help: clerkFieldHelp},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_billing_plans_clerkId", true, FieldClerkID, "")
	c.AddIndex("idx_billing_plans_slug", false, FieldSlug, "")
	return c
}

// payerFields are the fields naming who pays: a client or an organization,
// and its Clerk id, which is kept while the payer has no record yet.
func payerFields(clients, orgs *core.Collection) []core.Field {
	return []core.Field{
		&core.RelationField{Name: FieldClient, CollectionId: clients.Id, CascadeDelete: true, MaxSelect: 1, Help: clerkFieldHelp + " (the paying user's client; empty for an organization, or until the user has a client)"},
		&core.RelationField{Name: FieldOrganization, CollectionId: orgs.Id, CascadeDelete: true, MaxSelect: 1, Help: clerkFieldHelp + " (the paying organization; empty for a user, or until the organization is synced)"},
		&core.TextField{Name: FieldClerkPayerID, Required: true, Help: clerkFieldHelp + " (user_... or org_...)"},
	}
}

// subscriptionItemsCollection is one record per Clerk subscription item:
// a payer's plan over one period.
func subscriptionItemsCollection(clients, orgs, plans *core.Collection) *core.Collection {
	c := core.NewBaseCollection(SubscriptionItemsCollection)
	c.ListRule = ptr(payerRule)
	c.ViewRule = ptr(payerRule)
	c.Fields.Add(&core.TextField{Name: FieldClerkID, Required: true, Presentable: true, Help: clerkFieldHelp + " (csub_item_...)"})
	c.Fields.Add(payerFields(clients, orgs)...)
	c.Fields.Add(
		&core.RelationField{Name: FieldPlan, CollectionId: plans.Id, MaxSelect: 1, Help: clerkFieldHelp},
		&core.TextField{Name: FieldPlanSlug, Presentable: true, Help: clerkFieldHelp},
		&core.TextField{Name: FieldStatus, Presentable: true, Help: clerkFieldHelp + " (active, canceled, ended, past_due, upcoming, incomplete or abandoned)"},
		&core.DateField{Name: FieldPeriodStart, Help: clerkFieldHelp},
		&core.DateField{Name: FieldPeriodEnd, Help: clerkFieldHelp + " (empty for a default plan's item)"},
		&core.BoolField{Name: FieldIsFreeTrial, Help: clerkFieldHelp},
		&core.TextField{Name: FieldInterval, Help: clerkFieldHelp + " (month or annual)"},
		&core.TextField{Name: FieldClerkSubscriptionID, Help: clerkFieldHelp + " (csub_...)"},
		&core.DateField{Name: FieldClerkCreatedAt, Help: clerkFieldHelp},
		&core.DateField{Name: FieldClerkUpdatedAt, Help: clerkFieldHelp},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_subscription_items_clerkId", true, FieldClerkID, "")
	c.AddIndex("idx_subscription_items_payer", false, FieldClerkPayerID, "")
	c.AddIndex("idx_subscription_items_client", false, FieldClient, "")
	c.AddIndex("idx_subscription_items_organization", false, FieldOrganization, "")
	return c
}

// paymentAttemptsCollection is one record per Clerk payment attempt. An
// organization's payments are read by its admins only.
func paymentAttemptsCollection(clients, orgs *core.Collection) *core.Collection {
	c := core.NewBaseCollection(PaymentAttemptsCollection)
	c.ListRule = ptr(payerAdminRule)
	c.ViewRule = ptr(payerAdminRule)
	c.Fields.Add(&core.TextField{Name: FieldClerkID, Required: true, Presentable: true, Help: clerkFieldHelp})
	c.Fields.Add(payerFields(clients, orgs)...)
	c.Fields.Add(
		&core.TextField{Name: FieldStatus, Presentable: true, Help: clerkFieldHelp + " (pending, paid or failed)"},
		&core.TextField{Name: FieldChargeType, Help: clerkFieldHelp + " (checkout or recurring)"},
		&core.JSONField{Name: FieldTotals, Help: clerkFieldHelp + " (subtotal, tax_total, grand_total as Clerk sends them)"},
		&core.TextField{Name: FieldFailedReason, Help: clerkFieldHelp},
		&core.DateField{Name: FieldPaidAt, Help: clerkFieldHelp},
		&core.DateField{Name: FieldClerkCreatedAt, Help: clerkFieldHelp},
		&core.DateField{Name: FieldClerkUpdatedAt, Help: clerkFieldHelp},
		&core.AutodateField{Name: "created", OnCreate: true},
		&core.AutodateField{Name: "updated", OnCreate: true, OnUpdate: true},
	)
	c.AddIndex("idx_payment_attempts_clerkId", true, FieldClerkID, "")
	c.AddIndex("idx_payment_attempts_payer", false, FieldClerkPayerID, "")
	c.AddIndex("idx_payment_attempts_client", false, FieldClient, "")
	c.AddIndex("idx_payment_attempts_organization", false, FieldOrganization, "")
	return c
}

// entitlementsRule lets a client read its own entitlements and those of
// its organizations.
const entitlementsRule = payerRule

// entitlementsCollection is the entitlements view; pastDueGrants says
// whether a past_due item still grants its plan's features.
func entitlementsCollection(pastDueGrants bool) *core.Collection {
	c := core.NewViewCollection(EntitlementsCollection)
	c.ViewQuery = EntitlementsViewQuery(pastDueGrants)
	c.ListRule = ptr(entitlementsRule)
	c.ViewRule = ptr(entitlementsRule)
	return c
}

// EntitlementsViewQuery is the entitlements view's query: one row per payer
// and feature that a subscription item grants now, by Clerk's statuses:
// active grants its plan's features, canceled keeps them until the
// period's end, past_due keeps them when pastDueGrants, and ended,
// upcoming, incomplete and abandoned grant nothing. "Now" is SQLite's
// clock, so a canceled item stops granting at its period's end without a
// write. When two items of one payer grant a feature, the row is the one
// that grants it longer (an item not canceled, else the later end).
//
// The columns are read from the collections' fields so that PocketBase
// types them: client and organization stay relations (rules follow them)
// and until is a date, empty unless the item is canceled.
func EntitlementsViewQuery(pastDueGrants bool) string {
	const now = `strftime('%Y-%m-%d %H:%M:%fZ', 'now')`
	grants := func(item string) string {
		granting := []string{
			item + `.` + FieldStatus + ` = '` + ItemActive + `'`,
			`(` + item + `.` + FieldStatus + ` = '` + ItemCanceled + `' AND ` + item + `.` + FieldPeriodEnd + ` > ` + now + `)`,
		}
		if pastDueGrants {
			granting = append(granting, item+`.`+FieldStatus+` = '`+ItemPastDue+`'`)
		}
		return `(` + strings.Join(granting, ` OR `) + `)`
	}
	// rank orders the items granting one feature: not canceled first.
	rank := func(item string) string {
		return `(CASE WHEN ` + item + `.` + FieldStatus + ` = '` + ItemCanceled + `' THEN ` + item + `.` + FieldPeriodEnd + ` ELSE '9' END)`
	}
	return `SELECT (si.id || '_' || f.key) AS id, ` +
		`si.` + FieldClient + ` AS ` + FieldClient + `, ` +
		`si.` + FieldOrganization + ` AS ` + FieldOrganization + `, ` +
		`CAST(f.value AS TEXT) AS ` + FieldFeature + `, ` +
		`si.` + FieldPlanSlug + ` AS ` + FieldPlanSlug + `, ` +
		`si.` + FieldStatus + ` AS ` + FieldStatus + `, ` +
		`c.` + FieldPeriodEnd + ` AS ` + FieldUntil +
		` FROM ` + SubscriptionItemsCollection + ` si` +
		` JOIN ` + BillingPlansCollection + ` p ON p.id = si.` + FieldPlan +
		` JOIN json_each(p.` + FieldFeatures + `) f` +
		` LEFT JOIN ` + SubscriptionItemsCollection + ` c ON c.id = si.id AND c.` + FieldStatus + ` = '` + ItemCanceled + `'` +
		` WHERE (si.` + FieldClient + ` != '' OR si.` + FieldOrganization + ` != '') AND ` + grants("si") +
		` AND NOT EXISTS (SELECT 1 FROM ` + SubscriptionItemsCollection + ` o` +
		` JOIN ` + BillingPlansCollection + ` op ON op.id = o.` + FieldPlan +
		` JOIN json_each(op.` + FieldFeatures + `) opf` +
		` WHERE o.` + FieldClerkPayerID + ` = si.` + FieldClerkPayerID + ` AND opf.value = f.value AND o.id != si.id AND ` + grants("o") +
		` AND (` + rank("o") + ` > ` + rank("si") + ` OR (` + rank("o") + ` = ` + rank("si") + ` AND o.id > si.id)))`
}
