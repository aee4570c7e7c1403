package hooks

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/routine"
)

// What PocketBase runs once a transaction commits — its realtime broadcast
// (a rule check per subscription), the realtime index's hooks, the owners'
// …AfterSuccess hooks — and the changes' own steps (a session's sign-out)
// cost whatever the subscribers and hooks cost. The webhook's writer does
// not wait for it: a delivery is answered once its transaction commits, and
// the after-commit work runs in a queue of its own, in commit order.

const (
	// maxFanOutBacklog bounds the committed transactions whose after-commit
	// work has not finished (at most maxBatch deliveries each): how far
	// realtime messages and hooks may lag behind the commits, and the
	// memory their records hold. A full backlog makes the writer wait.
	maxFanOutBacklog = 64
	// fanOutDrainTimeout bounds how long stopping the server waits for the
	// backlog's after-commit work.
	fanOutDrainTimeout = 10 * time.Second
	// fanOutWaitWindow is how far back the status reports the writer's
	// longest wait.
	fanOutWaitWindow = 24 * time.Hour
)

// fanOut runs the after-commit work of the webhook's transactions in
// commit order, off the writer's goroutine. PocketBase runs a
// transaction's after-commit functions in the goroutine that ran it, so
// each transaction runs in a goroutine of its own, which tells the writer
// as soon as it has committed and then, once the transaction before it is
// done, runs that work.
type fanOut struct {
	// slots holds one token per transaction begun and not yet done: the
	// bound of the backlog.
	slots chan struct{}
	// drainTimeout bounds drain's wait (fanOutDrainTimeout).
	drainTimeout time.Duration

	mu sync.Mutex
	// tail is closed once the newest transaction is done (and so, in order,
	// every one before it); nil when none was run.
	tail chan struct{}
	// lastCommitted is closed once the newest committed transaction's work
	// is done; nil when none committed.
	lastCommitted chan struct{}
	// pending are the committed transactions whose work has not finished,
	// oldest first.
	pending []*fanOutJob
	waits   int       // times the writer waited for room, since start
	lastAt  time.Time // when the writer last waited
	// waitingSince is when the writer began waiting for room; zero when it
	// does not wait.
	waitingSince time.Time
	// longest holds the longest wait of each hour of the window in which
	// the writer waited, oldest first: at most 25, however often it waits.
	longest []fanOutWait
}

type fanOutJob struct {
	committedAt time.Time
	svixIDs     []string
	done        chan struct{} // closed once its work is done
}

// fanOutWait is a time the writer found the backlog full.
type fanOutWait struct {
	at   time.Time
	took time.Duration
}

func newFanOut() *fanOut {
	return &fanOut{slots: make(chan struct{}, maxFanOutBacklog), drainTimeout: fanOutDrainTimeout}
}

// reserve takes room for one transaction in the writer's goroutine, before
// the transaction begins (so that the writer never holds the database
// while it waits: an owner's hook in the backlog may need to write). This
// is the only place the writer waits for the fan-out: when the backlog is
// full. It answers false, without room, if stopping is closed meanwhile.
func (f *fanOut) reserve(stopping <-chan struct{}) bool {
	select {
	case f.slots <- struct{}{}:
		return true
	default:
	}
	start := time.Now()
	f.mu.Lock()
	f.waitingSince = start
	f.mu.Unlock()
	select {
	case f.slots <- struct{}{}:
	case <-stopping:
		f.noteWait(start, time.Since(start))
		return false
	}
	f.noteWait(start, time.Since(start))
	return true
}

func (f *fanOut) noteWait(at time.Time, d time.Duration) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.waitingSince = time.Time{}
	f.waits++
	f.lastAt = at
	f.pruneWaits(at)
	if n := len(f.longest); n > 0 && f.longest[n-1].at.Truncate(time.Hour).Equal(at.Truncate(time.Hour)) {
		if d > f.longest[n-1].took {
			f.longest[n-1] = fanOutWait{at: at, took: d}
		}
		return
	}
	f.longest = append(f.longest, fanOutWait{at: at, took: d})
}

