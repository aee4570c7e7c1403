package realtimeindex

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
)

// The detach: a realtime connection indexed as listening to its own record
// leaves PocketBase's connection loop, and with it the goroutine, net/http's
// buffers and PocketBase's request state that a request in progress holds
// (about 45 KB of a connection's 57). Its server-sent events are then written
// to the hijacked connection (sseStream), through PocketBase's
// OnRealtimeMessageSend hooks, with PocketBase's idle timeout and lifetime.
// connection replaces the channel of PocketBase's client so that its loop
// can be asked to return without ending the connection.

// Channel is what PocketBase's connection loop reads; it is closed when the
// connection is discarded or detached.
func (c *connection) Channel() chan subscriptions.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.ch
}

// A realtime connection's backlog is bounded: PocketBase sends each message
// from a goroutine of its own that waits until the connection takes it, so a
// client that reads nothing (or a trickle) would hold a goroutine and a
// message per change, until the idle timeout or its lifetime. A connection
// with MaxQueuedMessages waiting is ended (its client reconnects and
// reads again), and no write to a connection waits longer than
// WriteTimeout.
const (
	// MaxQueuedMessages is the most messages a connection may have waiting.
	MaxQueuedMessages = 256
	// WriteTimeout bounds each write to a connection.
	WriteTimeout = 10 * time.Second
)

// Send is PocketBase's client Send: it waits for the connection loop to take
// the message, or, once detached, writes it to the connection. A connection
// that has fallen MaxQueuedMessages behind is ended.
func (c *connection) Send(m subscriptions.Message) {
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
	case c.detach && len(c.pending) < MaxQueuedMessages:
		c.pending = append(c.pending, m)
		c.mu.Unlock()
		return
	case c.detach || c.sending >= MaxQueuedMessages:
		c.mu.Unlock()
		c.fallBehind()
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
func (c *connection) closeChannelIfDetaching() {
	if c.detach && c.sending == 0 && !c.chClosed {
		c.loopLetGo.Store(true)
		close(c.ch)
		c.chClosed = true
	}
}

// loopView is the connection as PocketBase's connection loop holds it.
// The loop's last act is to unregister its client by Id (apis/realtime.go,
// realtimeConnect): for a connection detached but staying in the broker
// that would take it out, and leave a moment in which a broadcast misses
// it. To the loop alone, the connection it lets go of has no id, which
// unregisters nothing; the broker holds the connection itself from its
// first message on (PB_CONNECT), and everyone else sees its id.
type loopView struct{ *connection }

func (v *loopView) Id() string {
	if v.loopLetGo.Load() {
		return ""
	}
	return v.connection.Id()
}

func (c *connection) Discard() {
	if c.leaving.Load() {
		return
	}
	c.mu.Lock()
	stream, discarded := c.stream, c.discarded
	c.mu.Unlock()
	if discarded {
		return
	}
	if stream != nil {
		stream.end() // which marks the connection discarded
		return
	}
	c.markDiscarded()
}

// markDiscarded stops every further Send and ends PocketBase's loop, if it
// still runs.
func (c *connection) markDiscarded() {
	c.mu.Lock()
	if c.discarded {
		c.mu.Unlock()
		return
	}
	c.discarded = true
	c.pending = nil
	c.settle()
	if !c.chClosed {
		close(c.ch)
		c.chClosed = true
	}
	c.mu.Unlock()
	c.Client.Discard()
	if c.signedIn != nil {
		c.signedIn.forget(c)
	}
}

// fallBehind ends a connection that does not take its messages: it is
// discarded, and a write of PocketBase's loop stuck on it fails now.
func (c *connection) fallBehind() {
	c.markDiscarded()
	if stop := c.stopLoopWrites.Load(); stop != nil {
		(*stop)()
	}
	c.app.Logger().Debug("Realtime connection ended: it fell too far behind its messages", "clientId", c.Id(), "queued", MaxQueuedMessages)
}

func (c *connection) IsDiscarded() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.discarded
}

// requestDetach asks PocketBase's loop to let go of the connection, which
// then goes on without the goroutine and the buffers that net/http and
// PocketBase hold for a request in progress (see detach).
func (c *connection) requestDetach() {
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

// settle marks the connection done with PocketBase's loop (c.mu held).
func (c *connection) settle() {
	if !c.settledClosed {
		close(c.settled)
		c.settledClosed = true
	}
}

// waitDetached waits, while PocketBase's loop lets go of the connection,
// until it has (a second at most: the loop returns as soon as it runs).
func (c *connection) waitDetached() {
	if !c.detachRequested() {
		return
	}
	c.detachWaiters.Add(1)
	defer c.detachWaiters.Add(-1)
	timer := time.NewTimer(time.Second)
	defer timer.Stop()
	select {
	case <-c.settled:
	case <-timer.C:
	}
}

// detachRequested reports whether PocketBase's loop is letting go of the
// connection: asked to, and the stream not attached yet (attach clears it).
func (c *connection) detachRequested() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.detach && !c.discarded
}

// attach hands the connection to its stream, with the messages sent while
// it was being detached first.
func (c *connection) attach(stream *sseStream) bool {
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
	c.settle()
	c.mu.Unlock()
	for _, m := range pending {
		if err := stream.sendLocked(m); err != nil {
			go stream.end()
			break
		}
	}
	return true
}

