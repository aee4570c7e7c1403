package hooks

import (
	"fmt"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// What becomes of a client whose user is deleted in Clerk (CLERK_USER_DELETE).
const (
	// UserDeleteDelete deletes the client, unless a required relation
	// without cascade delete points to it: then it is anonymized.
	UserDeleteDelete = "delete"
	// UserDeleteAnonymize always keeps the record, so that the app's data
	// keeps its author, without any of Clerk's data.
	UserDeleteAnonymize = "anonymize"
)

// userDeleteModeKey holds the configured mode in the app's store, where
// every caller of applyUserEvent finds it through its transaction's app.
const userDeleteModeKey = "pocketclerk.userDelete"

func userDeleteModeOf(app core.App) string {
	mode, _ := app.Store().Get(userDeleteModeKey).(string)
	return mode
}

// deleteClient deletes a deleted user's client, or anonymizes it (see
// CLERK_USER_DELETE), and tombstones the user.
func deleteClient(txApp core.App, client *clientRecord, clerkID string, at time.Time) (outcome, error) {
	result := outcomeDeleted
	if client != nil {
		blocker := ""
		anonymize := userDeleteModeOf(txApp) == UserDeleteAnonymize
		if !anonymize {
			var err error
			if blocker, err = blockingReference(txApp, client.Record); err != nil {
				return "", err
			}
		}
		if blocker != "" {
			txApp.Logger().Warn("A user deleted in Clerk keeps an anonymized client: a required relation without cascade delete points to it, so PocketBase would refuse to delete it. Its Clerk data is cleared and deletedAt set; make the relation cascade, or set CLERK_USER_DELETE=anonymize to keep such records always.",
				"clerkId", clerkID, "relation", blocker)
		}
		if anonymize || blocker != "" {
			anonymizeClient(client, at)
			if err := txApp.SaveWithContext(leanSaveContext(client.Record), client.Record); err != nil {
				return "", fmt.Errorf("anonymizing client %s: %w", clerkID, err)
			}
			result = outcomeAnonymized
		} else if err := txApp.Delete(client.Record); err != nil {
			return "", fmt.Errorf("deleting client %s: %w", clerkID, err)
		}
	}
	col, err := txApp.FindCachedCollectionByNameOrId(migrations.TombstonesCollection)
	if err != nil {
		return "", err
	}
	tomb := core.NewRecord(col)
	tomb.Set(migrations.FieldClerkID, clerkID)
	tomb.Set(migrations.FieldDeletedAt, at)
	return result, txApp.Save(tomb)
}

// anonymizeClient clears every Clerk field but clerkId, which keeps the
// user's later events answered "gone". The email is freed for a new
// sign-up, and a new token key voids any token PocketBase issued.
func anonymizeClient(client *clientRecord, at time.Time) {
	for _, name := range migrations.ClerkFields {
		switch name {
		case migrations.FieldClerkID, core.FieldNamePassword, core.FieldNameTokenKey:
		default:
			client.Set(name, nil)
		}
	}
	client.RefreshTokenKey()
	client.Set(migrations.FieldDeletedAt, at)
}

// blockingReference names the first relation (collection.field) that
// would make PocketBase refuse to delete record: a required one without
// cascade delete, holding only this record.
func blockingReference(txApp core.App, record *core.Record) (string, error) {
	refs, err := txApp.FindCachedCollectionReferences(record.Collection())
	if err != nil {
		return "", err
	}
	for col, fields := range refs {
		if col.IsView() {
			continue
		}
		for _, f := range fields {
			rel, _ := f.(*core.RelationField)
			if rel == nil || !rel.Required || rel.CascadeDelete {
				continue
			}
			cond := dbx.Expression(dbx.HashExp{rel.Name: record.Id})
			if rel.IsMultiple() {
				cond = dbx.NewExp(fmt.Sprintf("json_valid([[%[1]s]]) AND json_array_length([[%[1]s]]) = 1 AND json_extract([[%[1]s]], '$[0]') = {:id}", rel.Name), dbx.Params{"id": record.Id})
			}
			var ids []string
			if err := txApp.DB().Select("id").From(col.Name).Where(cond).Limit(1).Column(&ids); err != nil {
				return "", err
			}
			if len(ids) > 0 {
				return col.Name + "." + rel.Name, nil
			}
		}
	}
	return "", nil
}
