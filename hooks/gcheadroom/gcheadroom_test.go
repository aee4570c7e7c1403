package gcheadroom

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestPercentCapsTheGarbageAtLargeHeapsOnly(t *testing.T) {
	c := Config{Bytes: 64 << 20, Min: 100, Max: 400}
	for _, tc := range []struct {
		live uint64
		want int
	}{
		{0, 400},
		{4 << 20, 400},   // a webhook's heap: 4× of it is 16 MiB
		{16 << 20, 400},  // 64 MiB of garbage at most
		{32 << 20, 200},  // 64 MiB
		{64 << 20, 100},  // 64 MiB
		{256 << 20, 100}, // never below Go's default
		{1 << 40, 100},
	} {
		if got := c.Percent(tc.live); got != tc.want {
			t.Errorf("live %d MiB: GOGC %d, want %d", tc.live>>20, got, tc.want)
		}
	}
}

// Start follows the live heap: a heap larger than Bytes brings GOGC down
// from Max to what caps the garbage (here Min), and nothing changes it once
// the context ends.
func TestStartSetsGOGCFromTheLiveHeap(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(100))
	ctx, cancel := context.WithCancel(context.Background())
	Start(ctx, Config{Bytes: 1, Min: 50, Max: 300, Every: time.Millisecond})
	runtime.GC() // the live heap is known after a collection
	gogc := func() int { p := debug.SetGCPercent(-1); debug.SetGCPercent(p); return p }
	for deadline := time.Now().Add(5 * time.Second); gogc() != 50; time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("GOGC is %d, want 50 for a live heap above 1 byte", gogc())
		}
	}
	cancel()
	time.Sleep(20 * time.Millisecond) // the loop sees the end within a tick
	debug.SetGCPercent(77)
	time.Sleep(20 * time.Millisecond)
	if got := gogc(); got != 77 {
		t.Fatalf("GOGC changed to %d after the context ended", got)
	}
}
