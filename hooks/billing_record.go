package hooks

import (
	"fmt"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// planRecord is one Clerk Billing plan: a typed view of its record.
type planRecord struct {
	*core.Record
}

// subscriptionItemRecord is one Clerk subscription item.
type subscriptionItemRecord struct {
	*core.Record
}

// ClerkUpdatedAt is the updated_at of the Clerk data last applied.
func (it *subscriptionItemRecord) ClerkUpdatedAt() time.Time {
	return it.GetDateTime(migrations.FieldClerkUpdatedAt).Time()
}

// paymentAttemptRecord is one Clerk payment attempt.
type paymentAttemptRecord struct {
	*core.Record
}

// ClerkUpdatedAt is the updated_at of the Clerk data last applied.
func (p *paymentAttemptRecord) ClerkUpdatedAt() time.Time {
	return p.GetDateTime(migrations.FieldClerkUpdatedAt).Time()
}

// findPlan returns the record of a Clerk plan, or nil.
func findPlan(app core.App, clerkID string) (*planRecord, error) {
	record, err := findByClerkID(app, migrations.BillingPlansCollection, clerkID)
	if record == nil {
		return nil, err
	}
	return &planRecord{record}, err
}

// payerCollections are the collections whose records a payer has.
var payerCollections = []string{migrations.SubscriptionItemsCollection, migrations.PaymentAttemptsCollection}

// payerField is the relation that names a payer: client for a user,
// organization for an organization.
func payerField(payerClerkID string) string {
	if isOrganizationID(payerClerkID) {
		return migrations.FieldOrganization
	}
	return migrations.FieldClient
}

// findPayer returns the id of the record of a payer (a client or an
// organization), "" while it has none.
func findPayer(txApp core.App, payerClerkID string) (string, error) {
	if isOrganizationID(payerClerkID) {
		org, err := findOrganization(txApp, payerClerkID)
		if org == nil || err != nil || !org.GetDateTime(migrations.FieldDeletedAt).IsZero() {
			return "", err
		}
		return org.Id, nil
	}
	client, err := findClient(txApp, payerClerkID)
	if client == nil || err != nil {
		return "", err
	}
	return client.Id, nil
}

// linkPayerRecords sets the payer's relation on its subscription items and
// payment attempts that arrived before it. Called, in the same
// transaction, when a client or an organization is created; it costs one
// indexed query per collection when there are none.
func linkPayerRecords(txApp core.App, payerClerkID, recordID string) error {
	field := payerField(payerClerkID)
	for _, collection := range payerCollections {
		records, err := txApp.FindAllRecords(collection, dbx.HashExp{migrations.FieldClerkPayerID: payerClerkID})
		if err != nil {
			return fmt.Errorf("looking up the %s of Clerk payer %s: %w", collection, payerClerkID, err)
		}
		for _, r := range records {
			if r.GetString(field) == recordID {
				continue
			}
			r.Set(field, recordID)
			if err := txApp.Save(r); err != nil {
				return fmt.Errorf("linking %s %s to its payer %s: %w", collection, r.GetString(migrations.FieldClerkID), payerClerkID, err)
			}
		}
	}
	return nil
}

// deletePayerRecords deletes a deleted user's or organization's
// subscription items and payment attempts, including those that never had
// a client or organization to cascade from, and those of a client or
// organization kept after its deletion.
func deletePayerRecords(txApp core.App, payerClerkID string) error {
	for _, collection := range payerCollections {
		records, err := txApp.FindAllRecords(collection, dbx.HashExp{migrations.FieldClerkPayerID: payerClerkID})
		if err != nil {
			return fmt.Errorf("looking up the %s of deleted Clerk payer %s: %w", collection, payerClerkID, err)
		}
		for _, r := range records {
			if err := txApp.Delete(r); err != nil {
				return fmt.Errorf("deleting %s %s of deleted Clerk payer %s: %w", collection, r.GetString(migrations.FieldClerkID), payerClerkID, err)
			}
		}
	}
	return nil
}
