package hooks

import (
	"fmt"
	"sort"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/list"

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

// deleteClient deletes a deleted user's client, or anonymizes it (see
// CLERK_USER_DELETE), and tombstones the user.
func deleteClient(txApp core.App, client *clientRecord, clerkID string, at time.Time, config mappingConfig) (outcome, error) {
	result := outcomeDeleted
	if client != nil {
		blocker := ""
		anonymize := config.UserDelete == UserDeleteAnonymize
		if !anonymize {
			var err error
			if blocker, err = blockingReference(txApp, client.Record); err != nil {
				return "", err
			}
		}
		if blocker != "" {
			txApp.Logger().Warn("A user deleted in Clerk keeps an anonymized client: a required relation without cascade delete points to it, or to a record its deletion cascades to, so PocketBase would refuse to delete it. Its Clerk data is cleared and deletedAt set; make the relation cascade, or set CLERK_USER_DELETE=anonymize to keep such records always.",
				"clerkId", clerkID, "relation", blocker)
		}
		if err := forgetUser(txApp, client, config.scrubber); err != nil {
			return "", err
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
	return result, addTombstone(txApp, clerkID, at)
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
// cascade delete that the deletion would leave empty, on the record itself
// or on any record its deletion cascades to. It walks the references as
// PocketBase's cascadeRecordDelete does, in the same order, without writing,
// because a refused cascade cannot be undone inside the event's transaction.
func blockingReference(txApp core.App, record *core.Record) (string, error) {
	w := cascadeWalk{app: txApp, deleted: map[string]bool{}, unset: map[string]int{}}
	return w.blocker(record.Collection(), record.Id)
}

type cascadeWalk struct {
	app     core.App
	deleted map[string]bool // collection id + "/" + record id, deleted so far
	unset   map[string]int  // collection id + "/" + record id + "/" + field: ids removed so far
}

func (w *cascadeWalk) blocker(col *core.Collection, id string) (string, error) {
	w.deleted[col.Id+"/"+id] = true
	refs, err := w.app.FindCachedCollectionReferences(col)
	if err != nil {
		return "", err
	}
	refCols := make([]*core.Collection, 0, len(refs))
	for c := range refs {
		refCols = append(refCols, c)
	}
	sort.Slice(refCols, func(i, j int) bool { return refCols[i].Name < refCols[j].Name })

	for _, refCol := range refCols {
		if refCol.IsView() {
			continue
		}
		for _, f := range refs[refCol] {
			rel, _ := f.(*core.RelationField)
			if rel == nil {
				continue
			}
			cond := dbx.Expression(dbx.HashExp{rel.Name: id})
			if rel.IsMultiple() {
				cond = dbx.NewExp(fmt.Sprintf("EXISTS (SELECT 1 FROM json_each(CASE WHEN json_valid([[%[1]s]]) THEN [[%[1]s]] ELSE '[]' END) WHERE value = {:id})", rel.Name), dbx.Params{"id": id})
			}
			// Only the ids and this field: a cascade may reach many records.
			var holders []struct {
				ID    string `db:"id"`
				Value string `db:"value"`
			}
			q := w.app.DB().Select("id", rel.Name+" AS value").From(refCol.Name).Where(cond)
			if err := q.All(&holders); err != nil {
				return "", err
			}
			for _, h := range holders {
				if w.deleted[refCol.Id+"/"+h.ID] {
					continue
				}
				// PocketBase removes the id from the holder, as it did the ids
				// of the records this cascade deleted before, and acts only
				// when nothing is left.
				key := refCol.Id + "/" + h.ID + "/" + rel.Name
				if len(list.ToUniqueStringSlice(h.Value))-w.unset[key] > 1 {
					w.unset[key]++
					continue
				}
				if rel.CascadeDelete {
					if b, err := w.blocker(refCol, h.ID); b != "" || err != nil {
						return b, err
					}
				} else if rel.Required {
					return refCol.Name + "." + rel.Name, nil
				}
			}
		}
	}
	return "", nil
}
