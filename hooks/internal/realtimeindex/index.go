package realtimeindex

import (
	"errors"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// Options is what the index needs to know of the app that binds it.
type Options struct {
	// WaitingKey names a value in a connection's store that marks it as
	// waiting for its auth record to be created (empty: none waits). Such a
	// connection stays in PocketBase's broker, where the code that signs it
	// in when the record appears looks for it.
	WaitingKey string

	// RuleHeaders is what the rules of a subscription to a collection's
	// records read as headers: from those of the subscription's options and
	// those handed to its connection (SetRuleHeaders). It tells whether that
	// differs from the options' headers. Nil: the options' headers.
	RuleHeaders func(options, handed map[string]string) (map[string]string, bool)
}

// Index is the realtime connections taken out of PocketBase's broker (see
// the package's doc); Bind makes it.
type Index struct {
	app  core.App
	opts Options

	mu       sync.Mutex
	changed  *sync.Cond // signalled when no delivery is in progress
	inflight int        // record changes in progress (see enter)
	byTopic  map[string]map[*connection]struct{}
	byID     map[string]*connection

	streamsMu sync.Mutex
	streams   map[*sseStream]struct{} // detached connections
	// signedIn finds the connections signed in as a record.
	signedIn signedInConns

	// noDetach is set once a connection could not be taken over: later
	// connections stay on PocketBase's loop, so that the client of such a
	// connection, which ends, reconnects once rather than over and over.
	noDetach atomic.Bool
}

// Bind takes the app's realtime connections out of PocketBase's broker and
// connection loop as the package's doc says, and answers the index that
// holds them.
func Bind(app core.App, opts Options) *Index {
	s := &Index{
		app: app, opts: opts, byTopic: map[string]map[*connection]struct{}{}, byID: map[string]*connection{},
		streams: map[*sseStream]struct{}{}, signedIn: signedInConns{conns: map[string]map[*connection]struct{}{}},
	}
	s.changed = sync.NewCond(&s.mu)

	app.OnRealtimeConnectRequest().Bind(&hook.Handler[*core.RealtimeConnectRequestEvent]{
		Priority: IndexConnectPriority,
		Func: func(e *core.RealtimeConnectRequestEvent) error {
			connected := time.Now()
			conn := newConnection(e.App, e.Client)
			conn.signedIn = &s.signedIn
			conn.ruleHeadersOf = s.opts.RuleHeaders
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
		Priority: IndexMessagePriority,
		Func: func(e *core.RealtimeMessageEvent) error {
			if view, ok := e.Client.(*loopView); ok && e.Message.Name == "PB_CONNECT" {
				e.App.SubscriptionsBroker().Register(view.connection) // see loopView
			}
			if _, detached := e.Response.(*sseStream); !detached {
				conn, _ := e.Client.(*connection)
				if view, ok := e.Client.(*loopView); ok {
					conn = view.connection
				}
				if conn != nil && conn.IsDiscarded() {
					return errConnectionEnded
				}
				_ = http.NewResponseController(e.Response).SetWriteDeadline(time.Now().Add(WriteTimeout))
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
		Priority: IndexSubscribePriority,
		Func: func(e *core.RealtimeSubscribeRequestEvent) error {
			if err := e.Next(); err != nil {
				return err
			}
			if conn, ok := e.Client.(*connection); ok {
				s.takeIfIndexable(conn)
			}
			if conn, ok := e.Client.(*connection); ok && !conn.indexed.Load() && len(e.Subscriptions) > 0 {
				// Its messages stay PocketBase's to make: the connection
				// stays in the broker, and only leaves the loop.
				conn.requestDetach()
			}
			return nil
		},
	})

	s.bindBrokerViews(app)
	return s
}

// errConnectionEnded stops PocketBase's loop from writing to a connection
// that was ended meanwhile.
var errConnectionEnded = errors.New("the realtime connection was ended: it fell too far behind its messages")

// Clients is every realtime connection: those in PocketBase's broker and
// those taken out of it.
func (s *Index) Clients() []subscriptions.Client {
	var out []subscriptions.Client
	for _, c := range s.app.SubscriptionsBroker().Clients() {
		out = append(out, c)
	}
	for _, c := range s.all() {
		out = append(out, c)
	}
	return out
}

// ClientsSignedInAs is every realtime connection signed in as record,
// found without a walk of every connection.
func (s *Index) ClientsSignedInAs(record *core.Record) []subscriptions.Client {
	var out []subscriptions.Client
	for _, c := range s.signedIn.of(record) {
		out = append(out, c)
	}
	return out
}

// enter and leave bracket a record change (see setView): a connection is
// indexed or given back only between changes, so each change finds it
// exactly once, in PocketBase's broker or in the view. Changes never wait
// for each other.
func (s *Index) enter() {
	s.mu.Lock()
	s.inflight++
	s.mu.Unlock()
}

func (s *Index) leave() {
	s.mu.Lock()
	s.inflight--
	if s.inflight == 0 {
		s.changed.Broadcast()
	}
	s.mu.Unlock()
}

// between runs f with s.mu held and no delivery in progress.
func (s *Index) between(f func()) {
	s.mu.Lock()
	for s.inflight > 0 {
		s.changed.Wait()
	}
	f()
	s.mu.Unlock()
}

func (s *Index) all() []*connection {
	s.mu.Lock()
	defer s.mu.Unlock()
	conns := make([]*connection, 0, len(s.byID))
	for _, c := range s.byID {
		conns = append(conns, c)
	}
	return conns
}

// takeIfIndexable indexes conn when all its topics are record topics (of
// a collection, by name or id), and it does not wait for its auth record
// to appear (Options.WaitingKey: the code that signs it in looks for it in
// the broker).
func (s *Index) takeIfIndexable(conn *connection) {
	if conn.IsDiscarded() {
		return
	}
	if s.opts.WaitingKey != "" {
		if waiting, _ := conn.Get(s.opts.WaitingKey).(string); waiting != "" {
			return
		}
	}
	topics := conn.topics()
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
				s.byTopic[topic] = map[*connection]struct{}{}
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
func (s *Index) giveBack(clientID string) {
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
func (s *Index) remove(conn *connection) {
	if conn.indexed.Load() {
		s.between(func() { s.unindex(conn) })
	}
}

func (s *Index) unindex(conn *connection) {
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
