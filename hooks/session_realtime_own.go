package hooks

import (
	"encoding/json/jsontext"
	"encoding/json/v2"
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/picker"
	"github.com/pocketbase/pocketbase/tools/routine"
	"github.com/pocketbase/pocketbase/tools/subscriptions"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// PocketBase's realtime walks every connection for every record change:
// once to refresh the auth of connections signed in as the record, and once
// per topic form to find the subscribers (apis/realtime.go,
// realtimeUpdateClientsAuth and realtimeBroadcastRecord). With a connection
// per signed-in user that is work per event that grows with the users, and
// Clerk sends user.updated at every sign-in.
//
// Most connections of this app are a client listening to its own record
// (clients/<its id>). ownRecordSubscribers takes exactly those out of
// PocketBase's broker and indexes them by record id: a change of a client
// record reaches the connections signed in as it, with PocketBase's view
// rule check, enrich hooks and field visibility, and costs nothing per other
// connection. Any other connection (another topic, an expand or a filter, a
// guest, a superuser) stays with PocketBase. A connection that sends a new
// subscription goes back to PocketBase first, and is taken out again when
// it still qualifies.
//
// An indexed connection also leaves PocketBase's connection loop (detach):
// a request in progress holds a goroutine with a deep stack, net/http's
// buffers and PocketBase's request state, about 45 KB per connection, which
// a detached connection does without. Its messages still go through
// OnRealtimeMessageSend, with PocketBase's idle timeout and lifetime.
type ownRecordSubscribers struct {
	app core.App

	mu       sync.Mutex
	changed  *sync.Cond // signalled when no delivery is in progress
	inflight int        // client record deliveries in progress
	byRecord map[string]map[*ownRecordConn]struct{}
	byID     map[string]*ownRecordConn

	streamsMu sync.Mutex
	streams   map[*sseStream]struct{} // detached connections
	// signedIn finds the connections signed in as a record.
	signedIn signedInConns

	// noDetach is set once a connection could not be taken over: later
	// connections stay on PocketBase's loop, so that the client of such a
	// connection, which ends, reconnects once rather than over and over.
	noDetach atomic.Bool
}

// ownRecordConn is a realtime connection that can leave PocketBase's
// broker without ending, and PocketBase's connection loop too (detach).
//
// It keeps PocketBase's client for its id, store and subscriptions, and
// replaces its channel: PocketBase's loop reads Channel until the connection
// is detached; then Send writes to the connection itself (sseStream).
type ownRecordConn struct {
	subscriptions.Client
	app      core.App
	recordID string      // set while indexed (guarded by ownRecordSubscribers.mu)
	leaving  atomic.Bool // the broker is letting go of it: its Discard must not close it
	indexed  atomic.Bool
	// loopLetGo is set while PocketBase's loop returns to let go of the
	// connection for a detach: see loopView.
	loopLetGo atomic.Bool

	canDetach bool // an HTTP/1.x GET answered by net/http itself, which can be hijacked

	mu        sync.Mutex
	ch        chan subscriptions.Message
	chClosed  bool
	sending   int // Sends waiting on ch
	discarded bool
	detach    bool                    // PocketBase's loop is asked to let go: ch closes once no Send waits on it
	pending   []subscriptions.Message // sent after that and before the stream is attached
	stream    *sseStream
	// settled is closed once the connection is attached to its stream or
	// discarded: PocketBase's loop, and the Unregister of the connection's id
	// that it makes as it returns, are then behind it.
	settled       chan struct{}
	settledClosed bool

	authMu  sync.Mutex
	authRef *authRef // the auth, while indexed (session_realtime_own_auth.go)

	// signedIn indexes the connection by its auth; signedInAs is its key
	// there, and signedInForgotten says it ended (both guarded by signedIn.mu).
	signedIn          *signedInConns
	signedInAs        string
	signedInForgotten bool

	// stopLoopWrites fails the write that PocketBase's loop is making, if
	// any, while the loop runs (fallBehind). It is dropped when the loop
	// returns: it holds net/http's response, and with it the connection's
	// buffers, which a detached connection does without.
	stopLoopWrites atomic.Pointer[func()]

	topicsMu sync.RWMutex
	byTopic  map[string]map[string]subscriptions.SubscriptionOptions // see Subscriptions
}

func newOwnRecordConn(app core.App, client subscriptions.Client) *ownRecordConn {
	return &ownRecordConn{Client: client, app: app, ch: make(chan subscriptions.Message), settled: make(chan struct{})}
}

// Subscriptions hides an indexed connection's topics from PocketBase's
// walks, which may still hold it from just before it was indexed: its
// messages come from the index alone.
//
// PocketBase's broadcast asks each connection for the topics of a record in
// six forms ("<collection>/<id>?", "<collection>/*?", …), and its client
// answers by writing every topic it holds out again with a "?": with a
// hundred topics on each of many connections, that was most of a change's
// cost. A form of one topic is answered from byTopic instead.
func (c *ownRecordConn) Subscriptions(prefixes ...string) map[string]subscriptions.SubscriptionOptions {
	if c.indexed.Load() {
		return nil
	}
	if len(prefixes) == 1 {
		if topic, ok := strings.CutSuffix(prefixes[0], "?"); ok && !strings.Contains(topic, "?") {
			c.topicsMu.RLock()
			defer c.topicsMu.RUnlock()
			return c.byTopic[topic] // replaced, never changed: the caller may read it
		}
	}
	return c.Client.Subscriptions(prefixes...)
}

func (c *ownRecordConn) Subscribe(subs ...string) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.Client.Subscribe(subs...)
	c.indexTopics()
}

