package hooks

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/picker"
	"github.com/pocketbase/pocketbase/tools/router"
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
}

// ownRecordConn is a realtime connection that can leave PocketBase's
// broker without ending, and PocketBase's connection loop too (detach).
//
// It keeps PocketBase's client for its id, store and subscriptions, and
// replaces its channel: PocketBase's loop reads Channel until the connection
// is detached; then Send writes to the connection itself (sseStream).
type ownRecordConn struct {
	subscriptions.Client
	recordID string      // set while indexed (guarded by ownRecordSubscribers.mu)
	leaving  atomic.Bool // the broker is letting go of it: its Discard must not close it
	indexed  atomic.Bool

	canDetach bool // an HTTP/1.x GET answered by net/http itself, which can be hijacked

	mu        sync.Mutex
	ch        chan subscriptions.Message
	chClosed  bool
	sending   int // Sends waiting on ch
	discarded bool
	detach    bool                    // PocketBase's loop is asked to let go: ch closes once no Send waits on it
	pending   []subscriptions.Message // sent after that and before the stream is attached
	stream    *sseStream
}

func newOwnRecordConn(client subscriptions.Client) *ownRecordConn {
	return &ownRecordConn{Client: client, ch: make(chan subscriptions.Message)}
}

// Channel is what PocketBase's connection loop reads; it is closed when the
// connection is discarded or detached.
func (c *ownRecordConn) Channel() chan subscriptions.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

// Send is PocketBase's client Send: it waits for the connection loop to take
// the message, or, once detached, writes it to the connection.
func (c *ownRecordConn) Send(m subscriptions.Message) {
	c.mu.Lock()
	switch {
	case c.discarded:
		c.mu.Unlock()
		return
	case c.stream != nil:
		stream := c.stream
		c.mu.Unlock()
		stream.send(m)
		return
	case c.detach:
		c.pending = append(c.pending, m)
		c.mu.Unlock()
		return
	}
	c.sending++
	ch := c.ch
	c.mu.Unlock()
	func() {
		defer func() { _ = recover() }() // discarded meanwhile, as with PocketBase's client
		ch <- m
	}()
	c.mu.Lock()
	c.sending--
	c.closeChannelIfDetaching()
	c.mu.Unlock()
}

// closeChannelIfDetaching ends PocketBase's loop once a requested detach has
// no Send left waiting on the channel (c.mu held).
func (c *ownRecordConn) closeChannelIfDetaching() {
	if c.detach && c.sending == 0 && !c.chClosed {
		close(c.ch)
		c.chClosed = true
	}
}

func (c *ownRecordConn) Discard() {
	if c.leaving.Load() {
		return
	}
	c.mu.Lock()
	stream := c.stream
	c.mu.Unlock()
	if stream != nil {
		stream.end() // which marks the connection discarded
		return
	}
	c.markDiscarded()
}

// markDiscarded stops every further Send and ends PocketBase's loop, if it
// still runs.
func (c *ownRecordConn) markDiscarded() {
	c.mu.Lock()
	if c.discarded {
		c.mu.Unlock()
		return
	}
	c.discarded = true
	c.pending = nil
	if !c.chClosed {
		close(c.ch)
		c.chClosed = true
	}
	c.mu.Unlock()
	c.Client.Discard()
}

func (c *ownRecordConn) IsDiscarded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.discarded
}

// requestDetach asks PocketBase's loop to let go of the connection, which
// then goes on without the goroutine and the buffers that net/http and
// PocketBase hold for a request in progress (see detach).
func (c *ownRecordConn) requestDetach() {
	if !c.canDetach {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.discarded || c.detach || c.stream != nil {
		return
	}
	c.detach = true
	c.closeChannelIfDetaching()
}

func (c *ownRecordConn) detachRequested() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.detach && !c.discarded
}

// attach hands the connection to its stream, with the messages sent while
// it was being detached first.
func (c *ownRecordConn) attach(stream *sseStream) bool {
	stream.mu.Lock()
	defer stream.mu.Unlock()
	c.mu.Lock()
	if c.discarded {
		c.mu.Unlock()
		return false
	}
	c.stream, c.detach = stream, false
	pending := c.pending
	c.pending = nil
	c.mu.Unlock()
	for _, m := range pending {
		if err := stream.sendLocked(m); err != nil {
			go stream.end()
			break
		}
	}
	return true
}

// Subscriptions hides an indexed connection's topics from PocketBase's
// walks, which may still hold it from just before it was indexed: its
// messages come from the index alone.
func (c *ownRecordConn) Subscriptions(prefixes ...string) map[string]subscriptions.SubscriptionOptions {
	if c.indexed.Load() {
		return nil
	}
	return c.Client.Subscriptions(prefixes...)
}

