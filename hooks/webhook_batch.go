package hooks

import (
	"errors"
	"sync"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/routine"
)

// maxBatch bounds how many deliveries share one transaction, which keeps
// every transaction, and so the wait of the deliveries behind it, short.
const maxBatch = 32

// batcher commits the deliveries that arrive together in one transaction.
// SQLite writes through a single connection, so concurrent deliveries wait
// for it anyway; sharing a transaction spares each its own begin and commit.
// Each delivery is answered only after the transaction holding it commits.
type batcher struct {
	app      core.App
	queue    chan *pendingDelivery
	start    sync.Once
	stopOnce sync.Once
	stopping chan struct{} // closed by stop
	stopped  chan struct{} // closed when run has returned, or will never run
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
}

func newBatcher(app core.App) *batcher {
	return &batcher{
		app:      app,
		queue:    make(chan *pendingDelivery, maxBatch),
		stopping: make(chan struct{}),
		stopped:  make(chan struct{}),
	}
}

// commit applies and logs d and waits until that is committed.
func (b *batcher) commit(d delivery) (outcome, bool, error) {
	b.start.Do(func() { go b.run() })
	p := &pendingDelivery{delivery: d, done: make(chan struct{})}
	select {
	case b.queue <- p:
	case <-b.stopping:
		return "", false, errStopping
	}
	select {
	case <-p.done:
	case <-b.stopped:
		select {
		case <-p.done: // committed in the last batch
		default:
			return "", false, errStopping
		}
	}
	return p.result, p.duplicate, p.err
}

// stop ends the batcher's goroutine once its current batch is committed;
// deliveries still queued are answered errStopping. PocketBase shuts its
// HTTP server down (waiting for requests in flight) before this runs.
func (b *batcher) stop() {
	b.start.Do(func() { close(b.stopped) }) // never started: it never will
	b.stopOnce.Do(func() { close(b.stopping) })
	<-b.stopped
}

func (b *batcher) run() {
	defer close(b.stopped)
	for {
		var p *pendingDelivery
		select {
		case p = <-b.queue:
		case <-b.stopping:
			return
		}
		batch := []*pendingDelivery{p}
	fill:
		for len(batch) < maxBatch {
			select {
			case p := <-b.queue:
				batch = append(batch, p)
			default:
				break fill
			}
		}
		b.commitBatch(batch)
	}
}

func (b *batcher) commitBatch(batch []*pendingDelivery) {
	if len(batch) > 1 {
		// A panic (in an app owner's record hook, say) becomes an error, as
		// PocketBase's router makes it for requests: this goroutine serves none.
		err := routine.SafeWrap(func() error {
			return b.app.RunInTransaction(func(txApp core.App) error {
				for _, p := range batch {
					var err error
					if p.result, err = applyDelivery(txApp, p.delivery); err != nil {
						return err
					}
				}
				return nil
			})
		})()
		if err == nil {
			for _, p := range batch {
				close(p.done)
			}
			return
		}
	}
	// One at a time, so that a duplicate or a failing delivery holds back
	// no other.
	for _, p := range batch {
		p.err = routine.SafeWrap(func() (err error) {
			p.result, p.duplicate, err = commitDelivery(b.app, p.delivery)
			return err
		})()
		close(p.done)
	}
}