func (c *ownRecordConn) Unsubscribe(subs ...string) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.Client.Unsubscribe(subs...)
	c.indexTopics()
}

// indexTopics groups the connection's subscriptions by topic, the part
// before "?" (c.topicsMu held).
func (c *ownRecordConn) indexTopics() {
	byTopic := map[string]map[string]subscriptions.SubscriptionOptions{}
	for sub, options := range c.Client.Subscriptions() {
		topic, _, _ := strings.Cut(sub, "?")
		if byTopic[topic] == nil {
			byTopic[topic] = map[string]subscriptions.SubscriptionOptions{}
		}
		byTopic[topic][sub] = options
	}
	c.byTopic = byTopic
}

func bindOwnRecordSubscribers(app core.App) *ownRecordSubscribers {
	s := &ownRecordSubscribers{
		app: app, byRecord: map[string]map[*ownRecordConn]struct{}{}, byID: map[string]*ownRecordConn{},
		streams: map[*sseStream]struct{}{}, signedIn: signedInConns{conns: map[string]map[*ownRecordConn]struct{}{}},
	}
	s.changed = sync.NewCond(&s.mu)

	app.OnRealtimeConnectRequest().Bind(&hook.Handler[*core.RealtimeConnectRequestEvent]{
		Priority: -100,
		Func: func(e *core.RealtimeConnectRequestEvent) error {
			connected := time.Now()
			conn := newOwnRecordConn(e.App, e.Client)
			conn.signedIn = &s.signedIn
			conn.canDetach = canDetach(e) && !s.noDetach.Load()
			e.Client = &loopView{conn}
			response := http.NewResponseController(e.Response)
			stop := func() { _ = response.SetWriteDeadline(time.Now()) }
			conn.stopLoopWrites.Store(&stop)
			// Next returns when PocketBase's loop ends: the connection ended,
			// or it let go of it to be detached.
			err := e.Next()
			conn.stopLoopWrites.Store(nil)
			conn.loopLetGo.Store(false)
			if err == nil && conn.detachRequested() && e.Request.Context().Err() == nil {
				detachErr := s.detach(conn, e, connected)
				if detachErr == nil {
					return nil
				}
				if s.noDetach.CompareAndSwap(false, true) {
					e.App.Logger().Warn("A realtime connection could not be taken over from PocketBase's connection loop, so it ended and its client reconnects; from now until the next restart every realtime connection stays on that loop (about 45 KB more memory each). Check the middlewares and OnRealtimeConnectRequest hooks that change the realtime response.",
						"clientId", conn.Id(), "error", detachErr.Error())
				}
			}
			conn.markDiscarded()
			s.remove(conn)
			// A connection let go of for a detach that failed is still in
			// the broker (see loopView).
			e.App.SubscriptionsBroker().Unregister(conn.Client.Id())
			return err
		},
	})
	// PocketBase's loop writes without a deadline (it lifts the server's
	// for realtime): each of its writes gets one. A connection ended for
	// falling behind writes nothing more.
	app.OnRealtimeMessageSend().Bind(&hook.Handler[*core.RealtimeMessageEvent]{
		Priority: -100,
		Func: func(e *core.RealtimeMessageEvent) error {
			if view, ok := e.Client.(*loopView); ok && e.Message.Name == "PB_CONNECT" {
				e.App.SubscriptionsBroker().Register(view.ownRecordConn) // see loopView
			}
			if _, detached := e.Response.(*sseStream); !detached {
				conn, _ := e.Client.(*ownRecordConn)
				if view, ok := e.Client.(*loopView); ok {
					conn = view.ownRecordConn
				}
				if conn != nil && conn.IsDiscarded() {
					return errConnectionEnded
				}
				_ = http.NewResponseController(e.Response).SetWriteDeadline(time.Now().Add(realtimeWriteTimeout))
			}
			return e.Next()
		},
	})
	app.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		s.endStreams()
		return e.Next()
	})
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		// A new subscription request finds its connection in the broker, where
		// PocketBase looks for it.
		se.Router.BindFunc(func(e *core.RequestEvent) error {
			if e.Request.Method == http.MethodPost && e.Request.URL.Path == "/api/realtime" {
				var form struct {
					ClientID string `json:"clientId"`
				}
				if e.BindBody(&form) == nil && form.ClientID != "" {
					s.giveBack(form.ClientID)
				}
			}
			return e.Next()
		})
		return se.Next()
	})
	app.OnRealtimeSubscribeRequest().Bind(&hook.Handler[*core.RealtimeSubscribeRequestEvent]{
		Priority: -100, // around the other subscribe hooks: it sees the final auth
		Func: func(e *core.RealtimeSubscribeRequestEvent) error {
			if err := e.Next(); err != nil {
				return err
			}
			if conn, ok := e.Client.(*ownRecordConn); ok {
				s.takeIfOwnRecordOnly(conn)
			}
			if conn, ok := e.Client.(*ownRecordConn); ok && !conn.indexed.Load() && len(e.Subscriptions) > 0 {
				// Its messages stay PocketBase's to make: the connection
				// stays in the broker, and only leaves the loop.
				conn.requestDetach()
			}
			return nil
		},
	})

	app.OnModelAfterUpdateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Priority: -100, // before PocketBase's own realtime handlers (-99)
		Func: func(e *core.ModelEvent) error {
			record, _ := e.Model.(*core.Record)
			if !isClient(record) {
				return e.Next()
			}
			s.enter()
			defer s.leave()
			for _, conn := range s.connsOf(record.Id) {
				refreshAuth(conn, record)
				// Encoded and sent off the committing goroutine: each payload is
				// the connection's own copy of the record, checked and enriched here.
				for _, p := range ownRecordPayloads(e.App, e.App, conn, "update", record) {
					routine.FireAndForget(func() {
						if msg, ok := p.message(); ok {
							conn.Send(msg)
						}
					})
				}
			}
			return e.Next()
		},
	})
	// A deletion's messages are made while the record still exists, and
	// sent once the deletion is committed, as PocketBase does.
	pending := newPendingDeletes()
	app.OnModelDelete().Bind(&hook.Handler[*core.ModelEvent]{
		Priority: 98, // just before PocketBase's (99)
		Func: func(e *core.ModelEvent) error {
			if record, _ := e.Model.(*core.Record); isClient(record) {
				for _, conn := range s.connsOf(record.Id) {
					// The outer app: the rule is checked outside the deleting transaction.
					pending.add(record.Id, conn, ownRecordMessages(e.App, app, conn, "delete", record))
				}
			}
			return e.Next()
		},
	})
	app.OnModelAfterDeleteSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Priority: -100,
		Func: func(e *core.ModelEvent) error {
			record, _ := e.Model.(*core.Record)
			if !isClient(record) {
				return e.Next()
			}
			out := pending.take(record.Id)
			for _, conn := range s.connsOf(record.Id) {
				if _, ok := out[conn]; !ok {
					out[conn] = nil
				}
			}
			key := "delete/" + record.Collection().Name + "/" + record.Id // PocketBase's dry cache key
			for conn, msgs := range out {
				// PocketBase's own message, when it made one before the
				// connection was indexed, waits in the connection's store.
				if cached, ok := conn.Get(key).([]subscriptions.Message); ok {
					conn.Unset(key)
					msgs = append(cached, msgs...)
				}
				if conn.indexed.Load() {
					conn.Unset(apis.RealtimeClientAuthKey) // its record is gone
				}
				routine.FireAndForget(func() {
					for _, msg := range msgs {
						conn.Send(msg)
					}
				})
			}
			return e.Next()
		},
	})
	app.OnModelAfterDeleteError().Bind(&hook.Handler[*core.ModelErrorEvent]{
		Func: func(e *core.ModelErrorEvent) error {
			if record, _ := e.Model.(*core.Record); isClient(record) {
				pending.take(record.Id)
			}
			return e.Next()
		},
	})
	// As PocketBase does for its connections: a new token secret signs
	// every connection of the collection out.
	app.OnCollectionUpdate(migrations.ClientsCollection).BindFunc(func(e *core.CollectionEvent) error {
		cached, _ := e.App.FindCachedCollectionByNameOrId(e.Collection.Id)
		if err := e.Next(); err != nil {
			return err
		}
		if cached != nil && cached.AuthToken.Secret != e.Collection.AuthToken.Secret {
			for _, conn := range s.all() {
				conn.Unset(apis.RealtimeClientAuthKey)
			}
		}
		return nil
	})
	app.Store().Set(ownRecordSubscribersKey, s)
	return s
}