// sseStream is a detached realtime connection: the server-sent events
// written straight to the hijacked connection, with PocketBase's message
// hook, idle timeout and maximum lifetime. A goroutine that reads the
// connection notices when the client goes away.
type sseStream struct {
	app     core.App
	conn    net.Conn
	client  *ownRecordConn
	chunked bool // net/http had started a chunked body: each message is a chunk
	event   *core.RequestEvent
	idleFor time.Duration
	idle    *time.Timer
	life    *time.Timer
	cancel  context.CancelFunc
	onEnd   func()

	mu   sync.Mutex // one message at a time
	out  []byte     // the message being written (between Write and Flush)
	done bool
	once sync.Once
}

// Header, Write, WriteHeader and Flush make the stream the message event's
// Response, as PocketBase's default message handler writes and flushes it.
func (s *sseStream) Header() http.Header { return http.Header{} }
func (s *sseStream) WriteHeader(int)     {}
func (s *sseStream) Write(p []byte) (int, error) {
	s.out = append(s.out, p...)
	return len(p), nil
}

func (s *sseStream) FlushError() error {
	if len(s.out) == 0 {
		return nil
	}
	var frame []byte
	if s.chunked {
		frame = make([]byte, 0, len(s.out)+16)
		frame = strconv.AppendInt(frame, int64(len(s.out)), 16)
		frame = append(frame, "\r\n"...)
		frame = append(append(frame, s.out...), "\r\n"...)
	} else {
		frame = s.out
	}
	s.out = nil
	_, err := s.conn.Write(frame)
	return err
}

func (s *sseStream) send(m subscriptions.Message) {
	s.mu.Lock()
	err := s.sendLocked(m)
	s.mu.Unlock()
	if err != nil {
		s.end()
	}
}

// sendLocked writes one message through PocketBase's OnRealtimeMessageSend
// hooks, as PocketBase's connection loop does (s.mu held).
func (s *sseStream) sendLocked(m subscriptions.Message) error {
	if s.done {
		return nil
	}
	e := new(core.RealtimeMessageEvent)
	e.RequestEvent = s.event
	e.Client = s.client
	e.Message = &m
	err := s.app.OnRealtimeMessageSend().Trigger(e, func(me *core.RealtimeMessageEvent) error {
		if err := me.Message.WriteSSE(me.Response, me.Client.Id()); err != nil {
			return err
		}
		return me.Flush()
	})
	s.out = nil
	if err != nil {
		s.app.Logger().Debug("Realtime connection closed (failed to deliver message)", "clientId", s.client.Id(), "error", err.Error())
		return err
	}
	s.idle.Reset(s.idleFor)
	return nil
}

// readUntilClosed waits for the client to close the connection (an SSE
// client sends nothing more).
func (s *sseStream) readUntilClosed() {
	var b [64]byte
	for {
		if _, err := s.conn.Read(b[:]); err != nil {
			s.end()
			return
		}
	}
}

// end closes the stream: after an idle timeout or the maximum lifetime the
// body ends as net/http would end it; the client then reconnects.
func (s *sseStream) end() {
	s.once.Do(func() {
		// A write stuck on a client that reads nothing gives up within a second.
		_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
		s.mu.Lock()
		if s.chunked {
			_, _ = s.conn.Write([]byte("0\r\n\r\n"))
		}
		s.done = true
		s.mu.Unlock()
		_ = s.conn.Close()
		s.idle.Stop()
		s.life.Stop()
		s.cancel()
		s.app.Logger().Debug("Realtime connection closed", "clientId", s.client.Id())
		s.onEnd()
	})
}

// canDetach reports whether the realtime connection e is answered by
// net/http itself through PocketBase's response wrapper only (no other
// writer in between, which the stream would bypass), over HTTP/1.x.
func canDetach(e *core.RealtimeConnectRequestEvent) bool {
	rw, ok := e.Response.(*router.ResponseWriter)
	if !ok || e.Request.Method != http.MethodGet || e.Request.ProtoMajor != 1 {
		return false
	}
	_, ok = rw.ResponseWriter.(http.Hijacker)
	return ok
}

// detach takes over the connection of e, whose PocketBase loop has let go of
// it: the request's goroutine returns, and with it net/http's buffers and
// PocketBase's request state; what remains is the connection, the client,
// a small read goroutine and two timers. It reports false when the
// connection could not be taken over (it then ends).
func (s *ownRecordSubscribers) detach(conn *ownRecordConn, e *core.RealtimeConnectRequestEvent, connected time.Time) bool {
	header := e.Response.Header()
	chunked := e.Request.ProtoAtLeast(1, 1) && header.Get("Content-Length") == "" && header.Get("Transfer-Encoding") != "identity"
	if header.Get("Content-Encoding") != "" {
		return false
	}
	netConn, _, err := http.NewResponseController(e.Response).Hijack()
	if err != nil {
		return false
	}
	// An SSE client sends nothing after its request: whatever net/http
	// buffered beyond it is left unread.
	ctx, cancel := context.WithCancel(context.WithoutCancel(e.Request.Context()))
	stream := &sseStream{app: e.App, conn: netConn, client: conn, chunked: chunked, idleFor: e.IdleTimeout, cancel: cancel}
	event := &core.RequestEvent{App: e.App, Auth: e.Auth}
	event.Request = e.Request.WithContext(ctx)
	event.Response = stream
	event.SetAll(e.GetAll())
	stream.event = event
	stream.idle = time.AfterFunc(e.IdleTimeout, stream.end)
	stream.life = time.AfterFunc(max(e.MaxTimeout-time.Since(connected), 0), stream.end)
	stream.onEnd = func() {
		conn.markDiscarded()
		s.remove(conn)
		s.app.SubscriptionsBroker().Unregister(conn.Id()) // when given back
		s.forget(stream)
	}
	s.keep(stream)
	if !conn.attach(stream) {
		stream.end()
		return true // the connection was hijacked: nothing more for net/http to do
	}
	go stream.readUntilClosed()
	return true
}

