//go:build linux

package realtimeindex

import (
	"errors"
	"net"
	"sync"
	"syscall"

	"golang.org/x/sys/unix"
)

// hangupWatcher notices, in one goroutine for every detached connection of
// the process, when a client closes its connection or it fails. A goroutine
// blocked in Read per connection did that with about 2.5 KB of stack each,
// which the garbage collector scans at every cycle: 25 MB with 10,000
// connections. Each connection is registered under an id of its own rather
// than its file descriptor, which the kernel reuses once it is closed.
type hangupWatcher struct {
	epfd int

	mu      sync.Mutex
	next    uint32
	hangups map[uint32]func()
}

// hangups is the process's watcher, nil where epoll is unavailable.
var hangups = sync.OnceValue(func() *hangupWatcher {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil
	}
	w := &hangupWatcher{epfd: epfd, hangups: map[uint32]func(){}}
	go w.run()
	return w
})

// watchHangup calls hangup, once, when conn's client closes it or it fails,
// unless unwatch was called first (before conn is closed). ok is false when
// conn cannot be watched: the caller then reads it until it fails.
func watchHangup(conn net.Conn, hangup func()) (unwatch func(), ok bool) {
	w := hangups()
	if tlsConn, isTLS := conn.(interface{ NetConn() net.Conn }); isTLS {
		conn = tlsConn.NetConn()
	}
	sc, isSyscall := conn.(syscall.Conn)
	if w == nil || !isSyscall {
		return nil, false
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return nil, false
	}
	watch := &hangupWatch{w: w, raw: raw}
	w.mu.Lock()
	for w.next++; w.hangups[w.next] != nil || w.next == 0; w.next++ {
	}
	watch.id = w.next
	w.hangups[watch.id] = hangup
	w.mu.Unlock()
	// One event at most (EPOLLONESHOT): the connection is ending then.
	event := unix.EpollEvent{Events: unix.EPOLLRDHUP | unix.EPOLLHUP | unix.EPOLLERR | unix.EPOLLONESHOT, Fd: int32(watch.id)}
	var ctlErr error
	if err := raw.Control(func(fd uintptr) { ctlErr = unix.EpollCtl(w.epfd, unix.EPOLL_CTL_ADD, int(fd), &event) }); err != nil || ctlErr != nil {
		watch.forget()
		return nil, false
	}
	return watch.unwatch, true
}

// hangupWatch is one connection's registration with the watcher.
type hangupWatch struct {
	w   *hangupWatcher
	raw syscall.RawConn
	id  uint32
}

func (h *hangupWatch) forget() {
	h.w.mu.Lock()
	delete(h.w.hangups, h.id)
	h.w.mu.Unlock()
}

func (h *hangupWatch) unwatch() {
	h.forget()
	// Before the connection closes: its descriptor is then another's.
	_ = h.raw.Control(func(fd uintptr) { _ = unix.EpollCtl(h.w.epfd, unix.EPOLL_CTL_DEL, int(fd), nil) })
}

func (w *hangupWatcher) run() {
	events := make([]unix.EpollEvent, 256)
	for {
		n, err := unix.EpollWait(w.epfd, events, -1)
		if errors.Is(err, unix.EINTR) {
			continue
		}
		if err != nil {
			return // not expected of a valid epoll descriptor
		}
		for _, event := range events[:n] {
			id := uint32(event.Fd)
			w.mu.Lock()
			hangup := w.hangups[id]
			delete(w.hangups, id)
			w.mu.Unlock()
			if hangup != nil {
				go hangup()
			}
		}
	}
}