const ownRecordSubscribersKey = "pocketclerkOwnRecordSubscribers"

// errConnectionEnded stops PocketBase's loop from writing to a connection
// that was ended meanwhile.
var errConnectionEnded = errors.New("the realtime connection was ended: it fell too far behind its messages")

// realtimeClients is every realtime connection: PocketBase's broker's and
// those taken out of it.
func realtimeClients(app core.App) []subscriptions.Client {
	var out []subscriptions.Client
	for _, c := range app.SubscriptionsBroker().Clients() {
		out = append(out, c)
	}
	if s, _ := app.Store().Get(ownRecordSubscribersKey).(*ownRecordSubscribers); s != nil {
		for _, c := range s.all() {
			out = append(out, c)
		}
	}
	return out
}

// enter and leave bracket a delivery: a connection is indexed or given back
// only between deliveries, so each change reaches it exactly once, from
// PocketBase or from the index. Deliveries never wait for each other.
func (s *ownRecordSubscribers) enter() {
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
}

func (s *ownRecordSubscribers) leave() {
	s.mu.Lock()
	s.inflight--
	if s.inflight == 0 {
		s.changed.Broadcast()
	}
	s.mu.Unlock()
}

// between runs f with s.mu held and no delivery in progress.
func (s *ownRecordSubscribers) between(f func()) {
	s.mu.Lock()
	for s.inflight > 0 {
		s.changed.Wait()
	}
	f()
	s.mu.Unlock()
}

