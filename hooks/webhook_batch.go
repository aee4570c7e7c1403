package hooks

import (
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// maxBatch bounds how many deliveries share one transaction, which keeps
// every transaction, and so the wait of the deliveries behind it, short.
const maxBatch = 32

// batcher commits the deliveries that arrive together in one transaction.
// SQLite writes through a single connection, so concurrent deliveries wait
// for it anyway; sharing a transaction spares each its own begin and commit.
// Each delivery is answered once the transaction holding it commits, before
// the work after the commit (realtime messages, hooks), which fanOut runs.
type batcher struct {
	app      core.App
	queue    chan *pendingDelivery
	start    sync.Once
	stopOnce sync.Once
	stopping chan struct{} // closed by stop
	stopped  chan struct{} // closed when run has returned, or will never run
	// checkpoints copies the write-ahead log outside the batches; run's only.
	checkpoints *checkpointer
	// fanOut runs what follows each commit, in commit order.
	fanOut *fanOut
	// hookFailed, when set, hears of the after-commit hooks that failed
	// (an owner's onRecordAfterCreateSuccess, say) for the deliveries
	// named: they are committed, and answered as applied.
	hookFailed func(svixIDs []string, err error)
	// afterCommit, when set, takes the steps of a change (afterCommitter)
	// whose delivery is committed or found applied before; fanOut runs it.
	afterCommit func(d delivery)
	// mapping is the configuration every delivery is applied with.
	mapping mappingConfig
}

// errStopping answers a delivery that arrives as the server stops; Svix
// retries it.
var errStopping = errors.New("the server is stopping")

type pendingDelivery struct {
	delivery
	result    outcome
	duplicate bool
	err       error
	done      chan struct{}
	// state is pendingQueued until the batcher takes the delivery into a
	// transaction, or its request gives up waiting (pendingAbandoned).
	state atomic.Int32
	// gaveUp is set when the request was answered 503: a delivery already
	// taken is then not tried again on its own.
	gaveUp atomic.Bool
}

const (
	pendingQueued int32 = iota
	pendingTaken
	pendingAbandoned
)

// errCommitTimeout means that a delivery could not be committed within the
// time its request may wait: the database is busy (another process holds
// the write lock, say). Svix retries it.
var errCommitTimeout = errors.New("the delivery could not be committed in time: the database is busy")

func newBatcher(app core.App) *batcher {
	return &batcher{
		app:      app,
		queue:    make(chan *pendingDelivery, maxBatch),
		fanOut:   newFanOut(),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

// commit applies and logs d and waits until that is committed, at most
// timeout: then it answers errCommitTimeout. A delivery still queued is
// then dropped, never committed; one already in a transaction may still
// commit, and Svix's retry of it is then answered as a duplicate.
func (b *batcher) commit(d delivery, timeout time.Duration) (outcome, bool, error) {
	b.start.Do(func() { go b.run() })
	p := &pendingDelivery{delivery: d, done: make(chan struct{})}
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	select {
	case b.queue <- p:
	case <-timer.C:
		return "", false, errCommitTimeout
	case <-b.stopping:
		return "", false, errStopping
	}
	select {
	case <-p.done:
		return p.result, p.duplicate, p.err
	case <-timer.C:
		p.gaveUp.Store(true)
		p.state.CompareAndSwap(pendingQueued, pendingAbandoned)
		return "", false, errCommitTimeout
	case <-b.stopped:
		select {
		case <-p.done: // committed in the last batch
			return p.result, p.duplicate, p.err
		default:
			return "", false, errStopping
		}
	}
}

// stop ends the batcher's goroutine once its current batch is committed;
// deliveries still queued are answered errStopping. It then waits, at most
// fanOutDrainTimeout, for the work after the commits. PocketBase shuts its
// HTTP server down (waiting for requests in flight) before this runs.
func (b *batcher) stop() {
	b.start.Do(func() { close(b.stopped) }) // never started: it never will
	b.stopOnce.Do(func() { close(b.stopping) })
	<-b.stopped
	b.fanOut.drain(b.app)
}

func (b *batcher) run() {
	defer close(b.stopped)
	b.checkpoints = startCheckpointer(b.app)
	defer b.checkpoints.stop()
	for {
		var first *pendingDelivery
		select {
		case first = <-b.queue:
		case <-b.stopping:
			return
		}
		var batch []*pendingDelivery
		take := func(p *pendingDelivery) {
			// A delivery whose request gave up is dropped.
			if p.state.CompareAndSwap(pendingQueued, pendingTaken) {
				batch = append(batch, p)
			}
		}
		take(first)
	fill:
		for len(batch) < maxBatch {
			select {
			case p := <-b.queue:
				take(p)
			default:
				break fill
			}
		}
		if len(batch) > 0 {
			b.commitBatch(batch)
			b.checkpoints.committed(len(batch))
		}
	}
}

func (b *batcher) commitBatch(batch []*pendingDelivery) {
	if len(batch) > 1 {
		ids := make([]string, len(batch))
		for i, p := range batch {
			ids[i] = p.SvixID
		}
		err := b.fanOut.runInTransaction(b.app, func(txApp core.App) error {
			for _, p := range batch {
				var err error
				if p.result, err = applyDelivery(txApp, p.delivery, b.mapping); err != nil {
					return err
				}
			}
			return nil
		}, ids, func(hookErr error) {
			// Committed: a failed after-commit hook is reported, and the
			// deliveries are applied all the same (trying them again one
			// by one would only find them logged).
			if hookErr != nil {
				b.reportHookFailure(ids, hookErr)
			}
			for _, p := range batch {
				b.step(p.delivery)
			}
		}, b.stopping)
		if err == nil || errors.Is(err, errStopping) {
			for _, p := range batch {
				p.err = err
				close(p.done)
			}
			return
		}
	}
	// One at a time, so that a duplicate or a failing delivery holds back
	// no other.
	for _, p := range batch {
		if p.gaveUp.Load() {
			// Answered 503 already: Svix's retry applies it.
			p.err = errCommitTimeout
			close(p.done)
			continue
		}
		b.commitOne(p)
		close(p.done)
	}
}

// commitOne applies a delivery and logs it in one transaction: a log row
// exists exactly when the effect was committed. The log's unique svixId
// index recognises a redelivery, even one racing its twin: the second
// insert fails, and its transaction, effect included, is rolled back; its
// steps after the commit are taken again, in their turn.
func (b *batcher) commitOne(p *pendingDelivery) {
	ids := []string{p.SvixID}
	p.err = b.fanOut.runInTransaction(b.app, func(txApp core.App) error {
		var err error
		p.result, err = applyDelivery(txApp, p.delivery, b.mapping)
		return err
	}, ids, func(hookErr error) {
		if hookErr != nil {
			b.reportHookFailure(ids, hookErr)
		}
		b.step(p.delivery)
	}, b.stopping)
	if errors.Is(p.err, errDuplicate) {
		p.result, p.duplicate, p.err = "", true, nil
		if _, ok := p.Change.(afterCommitter); ok {
			p.err = b.fanOut.then(b.app, ids, func() { b.step(p.delivery) }, b.stopping)
		}
	}
}

// step takes d's steps after the commit, if it has any.
func (b *batcher) step(d delivery) {
	if _, ok := d.Change.(afterCommitter); ok && b.afterCommit != nil {
		b.afterCommit(d)
	}
}

func (b *batcher) reportHookFailure(svixIDs []string, err error) {
	if b.hookFailed != nil {
		b.hookFailed(svixIDs, err)
	}
}
