package hooks

import (
	"context"

	"github.com/pocketbase/pocketbase/core"
)

// SQLite copies its write-ahead log into the database file (a checkpoint)
// within the commit that takes the log past 1,000 pages. Under a stream of
// webhooks that was one batch in every few dozen, and the deliveries queued
// behind it waited for the copy of some 4 MB and its two fsyncs. The
// batcher instead asks for a passive checkpoint every checkpointAfter
// deliveries, run in a goroutine of its own on one of PocketBase's read
// connections, so the log is copied while the next batches commit. A
// commit still checkpoints at 1,000 pages, which is what starts the log
// afresh, but finds little left to copy. Other writers (the dashboard, the
// REST API, clerk sync) are left to SQLite's automatic checkpoints, as
// before.
//
// With replication on (REPLICA_URL), Litestream runs the checkpoints
// (replication.go), and there is no checkpointer: startCheckpointer
// returns nil, whose methods do nothing.

// checkpointAfter: a Clerk event writes 4 to 12 pages (the record, its
// indexes, the delivery log), so 64 deliveries stay under 1,000.
const checkpointAfter = 64

type checkpointer struct {
	app     core.App
	written int // deliveries since the last request; the batcher's goroutine only
	wake    chan struct{}
	quit    chan struct{}
	done    chan struct{}
}

func startCheckpointer(app core.App) *checkpointer {
	if replicating(app) {
		return nil
	}
	c := &checkpointer{
		app:  app,
		wake: make(chan struct{}, 1),
		quit: make(chan struct{}),
		done: make(chan struct{}),
	}
	go c.run()
	return c
}

// committed counts n deliveries committed, and asks for a checkpoint when
// enough have been since the last request.
func (c *checkpointer) committed(n int) {
	if c == nil {
		return
	}
	c.written += n
	if c.written < checkpointAfter {
		return
	}
	c.written = 0
	select {
	case c.wake <- struct{}{}:
	default: // one is requested already, and copies these pages too
	}
}

// stop waits for a checkpoint under way.
func (c *checkpointer) stop() {
	if c == nil {
		return
	}
	close(c.quit)
	<-c.done
}

func (c *checkpointer) run() {
	defer close(c.done)
	for {
		select {
		case <-c.wake:
		case <-c.quit:
			return
		}
		// PASSIVE waits for no reader and no writer: it copies what it can.
		_, err := c.app.ConcurrentDB().NewQuery("PRAGMA wal_checkpoint(PASSIVE)").WithContext(context.Background()).Execute()
		if err != nil {
			c.app.Logger().Warn("Copying SQLite's write-ahead log (pb_data/data.db-wal) into the database failed; SQLite's automatic checkpoints still run, so nothing is lost. Check the disk's free space and pb_data's permissions.", "error", err.Error())
		}
	}
}