func (s *ownRecordSubscribers) connsOf(recordID string) []*ownRecordConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*ownRecordConn, 0, len(s.byRecord[recordID]))
	for c := range s.byRecord[recordID] {
		conns = append(conns, c)
	}
	return conns
}

func (s *ownRecordSubscribers) all() []*ownRecordConn {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*ownRecordConn, 0, len(s.byID))
	for _, c := range s.byID {
		conns = append(conns, c)
	}
	return conns
}

// takeIfOwnRecordOnly indexes conn when it is signed in as a client and
// subscribed to nothing but that client's record, without expand or filter.
func (s *ownRecordSubscribers) takeIfOwnRecordOnly(conn *ownRecordConn) {
	auth, _ := conn.Get(apis.RealtimeClientAuthKey).(*core.Record)
	if !isClient(auth) || conn.IsDiscarded() {
		return
	}
	subs := conn.Client.Subscriptions()
	if len(subs) == 0 {
		return
	}
	for sub, options := range subs {
		topic, _, _ := strings.Cut(sub, "?")
		if topic != migrations.ClientsCollection+"/"+auth.Id && topic != auth.Collection().Id+"/"+auth.Id {
			return
		}
		if options.Query["expand"] != "" || options.Query["filter"] != "" {
			return
		}
	}
	s.between(func() {
		if conn.indexed.Load() || conn.IsDiscarded() {
			return
		}
		conn.recordID = auth.Id
		if s.byRecord[auth.Id] == nil {
			s.byRecord[auth.Id] = map[*ownRecordConn]struct{}{}
		}
		s.byRecord[auth.Id][conn] = struct{}{}
		s.byID[conn.Client.Id()] = conn
		conn.indexed.Store(true)
		conn.holdAuthAsRef()
		conn.leaving.Store(true)
		s.app.SubscriptionsBroker().Unregister(conn.Client.Id())
		conn.leaving.Store(false)
		conn.requestDetach() // with s.mu held: giveBack sees it or comes first
	})
}

