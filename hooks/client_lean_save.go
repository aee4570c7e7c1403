package hooks

import (
	"context"
	"slices"
	"sync/atomic"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// Before PocketBase writes an auth record (core.onRecordSaveExecute in
// core/record_model.go, v0.40.4, which leanSaveApp answers) it reads more
// than the write needs: every auth collection, decoded from the database, to check that
// the record's id is used in no other auth collection (one more query per
// such collection), and, on an update, the stored record again, to see
// whether the password or email changed. Together that is about a third of
// a client save's CPU. For the sync's own saves of clients:
//   - the auth collections come from PocketBase's collection cache, which it
//     reloads whenever a collection changes;
//   - an update checks no other collection: it keeps the client's id, which
//     was checked when the client was created;
//   - the stored record is the one the sync read in the same transaction a
//     moment before (Record.Original).
//
// Other saves (the dashboard, the REST API) are left as PocketBase makes them.

// leanSave marks the context of one save of one record by the sync: the
// one save for which the record's Original is known to be what is stored
// (an owner's hook that saves the record again gets PocketBase's checks).
type leanSave struct {
	record *core.Record
	used   atomic.Bool
}

type leanSaveKey struct{}

// leanSaveContext is the context for the sync's save of record.
func leanSaveContext(record *core.Record) context.Context {
	return context.WithValue(context.Background(), leanSaveKey{}, &leanSave{record: record})
}

// bindLeanClientSaves makes the sync's client saves skip those reads.
func bindLeanClientSaves(app core.App) {
	lean := func(e *core.RecordEvent) error {
		mark, _ := e.Context.Value(leanSaveKey{}).(*leanSave)
		if mark == nil || mark.record != e.Record || !mark.used.CompareAndSwap(false, true) {
			return e.Next()
		}
		original := e.App
		e.App = leanSaveApp{App: original, record: e.Record}
		defer func() { e.App = original }()
		return e.Next()
	}
	app.OnRecordCreateExecute(migrations.ClientsCollection).BindFunc(lean)
	app.OnRecordUpdateExecute(migrations.ClientsCollection).BindFunc(lean)
}

// leanSaveApp is the app as seen by PocketBase's save of record.
type leanSaveApp struct {
	core.App
	record *core.Record
}

func (a leanSaveApp) FindAllCollections(collectionTypes ...string) ([]*core.Collection, error) {
	if !a.record.IsNew() && slices.Equal(collectionTypes, []string{core.CollectionTypeAuth}) {
		return []*core.Collection{a.record.Collection()}, nil
	}
	cached, _ := a.Store().Get(core.StoreKeyCachedCollections).([]*core.Collection)
	if cached == nil {
		return a.App.FindAllCollections(collectionTypes...)
	}
	out := make([]*core.Collection, 0, len(cached))
	for _, c := range cached {
		if len(collectionTypes) == 0 || slices.Contains(collectionTypes, c.Type) {
			out = append(out, c)
		}
	}
	return out, nil
}

func (a leanSaveApp) FindRecordById(collectionModelOrIdentifier any, recordId string, optFilters ...func(q *dbx.SelectQuery) error) (*core.Record, error) {
	if !a.record.IsNew() && recordId == a.record.Id && len(optFilters) == 0 && collectionModelOrIdentifier == a.record.Collection() {
		return a.record.Original(), nil
	}
	return a.App.FindRecordById(collectionModelOrIdentifier, recordId, optFilters...)
}
