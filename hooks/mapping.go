package hooks

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// change is one change to a Clerk object, decoded once whatever brought
// it (a webhook delivery, "clerk sync" or first sight) and applied the same
// way by all three. Each Clerk object has its own change type, in the file
// of its mapping.
type change interface {
	// clerkID names the object in the delivery log and in errors (a
	// session's change names its user).
	clerkID() string
	// apply makes the change to the records, in txApp's transaction.
	apply(txApp core.App, config mappingConfig) (outcome, error)
}

// afterCommitter is a change with steps to take once its delivery is
// committed, or found applied before: what a transaction cannot do.
type afterCommitter interface {
	// beforeAnswer runs before the delivery is answered, and must be
	// quick: it changes what the server accepts from then on.
	beforeAnswer(p *plugin)
	// afterCommit runs after the answer, with PocketBase's after-commit
	// work, in commit order (see fanOut): such as signing realtime
	// connections out.
	afterCommit(p *plugin, app core.App)
}

// mappingConfig is what the mappings take from the plugin's configuration;
// it travels with every apply. Its zero value deletes clients and scrubs
// no logs.
type mappingConfig struct {
	// UserDelete is CLERK_USER_DELETE: UserDeleteAnonymize keeps the
	// client of a deleted user.
	UserDelete string
	// scrubber deletes the log rows naming a deleted user's email once the
	// deletion commits; nil: none.
	scrubber *logScrubber
	// newPlan is called once a transaction that stored a plan from a
	// subscription item's copy commits: only Clerk's listing of plans has
	// its features (see planLister). Nil: nothing is asked.
	newPlan func()
}

// clerkObject is one kind of Clerk object the app keeps.
type clerkObject struct {
	// events are its webhook event types; decode reads one's data.
	events []string
	decode func(eventType string, at time.Time, data json.RawMessage) (change, error)
	// owned is the collection that mirrors it, nil for none.
	owned *clerkOwned
}

// clerkObjects are the Clerk objects the app keeps. Adding one is a file
// (its change, mapping and record type) and a line here.
var clerkObjects = []clerkObject{userObject, organizationObject, membershipObject, sessionObject,
	billingPlanObject, subscriptionObject, subscriptionItemObject, paymentAttemptObject}

// decoders are clerkObjects' decoders by event type.
var decoders = func() map[string]func(string, time.Time, json.RawMessage) (change, error) {
	m := map[string]func(string, time.Time, json.RawMessage) (change, error){}
	for _, object := range clerkObjects {
		for _, eventType := range object.events {
			m[eventType] = object.decode
		}
	}
	return m
}()

// decodeData reads an event's data as a Clerk object, what it is called in
// errors; id reads its id, which it must have.
func decodeData[T any](data json.RawMessage, what string, id func(*T) string) (*T, error) {
	var v *T
	if err := json.Unmarshal(data, &v); err != nil || v == nil {
		return nil, errors.New("data is not a Clerk " + what)
	}
	if id(v) == "" {
		return nil, errors.New("data.id is missing")
	}
	return v, nil
}

// deletedAt dates a deletion: when Clerk emitted it, or now for one that a
// sync found, which has no event time.
func deletedAt(at time.Time) time.Time {
	if at.IsZero() {
		return time.Now()
	}
	return at
}

// findMirror returns the record of collection that mirrors a Clerk object,
// and whether the object is gone for good: a tombstone names it or one of
// alsoGoneWith (a membership's organization and user), or its record is
// kept marked deleted, for a relation. Clerk never reuses ids.
func findMirror(txApp core.App, collection, clerkID string, alsoGoneWith ...string) (*core.Record, bool, error) {
	record, err := findByClerkID(txApp, collection, clerkID)
	if record != nil || err != nil {
		return record, record != nil && !record.GetDateTime(migrations.FieldDeletedAt).IsZero(), err
	}
	tombstone, err := firstTombstone(txApp, append([]string{clerkID}, alsoGoneWith...)...)
	return nil, tombstone != "", err
}

// setFields sets fields on record and reports whether any value changed.
// Every Clerk event sets all of a record's synced fields, and most change
// none of them, so the comparison is of the values PocketBase stores.
func setFields(record *core.Record, fields map[string]any) bool {
	changed := record.IsNew()
	for name, value := range fields {
		before := record.GetRaw(name)
		record.Set(name, value)
		if !changed && !sameStoredValue(before, record.GetRaw(name)) {
			changed = true
		}
	}
	return changed
}

// sameStoredValue compares two values of one field as PocketBase prepared
// them (string, bool, float64, types.JSONRaw, types.DateTime); any other
// type is compared as it prints.
func sameStoredValue(a, b any) bool {
	switch a := a.(type) {
	case string, bool, float64:
		return a == b
	case types.JSONRaw:
		b, ok := b.(types.JSONRaw)
		return ok && bytes.Equal(a, b)
	case types.DateTime:
		b, ok := b.(types.DateTime)
		return ok && a.Equal(b)
	}
	return fmt.Sprint(a) == fmt.Sprint(b)
}

// findByClerkID returns the record of collection that mirrors a Clerk
// object, or nil. It is app.FindFirstRecordByData with a context of its
// own: PocketBase gives a query without one a timeout, and for a query
// whose context can end modernc's driver starts a goroutine to interrupt
// it, a few percent of a webhook's CPU for one lookup by a unique index.
func findByClerkID(app core.App, collection, clerkID string) (*core.Record, error) {
	record := &core.Record{}
	err := app.RecordQuery(collection).
		AndWhere(dbx.HashExp{migrations.FieldClerkID: clerkID}).
		Limit(1).
		WithContext(context.Background()).
		One(record)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("looking up Clerk id %s in %s: %w", clerkID, collection, err)
	}
	return record, nil
}

// firstTombstone returns the first of ids that has a tombstone, or "": one
// query for a membership, its organization and its user.
func firstTombstone(app core.App, ids ...string) (string, error) {
	var found []string
	// A context of its own, as findByClerkID has.
	err := app.DB().Select(migrations.FieldClerkID).From(migrations.TombstonesCollection).
		Where(dbx.In(migrations.FieldClerkID, toAny(ids)...)).
		WithContext(context.Background()).Column(&found)
	if err != nil || len(found) == 0 {
		return "", err
	}
	return found[0], nil
}

func toAny(ids []string) []any {
	out := make([]any, len(ids))
	for i, id := range ids {
		out[i] = id
	}
	return out
}