// giveBack returns an indexed connection to PocketBase's broker.
//
// Registered while PocketBase's loop lets go of it, the connection would be
// discarded by the Unregister the loop makes as it returns: it is given back
// once the detach is over.
func (s *ownRecordSubscribers) giveBack(clientID string) {
	for tries := 1; ; tries++ {
		s.mu.Lock()
		conn := s.byID[clientID]
		s.mu.Unlock()
		if conn == nil {
			return
		}
		conn.waitDetached()
		given := true
		s.between(func() {
			if s.byID[clientID] != conn {
				return // gone, or given back meanwhile
			}
			if conn.detachRequested() && tries < 3 { // a detach began meanwhile
				given = false
				return
			}
			s.unindex(conn)
			s.app.SubscriptionsBroker().Register(conn)
		})
		if given {
			return
		}
	}
}

// remove forgets a connection that ended.
func (s *ownRecordSubscribers) remove(conn *ownRecordConn) {
	if conn.indexed.Load() {
		s.between(func() { s.unindex(conn) })
	}
}

func (s *ownRecordSubscribers) unindex(conn *ownRecordConn) {
	if !conn.indexed.Load() {
		return
	}
	delete(s.byRecord[conn.recordID], conn)
	if len(s.byRecord[conn.recordID]) == 0 {
		delete(s.byRecord, conn.recordID)
	}
	delete(s.byID, conn.Client.Id())
	conn.indexed.Store(false)
}

// ownRecordMessages is what PocketBase's realtimeBroadcastRecord sends one
// connection for its record topics: the view rule checked with the
// connection's auth and subscription options, the record enrich hooks run,
// hidden fields left out, the email shown to its owner, fields picked.
func ownRecordMessages(app, accessApp core.App, conn *ownRecordConn, action string, record *core.Record) []subscriptions.Message {
	var msgs []subscriptions.Message
	for _, p := range ownRecordPayloads(app, accessApp, conn, action, record) {
		if msg, ok := p.message(); ok {
			msgs = append(msgs, msg)
		}
	}
	return msgs
}

// ownPayload is one message before its JSON encoding.
type ownPayload struct {
	name string
	data recordMessage
}

// message encodes the payload as PocketBase does (encoding/json/v2), to the
// same bytes. A record goes in as its PublicExport: encoded once, where the
// encoder would check the output of Record.MarshalJSON by reading it again.
// The options are MarshalJSON's, less the duplicate names that the outer
// encoding refuses.
func (p ownPayload) message() (subscriptions.Message, bool) {
	data := p.data
	if record, ok := data.Record.(*core.Record); ok {
		data.Record = record.PublicExport()
	}
	raw, err := json.Marshal(&data, recordJSONOptions)
	return subscriptions.Message{Name: p.name, Data: raw}, err == nil
}