func (s *ownRecordSubscribers) keep(stream *sseStream) {
	s.streamsMu.Lock()
	s.streams[stream] = struct{}{}
	s.streamsMu.Unlock()
}

func (s *ownRecordSubscribers) forget(stream *sseStream) {
	s.streamsMu.Lock()
	delete(s.streams, stream)
	s.streamsMu.Unlock()
}

// endStreams closes every detached connection (the app is stopping: net/http
// no longer knows of them).
func (s *ownRecordSubscribers) endStreams() {
	s.streamsMu.Lock()
	streams := make([]*sseStream, 0, len(s.streams))
	for stream := range s.streams {
		streams = append(streams, stream)
	}
	s.streamsMu.Unlock()
	for _, stream := range streams {
		stream.end()
	}
}

func bindOwnRecordSubscribers(app core.App) *ownRecordSubscribers {
	s := &ownRecordSubscribers{
		app: app, byRecord: map[string]map[*ownRecordConn]struct{}{}, byID: map[string]*ownRecordConn{},
		streams: map[*sseStream]struct{}{},
	}
	s.changed = sync.NewCond(&s.mu)

	app.OnRealtimeConnectRequest().Bind(&hook.Handler[*core.RealtimeConnectRequestEvent]{
		Priority: -100,
		Func: func(e *core.RealtimeConnectRequestEvent) error {
			connected := time.Now()
			conn := newOwnRecordConn(e.Client)
			conn.canDetach = canDetach(e)
			e.Client = conn
			// Next returns when PocketBase's loop ends: the connection ended,
			// or it let go of it to be detached.
			err := e.Next()
			if err == nil && conn.detachRequested() && e.Request.Context().Err() == nil && s.detach(conn, e, connected) {
				return nil
			}
			conn.markDiscarded()
			s.remove(conn)
			return err
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
		s.byID[conn.Id()] = conn
		conn.indexed.Store(true)
		conn.leaving.Store(true)
		s.app.SubscriptionsBroker().Unregister(conn.Id())
		conn.leaving.Store(false)
	})
	if conn.indexed.Load() {
		conn.requestDetach()
	}
}

// giveBack returns an indexed connection to PocketBase's broker.
func (s *ownRecordSubscribers) giveBack(clientID string) {
	s.between(func() {
		if conn := s.byID[clientID]; conn != nil {
			s.unindex(conn)
			s.app.SubscriptionsBroker().Register(conn)
		}
	})
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
	delete(s.byID, conn.Id())
	conn.indexed.Store(false)
}

// refreshAuth is PocketBase's realtimeUpdateClientsAuth for one connection:
// a new token key signs it out, otherwise it holds the saved record. A
// connection signed in by a Clerk session holds it either way (see
// keepClerkSubscribersSignedIn).
func refreshAuth(conn *ownRecordConn, record *core.Record) {
	auth, _ := conn.Get(apis.RealtimeClientAuthKey).(*core.Record)
	if auth == nil || auth.Id != record.Id || auth.Collection().Name != record.Collection().Name {
		return
	}
	if auth.TokenKey() != record.TokenKey() && !signedInByClerkAs(conn, record) {
		conn.Unset(apis.RealtimeClientAuthKey)
	} else {
		conn.Set(apis.RealtimeClientAuthKey, record)
	}
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

func (p ownPayload) message() (subscriptions.Message, bool) {
	raw, err := json.Marshal(p.data)
	return subscriptions.Message{Name: p.name, Data: raw}, err == nil
}

// ownRecordPayloads is ownRecordMessages before encoding: the access checks
// and enrich hooks run now, on the record's state of this change.
func ownRecordPayloads(app, accessApp core.App, conn *ownRecordConn, action string, record *core.Record) []ownPayload {
	collection := record.Collection()
	auth, _ := conn.Get(apis.RealtimeClientAuthKey).(*core.Record)
	var payloads []ownPayload
	for sub, options := range conn.Client.Subscriptions(collection.Name+"/"+record.Id+"?", collection.Id+"/"+record.Id+"?") {
		info := &core.RequestInfo{
			Context: core.RequestInfoContextRealtime,
			Method:  http.MethodGet,
			Query:   options.Query,
			Headers: options.Headers,
			Auth:    auth,
		}
		if ok, _ := accessApp.CanAccessRecord(record, info, collection.ViewRule); !ok {
			continue
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

// recordMessage is the data of a record event, as PocketBase sends it.
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