// pruneWaits drops the hours that have left the window.
func (f *fanOut) pruneWaits(now time.Time) {
	i := 0
	for i < len(f.longest) && now.Sub(f.longest[i].at) > fanOutWaitWindow {
		i++
	}
	f.longest = f.longest[i:]
}

// runInTransaction runs fn in a transaction of app and returns as soon as
// it has committed, or failed (err: nothing of fn is kept). Once every
// transaction committed before it has its work done, PocketBase's
// after-commit functions run, then after(hookErr), hookErr being what
// they failed with; after runs only if the transaction committed. It
// answers errStopping, running nothing, if stopping closes while the
// backlog is full.
func (f *fanOut) runInTransaction(app core.App, fn func(txApp core.App) error, svixIDs []string,
	after func(hookErr error), stopping <-chan struct{}) error {
	if !f.reserve(stopping) {
		return errStopping
	}
	prev, done := f.push()
	committed := make(chan struct{})
	failed := make(chan error, 1)
	go func() {
		defer func() { <-f.slots }()
		defer close(done)
		job := &fanOutJob{svixIDs: svixIDs, done: done}
		signalled := false
		var hookErr error
		// A panic (in an owner's hook, say) becomes an error, as
		// PocketBase's router makes it for requests: this goroutine
		// serves none.
		err := routine.SafeWrap(func() (err error) {
			hookErr, err = runInTransactionThen(app, fn, func() {
				signalled = true
				f.committed(job)
				close(committed) // the writer goes on
				waitTurn(prev)
			})
			return err
		})()
		if signalled {
			defer f.finished(job)
			if err != nil { // a panic after the commit
				hookErr, err = err, nil
			}
		} else {
			failed <- err
			waitTurn(prev)
		}
		if err == nil {
			f.runStep(app, svixIDs, func() { after(hookErr) })
		}
	}()
	select {
	case <-committed:
		return nil
	case err := <-failed:
		return err
	}
}

// then queues work (a step of a delivery found applied before, which
// commits nothing) behind the work of every transaction run so far; it
// waits, as runInTransaction does, while the backlog is full.
func (f *fanOut) then(app core.App, svixIDs []string, work func(), stopping <-chan struct{}) error {
	if !f.reserve(stopping) {
		return errStopping
	}
	prev, done := f.push()
	job := &fanOutJob{svixIDs: svixIDs, done: done}
	f.committed(job)
	go func() {
		defer func() { <-f.slots }()
		defer close(done)
		defer f.finished(job)
		waitTurn(prev)
		f.runStep(app, svixIDs, work)
	}()
	return nil
}

// push makes a new transaction the newest: prev is closed once the one
// before it is done; done is closed once it is.
func (f *fanOut) push() (prev <-chan struct{}, done chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	prev, done = f.tail, make(chan struct{})
	f.tail = done
	return prev, done
}

// runStep runs work, which must not stop the queue: a panic is logged.
func (f *fanOut) runStep(app core.App, svixIDs []string, work func()) {
	if err := routine.SafeWrap(func() error { work(); return nil })(); err != nil {
		app.Logger().Error("A step after a Clerk delivery's commit failed; the delivery is applied",
			slog.Any("svixIds", svixIDs), slog.String("error", err.Error()))
	}
}

func waitTurn(ch <-chan struct{}) {
	if ch != nil {
		<-ch
	}
}

func (f *fanOut) committed(job *fanOutJob) {
	job.committedAt = time.Now()
	f.mu.Lock()
	f.pending = append(f.pending, job)
	f.lastCommitted = job.done
	f.mu.Unlock()
}

// finished drops job, the oldest pending one: jobs finish in commit order.
func (f *fanOut) finished(job *fanOutJob) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.pending) > 0 && f.pending[0] == job {
		f.pending[0] = nil
		f.pending = f.pending[1:]
	}
}

