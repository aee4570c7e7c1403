package hooks

import (
	"bytes"
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

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
