package hooks

import (
	"slices"

	"github.com/pocketbase/pocketbase/core"
)

// Every save of an auth record makes PocketBase check that its id is not
// used in another auth collection, and to do so it reads and decodes every
// auth collection from the database: about a fifth of a client save's CPU.
// For the sync's own saves of clients the same list comes from PocketBase's
// collection cache, which it reloads whenever a collection changes. Other
// saves (the dashboard, the REST API) are left as PocketBase makes them.

// syncSave marks the context of a save made by the sync.
type syncSave struct{}

// bindCachedAuthCollections makes the sync's client saves read the auth
// collections from the cache.
func bindCachedAuthCollections(app core.App) {
	useCache := func(e *core.RecordEvent) error {
		if e.Context.Value(syncSave{}) == nil {
			return e.Next()
		}
		original := e.App
		e.App = cachedCollectionsApp{original}
		defer func() { e.App = original }()
		return e.Next()
	}
	app.OnRecordCreateExecute(clientsCollection).BindFunc(useCache)
	app.OnRecordUpdateExecute(clientsCollection).BindFunc(useCache)
}

// cachedCollectionsApp answers FindAllCollections from the collection cache.
type cachedCollectionsApp struct{ core.App }

func (a cachedCollectionsApp) FindAllCollections(collectionTypes ...string) ([]*core.Collection, error) {
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
