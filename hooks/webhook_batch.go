package hooks

import (
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
	app   core.App
	queue chan *pendingDelivery
	start sync.Once
}

type pendingDelivery struct {
	delivery
	result    outcome
	duplicate bool
	err       error
	done      chan struct{}
}

func newBatcher(app core.App) *batcher {
	return &batcher{app: app, queue: make(chan *pendingDelivery, maxBatch)}
}

// commit applies and logs d and waits until that is committed.
func (b *batcher) commit(d delivery) (outcome, bool, error) {
	b.start.Do(func() { go b.run() })
	p := &pendingDelivery{delivery: d, done: make(chan struct{})}
	b.queue <- p
	<-p.done
	return p.result, p.duplicate, p.err
}

func (b *batcher) run() {
	for p := range b.queue {
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
