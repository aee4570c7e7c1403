package hooks

import (
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// PocketBase's realtime walks every connection of its broker for every
// record change: once to refresh the auth of the connections signed in as
// the record, and once per topic form to find the subscribers
// (apis/realtime.go, realtimeUpdateClientsAuth and realtimeBroadcastRecord).
// With a connection or two per signed-in user, that is work per event that
// grows with the users, and Clerk sends user.updated at every sign-in.
//
// realtimeIndex takes the connections whose topics are all record
// topics ("<collection>/<id>", "<collection>/*") out of PocketBase's broker
// and indexes them by topic. For each record change, PocketBase's own
// realtime handlers run on a broker that holds the connections left in its
// broker and those of the index that can hear of the record: subscribed to
// one of its topics, or signed in as it (brokerView). The messages, rule
// checks, filters, expands, enrich hooks and dry caches are PocketBase's
// own; what the index saves is the walk over everyone else. A connection
// with any other topic (an owner's custom topic) stays in the broker, where
// the owner's code finds it. A connection that sends a new subscription goes
// back to the broker first, and is taken out again when it still qualifies.
//
// Every connection also leaves PocketBase's connection loop (detach): a
// request in progress holds a goroutine with a deep stack, net/http's
// buffers and PocketBase's request state, about 45 KB per connection, which
// a detached connection does without. Its messages still go through
// OnRealtimeMessageSend, with PocketBase's idle timeout and lifetime.
type realtimeIndex struct {
	app core.App

	mu       sync.Mutex
	changed  *sync.Cond // signalled when no delivery is in progress
	inflight int        // record changes in progress (see enter)
	byTopic  map[string]map[*realtimeClient]struct{}
	byID     map[string]*realtimeClient

	streamsMu sync.Mutex
	streams   map[*sseStream]struct{} // detached connections
	// signedIn finds the connections signed in as a record.
	signedIn signedInConns

	// noDetach is set once a connection could not be taken over: later
	// connections stay on PocketBase's loop, so that the client of such a
	// connection, which ends, reconnects once rather than over and over.
	noDetach atomic.Bool
}

// realtimeClient is a realtime connection that can leave PocketBase's
// broker without ending, and PocketBase's connection loop too (detach).
//
// It keeps PocketBase's client for its id, store and subscriptions, and
// replaces its channel: PocketBase's loop reads Channel until the connection
// is detached; then Send writes to the connection itself (sseStream).
type realtimeClient struct {
	subscriptions.Client
	app       core.App
	indexedAs []string    // its topics, while indexed (guarded by realtimeIndex.mu)
	leaving   atomic.Bool // the broker is letting go of it: its Discard must not close it
	indexed   atomic.Bool
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
	detachWaiters atomic.Int32 // giveBacks waiting in waitDetached

	authMu  sync.Mutex
	authRef *authRef // the auth, while indexed (session_realtime_index_auth.go)

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
	// sessionHeaders are the Clerk session's headers, one map that every
	// subscription's options share (see setSessionHeaders).
	sessionHeaders map[string]string
}

func newRealtimeClient(app core.App, client subscriptions.Client) *realtimeClient {
	return &realtimeClient{Client: client, app: app, ch: make(chan subscriptions.Message), settled: make(chan struct{})}
}

// Subscriptions answers PocketBase's broadcast.
//
// PocketBase's broadcast asks each connection for the topics of a record in
// six forms ("<collection>/<id>?", "<collection>/*?", …), and its client
// answers by writing every topic it holds out again with a "?": with a
// hundred topics on each of many connections, that was most of a change's
// cost. A form of one topic is answered from byTopic instead.
func (c *realtimeClient) Subscriptions(prefixes ...string) map[string]subscriptions.SubscriptionOptions {
	c.topicsMu.RLock()
	defer c.topicsMu.RUnlock()
	if len(prefixes) == 1 {
		if topic, ok := strings.CutSuffix(prefixes[0], "?"); ok && !strings.Contains(topic, "?") {
			return c.byTopic[topic] // replaced, never changed: the caller may read it
		}
	}
	// Any other form as PocketBase's client answers it, from byTopic: its
	// options are the ones rules read (see sessionRuleHeaders).
	result := map[string]subscriptions.SubscriptionOptions{}
	for _, subs := range c.byTopic {
		for sub, options := range subs {
			if len(prefixes) == 0 || slices.ContainsFunc(prefixes, func(prefix string) bool { return strings.HasPrefix(sub+"?", prefix) }) {
				result[sub] = options
			}
		}
	}
	return result
}

func (c *realtimeClient) Subscribe(subs ...string) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.Client.Subscribe(subs...)
	c.indexTopics()
}

func (c *realtimeClient) Unsubscribe(subs ...string) {
	c.topicsMu.Lock()
	defer c.topicsMu.Unlock()
	c.Client.Unsubscribe(subs...)
	c.indexTopics()
}

// indexTopics groups the connection's subscriptions by topic, the part
// before "?", each with the headers its rules read (c.topicsMu held).
func (c *realtimeClient) indexTopics() {
	byTopic := map[string]map[string]subscriptions.SubscriptionOptions{}
	for sub, options := range c.Client.Subscriptions() {
		topic, _, _ := strings.Cut(sub, "?")
		if byTopic[topic] == nil {
			byTopic[topic] = map[string]subscriptions.SubscriptionOptions{}
		}
		// Only a collection's topics have rules: others keep the headers
		// the client wrote, for an owner's code.
		if headers, changed := sessionRuleHeaders(options.Headers, c.sessionHeaders); changed && parseTopic(c.app, topic).collection != nil {
			options.Headers = headers
		}
		byTopic[topic][sub] = options
	}
	c.byTopic = byTopic
}

