package gcheadroom

import "testing"

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