var recordJSONOptions = json.JoinOptions(json.Deterministic(true), jsontext.AllowInvalidUTF8(true))

// ownRecordPayloads is ownRecordMessages before encoding: the access checks
// and enrich hooks run now, on the record's state of this change.
func ownRecordPayloads(app, accessApp core.App, conn *ownRecordConn, action string, record *core.Record) []ownPayload {
	collection := record.Collection()
	auth := conn.authFor(record)
	var payloads []ownPayload
	for sub, options := range conn.Client.Subscriptions(collection.Name+"/"+record.Id+"?", collection.Id+"/"+record.Id+"?") {
		info := &core.RequestInfo{
			Context: core.RequestInfoContextRealtime,
			Method:  http.MethodGet,
			Query:   options.Query,
			Headers: options.Headers,
			Auth:    auth,
		}
		if !admitsOwnRecord(collection.ViewRule, auth, record) {
			if ok, _ := accessApp.CanAccessRecord(record, info, collection.ViewRule); !ok {
				continue
			}
		}
		clean := record.Fresh()
		enrich := &core.RecordEnrichEvent{App: app, RequestInfo: info}
		enrich.Record = clean
		err := app.OnRecordEnrich().Trigger(enrich, func(e *core.RecordEnrichEvent) error {
			if auth != nil && auth.Id == clean.Id && auth.Collection().Id == collection.Id {
				clean.IgnoreEmailVisibility(true)
			} else if ok, _ := accessApp.CanAccessRecord(clean, info, collection.ManageRule); ok {
				clean.IgnoreEmailVisibility(true)
			}
			return nil
		})
		if err != nil {
			app.Logger().Debug("Realtime: a record enrich hook failed; the change is not sent to this connection", "id", clean.Id, "sub", sub, "error", err.Error())
			continue
		}
		var data any = clean
		if fields := options.Query["fields"]; fields != "" {
			if picked, err := picker.Pick(clean, fields); err == nil {
				data = picked
			}
		}
		payloads = append(payloads, ownPayload{name: sub, data: recordMessage{Record: data, Action: action}})
	}
	return payloads
}

// admitsOwnRecord answers CanAccessRecord without its query where the answer
// is certain: the rule is the one clients ship with, which admits a client
// to its own record, and auth is that client. That query was most of an
// event's cost per connection; any other rule is PocketBase's to check.
func admitsOwnRecord(rule *string, auth, record *core.Record) bool {
	return rule != nil && *rule == migrations.OwnRecordRule && isClient(auth) && isClient(record) && auth.Id == record.Id
}

// recordMessage is the data of a record event, as PocketBase sends it
// (recordData in apis/realtime.go).
type recordMessage struct {
	Record any    `json:"record"`
	Action string `json:"action"`
}

// pendingDeletes holds a deletion's messages until it is committed.
type pendingDeletes struct {
	mu   sync.Mutex
	msgs map[string]map[*ownRecordConn][]subscriptions.Message
}

func newPendingDeletes() *pendingDeletes {
	return &pendingDeletes{msgs: map[string]map[*ownRecordConn][]subscriptions.Message{}}
}

func (p *pendingDeletes) add(recordID string, conn *ownRecordConn, msgs []subscriptions.Message) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.msgs[recordID] == nil {
		p.msgs[recordID] = map[*ownRecordConn][]subscriptions.Message{}
	}
	p.msgs[recordID][conn] = append(p.msgs[recordID][conn], msgs...)
}

func (p *pendingDeletes) take(recordID string) map[*ownRecordConn][]subscriptions.Message {
	p.mu.Lock()
	defer p.mu.Unlock()
	m := p.msgs[recordID]
	delete(p.msgs, recordID)
	if m == nil {
		m = map[*ownRecordConn][]subscriptions.Message{}
	}
	return m
}