// sseStream is a detached realtime connection: the server-sent events
// written straight to the hijacked connection, with PocketBase's message
// hook, idle timeout and maximum lifetime. The process's hangup watcher (or,
// where it cannot, a goroutine that reads the connection) notices when the
// client goes away.
type sseStream struct {
	app     core.App
	conn    net.Conn
	client  *connection
	chunked bool // net/http had started a chunked body: each message is a chunk
	event   *core.RequestEvent
	idleFor time.Duration
	idle    *time.Timer
	life    *time.Timer
	cancel  context.CancelFunc
	onEnd   func()

	mu      sync.Mutex // one message at a time
	out     []byte     // the message being written (between Write and Flush)
	done    bool
	unwatch func() // ends the hangup watcher's watch, before the connection closes
	ended   atomic.Bool
	queued  atomic.Int32 // sends waiting for mu, or writing
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
	timeout := WriteTimeout
	if s.ended.Load() {
		timeout = time.Second // as end allows
	}
	_ = s.conn.SetWriteDeadline(time.Now().Add(timeout))
	_, err := s.conn.Write(frame)
	return err
}

func (s *sseStream) send(m subscriptions.Message) {
	defer s.queued.Add(-1)
	if s.queued.Add(1) > MaxQueuedMessages {
		s.client.app.Logger().Debug("Realtime connection ended: it fell too far behind its messages", "clientId", s.client.Id(), "queued", MaxQueuedMessages)
		s.end()
		return
	}
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
// client sends nothing more), where watchHangup cannot.
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
// body ends as net/http would end it; the client then reconnects. Only the
// first call does anything, and a call made while ending (the broker
// discarding the connection from onEnd) returns at once.
func (s *sseStream) end() {
	if !s.ended.CompareAndSwap(false, true) {
		return
	}
	// A write stuck on a client that reads nothing gives up within a second.
	_ = s.conn.SetWriteDeadline(time.Now().Add(time.Second))
	s.mu.Lock()
	if s.chunked {
		_, _ = s.conn.Write([]byte("0\r\n\r\n"))
	}
	s.done = true
	s.idle.Stop()
	s.life.Stop()
	unwatch := s.unwatch
	s.mu.Unlock()
	if unwatch != nil {
		unwatch()
	}
	_ = s.conn.Close()
	s.cancel()
	s.app.Logger().Debug("Realtime connection closed", "clientId", s.client.Id())
	s.onEnd()
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
// a small read goroutine and two timers. It answers an error when the
// connection could not be taken over (it then ends).
func (s *Index) detach(conn *connection, e *core.RealtimeConnectRequestEvent, connected time.Time) error {
	header := e.Response.Header()
	chunked := e.Request.ProtoAtLeast(1, 1) && header.Get("Content-Length") == "" && header.Get("Transfer-Encoding") != "identity"
	if encoding := header.Get("Content-Encoding"); encoding != "" {
		return fmt.Errorf("the response is encoded (Content-Encoding: %s), which writing to the connection would bypass", encoding)
	}
	netConn, _, err := http.NewResponseController(e.Response).Hijack()
	if err != nil {
		return fmt.Errorf("taking over the connection: %w", err)
	}
	// An SSE client sends nothing after its request: whatever net/http
	// buffered beyond it is left unread.
	// The request's context ends with the stream. It is not derived from
	// the original's, which would keep PocketBase's and net/http's contexts
	// of the connection (about 800 bytes) for no value that a message needs.
	ctx, cancel := context.WithCancel(context.Background())
	stream := &sseStream{app: e.App, conn: netConn, client: conn, chunked: chunked, idleFor: e.IdleTimeout, cancel: cancel}
	event := &core.RequestEvent{App: e.App, Auth: e.Auth}
	event.Request = e.Request.WithContext(ctx)
	event.Response = stream
	event.SetAll(e.GetAll())
	stream.event = event
	stream.onEnd = func() {
		conn.markDiscarded()
		s.remove(conn)
		s.app.SubscriptionsBroker().Unregister(conn.Client.Id()) // when in the broker
		s.forget(stream)
	}
	s.keep(stream)
	// The timers start last, with the stream whole (end takes the lock).
	stream.mu.Lock()
	stream.idle = time.AfterFunc(e.IdleTimeout, stream.end)
	stream.life = time.AfterFunc(max(e.MaxTimeout-time.Since(connected), 0), stream.end)
	stream.mu.Unlock()
	if !conn.attach(stream) {
		stream.end()
		return nil // the connection was hijacked: nothing more for net/http to do
	}
	stream.mu.Lock()
	if !stream.done {
		if unwatch, ok := watchHangup(netConn, stream.end); ok {
			stream.unwatch = unwatch
		} else {
			go stream.readUntilClosed()
		}
	}
	stream.mu.Unlock()
	return nil
}

func (s *Index) keep(stream *sseStream) {
	s.streamsMu.Lock()
	s.streams[stream] = struct{}{}
	s.streamsMu.Unlock()
}

func (s *Index) forget(stream *sseStream) {
	s.streamsMu.Lock()
	delete(s.streams, stream)
	s.streamsMu.Unlock()
}

// endStreams closes every detached connection (the app is stopping: net/http
// no longer knows of them).
func (s *Index) endStreams() {
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