// setSessionHeaders gives the connection's next subscriptions to a
// collection's records the headers of the Clerk session that makes them
// (nil: none), in place of any x_clerk_… header their options hold.
func (c *realtimeClient) setSessionHeaders(headers map[string]string) {
	c.topicsMu.Lock()
	c.sessionHeaders = headers
	c.topicsMu.Unlock()
}

func bindRealtimeIndex(app core.App) *realtimeIndex {
	s := &realtimeIndex{
		app: app, byTopic: map[string]map[*realtimeClient]struct{}{}, byID: map[string]*realtimeClient{},
		streams: map[*sseStream]struct{}{}, signedIn: signedInConns{conns: map[string]map[*realtimeClient]struct{}{}},
	}
	s.changed = sync.NewCond(&s.mu)

	app.OnRealtimeConnectRequest().Bind(&hook.Handler[*core.RealtimeConnectRequestEvent]{
		Priority: -100,
		Func: func(e *core.RealtimeConnectRequestEvent) error {
			connected := time.Now()
			conn := newRealtimeClient(e.App, e.Client)
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
				e.App.SubscriptionsBroker().Register(view.realtimeClient) // see loopView
			}
			if _, detached := e.Response.(*sseStream); !detached {
				conn, _ := e.Client.(*realtimeClient)
				if view, ok := e.Client.(*loopView); ok {
					conn = view.realtimeClient
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
			if conn, ok := e.Client.(*realtimeClient); ok {
				s.takeIfIndexable(conn)
			}
			if conn, ok := e.Client.(*realtimeClient); ok && !conn.indexed.Load() && len(e.Subscriptions) > 0 {
				// Its messages stay PocketBase's to make: the connection
				// stays in the broker, and only leaves the loop.
				conn.requestDetach()
			}
			return nil
		},
	})

	s.bindBrokerViews(app)
	app.Store().Set(realtimeIndexKey, s)
	return s
}

const realtimeIndexKey = "pocketclerkOwnRecordSubscribers"

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
	if s, _ := app.Store().Get(realtimeIndexKey).(*realtimeIndex); s != nil {
		for _, c := range s.all() {
			out = append(out, c)
		}
	}
	return out
}

// realtimeClientsSignedInAs is every realtime connection signed in as
// auth, found without a walk of every connection when the index is on.
func realtimeClientsSignedInAs(app core.App, auth *core.Record) []subscriptions.Client {
	var out []subscriptions.Client
	if s, _ := app.Store().Get(realtimeIndexKey).(*realtimeIndex); s != nil {
		for _, c := range s.signedIn.of(auth) {
			out = append(out, c)
		}
		return out
	}
	for _, c := range app.SubscriptionsBroker().Clients() {
		if signedInAs(c, auth) {
			out = append(out, c)
		}
	}
	return out
}

// enter and leave bracket a record change (see setView): a connection is
// indexed or given back only between changes, so each change finds it
// exactly once, in PocketBase's broker or in the view. Changes never wait
// for each other.
func (s *realtimeIndex) enter() {
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
}

func (s *realtimeIndex) leave() {
	s.mu.Lock()
	s.inflight--
	if s.inflight == 0 {
		s.changed.Broadcast()
	}
	s.mu.Unlock()
}

// between runs f with s.mu held and no delivery in progress.
func (s *realtimeIndex) between(f func()) {
	s.mu.Lock()
	for s.inflight > 0 {
		s.changed.Wait()
	}
	f()
	s.mu.Unlock()
}

func (s *realtimeIndex) all() []*realtimeClient {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*realtimeClient, 0, len(s.byID))
	for _, c := range s.byID {
		conns = append(conns, c)
	}
	return conns
}

// takeIfIndexable indexes conn when all its topics are record topics (of
// a collection, by name or id), and it does not wait for its client to
// appear (adoptWaitingSubscribers looks for those in the broker).
func (s *realtimeIndex) takeIfIndexable(conn *realtimeClient) {
	if conn.IsDiscarded() {
		return
	}
	if waiting, _ := conn.Get(waitingClerkUserKey).(string); waiting != "" {
		return
	}
	conn.topicsMu.RLock()
	topics := make([]string, 0, len(conn.byTopic))
	for topic := range conn.byTopic {
		topics = append(topics, topic)
	}
	conn.topicsMu.RUnlock()
	if len(topics) == 0 {
		return
	}
	for _, topic := range topics {
		collection, id, _ := strings.Cut(topic, "/")
		if strings.Contains(id, "/") {
			return
		}
		if _, err := s.app.FindCachedCollectionByNameOrId(collection); err != nil {
			return
		}
	}
	s.between(func() {
		if conn.indexed.Load() || conn.IsDiscarded() {
			return
		}
		conn.indexedAs = topics
		for _, topic := range topics {
			if s.byTopic[topic] == nil {
				s.byTopic[topic] = map[*realtimeClient]struct{}{}
			}
			s.byTopic[topic][conn] = struct{}{}
		}
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
func (s *realtimeIndex) giveBack(clientID string) {
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
func (s *realtimeIndex) remove(conn *realtimeClient) {
	if conn.indexed.Load() {
		s.between(func() { s.unindex(conn) })
	}
}

func (s *realtimeIndex) unindex(conn *realtimeClient) {
	if !conn.indexed.Load() {
		return
	}
	for _, topic := range conn.indexedAs {
		delete(s.byTopic[topic], conn)
		if len(s.byTopic[topic]) == 0 {
			delete(s.byTopic, topic)
		}
	}
	conn.indexedAs = nil
	delete(s.byID, conn.Client.Id())
	conn.indexed.Store(false)
}