// drained is closed once the work of every transaction committed so far
// is done. One still waiting for the database is not waited for.
func (f *fanOut) drained() <-chan struct{} {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.lastCommitted == nil {
		ch := make(chan struct{})
		close(ch)
		return ch
	}
	return f.lastCommitted
}

// drain waits, at most drainTimeout, for the backlog's work; when that is
// too long, it logs and answers the deliveries whose work is left. The
// writer must have stopped.
func (f *fanOut) drain(app core.App) (left []string) {
	timer := time.NewTimer(f.drainTimeout)
	defer timer.Stop()
	select {
	case <-f.drained():
		return nil
	case <-timer.C:
	}
	f.mu.Lock()
	for _, job := range f.pending {
		left = append(left, job.svixIDs...)
	}
	n := len(f.pending)
	f.mu.Unlock()
	app.Logger().Error(fmt.Sprintf("Stopping: the work after %d committed Clerk transaction(s) did not finish within %s, and is dropped: their deliveries are stored and were answered, but their realtime messages and …AfterSuccess hooks may not have run (is a hook blocked?)", n, f.drainTimeout),
		slog.Any("svixIds", left))
	return left
}

// fanOutStatus is the Clerk page's view of the after-commit backlog.
type fanOutStatus struct {
	// Backlog is the committed transactions whose after-commit work
	// (realtime messages, hooks) has not finished; Bound is its maximum.
	Backlog int `json:"backlog"`
	Bound   int `json:"bound"`
	// OldestSeconds is how long ago the oldest of them committed.
	OldestSeconds float64 `json:"oldestSeconds"`
	// Waits is how many times, since the server started, the webhook's
	// writer found the backlog full and waited before its next commit; the
	// last one began at LastWaitAt.
	Waits      int    `json:"waits"`
	LastWaitAt string `json:"lastWaitAt"`
	// WaitingSeconds is how long the writer has been waiting now (0: it
	// is not).
	WaitingSeconds float64 `json:"waitingSeconds"`
	// LongestWaitSeconds is the longest of those waits in the last 24
	// hours (0: none), at LongestWaitAt.
	LongestWaitSeconds float64 `json:"longestWaitSeconds"`
	LongestWaitAt      string  `json:"longestWaitAt"`
}

func (f *fanOut) status(now time.Time) fanOutStatus {
	f.mu.Lock()
	defer f.mu.Unlock()
	s := fanOutStatus{Backlog: len(f.pending), Bound: maxFanOutBacklog, Waits: f.waits}
	if len(f.pending) > 0 {
		s.OldestSeconds = now.Sub(f.pending[0].committedAt).Seconds()
	}
	if !f.waitingSince.IsZero() {
		s.WaitingSeconds = now.Sub(f.waitingSince).Seconds()
	}
	if !f.lastAt.IsZero() {
		s.LastWaitAt = dateString(f.lastAt.UTC())
	}
	f.pruneWaits(now)
	for _, w := range f.longest {
		if w.took.Seconds() > s.LongestWaitSeconds {
			s.LongestWaitSeconds, s.LongestWaitAt = w.took.Seconds(), dateString(w.at.UTC())
		}
	}
	return s
}

// fanOutStoreKey holds, in the app's store, the webhook's fanOut: whoever
// holds the app can wait for it (waitFanOut).
const fanOutStoreKey = "pocketclerk.fanOut"

// waitFanOut waits, at most timeout, until the work after every commit of
// the webhook so far is done; it answers whether it is. An app without the
// plugin has none to wait for.
func waitFanOut(app core.App, timeout time.Duration) bool {
	f, _ := app.Store().Get(fanOutStoreKey).(*fanOut)
	if f == nil {
		return true
	}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case <-f.drained():
		return true
	case <-timer.C:
		return false
	}
}
