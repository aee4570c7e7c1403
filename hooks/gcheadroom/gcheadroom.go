// Package gcheadroom bounds the memory that Go's garbage collector lets
// garbage take, without the collection spiral of a soft memory limit.
//
// GOGC sets the garbage allowed as a multiple of the live heap: a large
// multiple is cheap when the live heap is a few MiB (a webhook's requests),
// and costly in memory when it is a hundred (ten thousand realtime
// connections). A soft limit (GOMEMLIMIT) caps the total instead, and when
// the live heap approaches it the collector runs back to back: the server
// slows many times over under a load it can carry. Headroom keeps GOGC's
// proportional cost with a cap on the garbage: after each collection, GOGC
// becomes what lets the heap grow by at most Bytes, within [Min, Max].
package gcheadroom

import (
	"context"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config is the headroom's bounds.
type Config struct {
	Bytes    uint64        // the garbage allowed beyond the live heap, once Max of it would be more
	Min, Max int           // GOGC's bounds
	Every    time.Duration // how often the live heap is read
}

// Start sets GOGC from the live heap every c.Every until ctx ends.
func Start(ctx context.Context, c Config) {
	debug.SetGCPercent(c.Max)
	sample := []metrics.Sample{{Name: "/gc/heap/live:bytes"}}
	go func() {
		ticker := time.NewTicker(c.Every)
		defer ticker.Stop()
		last := c.Max
		for {
			select {
			case <-ctx.Done():
				return
			case <-ticker.C:
			}
			metrics.Read(sample)
			if sample[0].Value.Kind() != metrics.KindUint64 {
				return // not reported by this runtime: GOGC stays at Max
			}
			if percent := c.Percent(sample[0].Value.Uint64()); percent != last {
				debug.SetGCPercent(percent)
				last = percent
			}
		}
	}()
}

// Percent is GOGC for a live heap of live bytes.
func (c Config) Percent(live uint64) int {
	if live == 0 {
		return c.Max
	}
	return int(max(min(c.Bytes*100/live, uint64(c.Max)), uint64(c.Min)))
}
