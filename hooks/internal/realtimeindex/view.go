package realtimeindex

import (
	"sync"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
	"github.com/spf13/cast"
)

// brokerView is the app as PocketBase's realtime handlers see it during one
// record change: its broker holds the connections left in PocketBase's
// broker and those of the index that can hear of the record. PocketBase's
// handlers read the broker from the event's app (apis/realtime.go:
// realtimeBroadcastRecord, realtimeUpdateClientsAuth, the delete's dry
// cache); the view is set on the event just before them and taken off just
// after. PocketBase's record hooks (OnRecordAfter*Success) run nested in a
// model handler of the same priority, and see it too: it holds every
// connection of PocketBase's broker, and a connection with an owner's own
// topic is never indexed, so an owner's broadcast on that topic reaches the
// connections it would reach without the index.
type brokerView struct {
	core.App
	index      *Index
	collection *core.Collection
	id         string

	mu     sync.Mutex
	broker *subscriptions.Broker // built at the first call, see SubscriptionsBroker
	closed bool
}

// SubscriptionsBroker is built when PocketBase's realtime handlers first
// ask for it, and opens the index's bracket for the change: no connection is
// indexed or given back until the view is taken off, so that each
// connection is in the view or in PocketBase's broker as they walk it,
// never in neither. Built at the first call rather than as the view is set,
// the bracket leaves out the owners' record hooks that PocketBase runs
// before its realtime handlers, at the same priority.
func (v *brokerView) SubscriptionsBroker() *subscriptions.Broker {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return v.App.SubscriptionsBroker()
	}
	if v.broker == nil {
		v.index.enter()
		v.broker = v.index.brokerFor(v.collection, v.id)
	}
	return v.broker
}

// close takes the view's bracket off; the view then answers PocketBase's
// own broker.
func (v *brokerView) close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.broker != nil && !v.closed {
		v.index.leave()
	}
	v.closed = true
}

// brokerFor is PocketBase's broker when no indexed connection can hear of
// the record, and otherwise a broker of its connections and those.
func (s *Index) brokerFor(collection *core.Collection, id string) *subscriptions.Broker {
	listeners := s.listenersOf(collection, id)
	if len(listeners) == 0 {
		return s.app.SubscriptionsBroker()
	}
	broker := subscriptions.NewBroker()
	for _, c := range s.app.SubscriptionsBroker().Clients() {
		broker.Register(c)
	}
	for _, c := range listeners {
		broker.Register(c)
	}
	return broker
}

// bindBrokerViews sets the view around each of PocketBase's realtime model
// handlers.
func (s *Index) bindBrokerViews(app core.App) {
	type binder interface {
		Bind(*hook.Handler[*core.ModelEvent]) string
	}
	around := func(h binder, set, take int) {
		h.Bind(&hook.Handler[*core.ModelEvent]{Priority: set, Func: s.setView})
		h.Bind(&hook.Handler[*core.ModelEvent]{Priority: take, Func: s.takeView})
	}
	around(app.OnModelAfterCreateSuccess(), SetViewPriority, TakeViewPriority)
	around(app.OnModelAfterUpdateSuccess(), SetViewPriority, TakeViewPriority)
	around(app.OnModelAfterDeleteSuccess(), SetViewPriority, TakeViewPriority)
	around(app.OnModelDelete(), SetDryCacheViewPriority, TakeDryCacheViewPriority)
	app.OnModelAfterDeleteError().Bind(&hook.Handler[*core.ModelErrorEvent]{
		Priority: SetViewPriority,
		Func:     func(e *core.ModelErrorEvent) error { return s.setView(&e.ModelEvent) },
	})
	app.OnModelAfterDeleteError().Bind(&hook.Handler[*core.ModelErrorEvent]{
		Priority: TakeViewPriority,
		Func:     func(e *core.ModelErrorEvent) error { return s.takeView(&e.ModelEvent) },
	})
	// PocketBase signs out the connections of an auth collection whose token
	// secret changes, or that is deleted, by walking its broker after the
	// change is saved; the indexed connections are signed out here.
	app.OnCollectionUpdate().BindFunc(func(e *core.CollectionEvent) error {
		cached, _ := e.App.FindCachedCollectionByNameOrId(e.Collection.Id)
		if err := e.Next(); err != nil {
			return err
		}
		if cached != nil && e.Collection.IsAuth() && cached.AuthToken.Secret != e.Collection.AuthToken.Secret {
			s.signOutCollection(e.Collection.Id)
		}
		return nil
	})
	app.OnCollectionAfterDeleteSuccess().BindFunc(func(e *core.CollectionEvent) error {
		if e.Collection.IsAuth() {
			s.signOutCollection(e.Collection.Id)
		}
		return e.Next()
	})
}

// setView sets the view on the event; takeView takes it off once
// PocketBase's handlers ran.
func (s *Index) setView(e *core.ModelEvent) error {
	collection, id := s.recordOf(e.Model)
	if collection == nil {
		return e.Next()
	}
	view := &brokerView{App: e.App, index: s, collection: collection, id: id}
	e.App = view
	defer view.close() // when takeView did not run
	err := e.Next()
	if e.App == view {
		e.App = view.App
	}
	return err
}

func (s *Index) takeView(e *core.ModelEvent) error {
	if view, ok := e.App.(*brokerView); ok {
		e.App = view.App
		view.close()
	}
	return e.Next()
}

// recordOf is the collection and id of a record model (nil for any other).
func (s *Index) recordOf(model core.Model) (*core.Collection, string) {
	switch m := model.(type) {
	case *core.Record:
		return m.Collection(), m.Id
	case core.RecordProxy:
		if r := m.ProxyRecord(); r != nil {
			return r.Collection(), r.Id
		}
	}
	collection, err := s.app.FindCachedCollectionByNameOrId(model.TableName())
	if err != nil {
		return nil, ""
	}
	return collection, cast.ToString(model.PK())
}

// listenersOf is the indexed connections that can hear of a change of the
// record: subscribed to one of the topics PocketBase's broadcast looks for,
// or signed in as it (PocketBase refreshes their auth). s.mu is taken.
func (s *Index) listenersOf(collection *core.Collection, id string) []*connection {
	var seen map[*connection]struct{}
	var out []*connection
	add := func(c *connection) {
		if seen == nil {
			seen = map[*connection]struct{}{}
		}
		if _, dup := seen[c]; !dup {
			seen[c] = struct{}{}
			out = append(out, c)
		}
	}
	s.mu.Lock()
	for _, name := range [2]string{collection.Name, collection.Id} {
		for _, topic := range [3]string{name + "/" + id, name + "/*", name} {
			for c := range s.byTopic[topic] {
				add(c)
			}
		}
	}
	s.mu.Unlock()
	if collection.IsAuth() {
		for _, c := range s.signedIn.ofKey(collection.Id + "/" + id) {
			if c.indexed.Load() {
				add(c)
			}
		}
	}
	return out
}

// signOutCollection signs out the indexed connections signed in as a record
// of the collection.
func (s *Index) signOutCollection(collectionID string) {
	for _, conn := range s.all() {
		if ref := conn.currentAuthRef(); ref != nil && ref.collectionID == collectionID {
			conn.Unset(apis.RealtimeClientAuthKey)
		}
	}
}
