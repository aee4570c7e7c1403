package hooks

import (
	"context"
	"testing"
	"time"
)

// BenchmarkSync measures "clerk sync" in users/s against a local fake
// Backend API holding 10,000 users: "backfill" into an empty database, then
// "repeat", a second sync that finds nothing to change. The key is a
// production one (sk_live_): a development instance's rate limit alone
// caps the sync near 2,250 users/s (two requests per page of 500).
//
//	go test ./hooks -run '^$' -bench BenchmarkSync -benchtime 1x
func BenchmarkSync(b *testing.B) {
	const users = 10000
	f := newFakeClerk(b, users)
	f.Key = "sk_live_bench"
	cfg := (&plugin{config: fakeConfig(f)}).clerkConfig()

	measure := func(b *testing.B, repeat bool) {
		var elapsed time.Duration
		for range b.N {
			b.StopTimer()
			app := newTestApp(b)
			// The app's own hooks, as in "clerk sync": the lean client saves among them.
			if err := Register(app, nil, fakeConfig(f)); err != nil {
				b.Fatal(err)
			}
			if repeat {
				if _, err := syncClients(context.Background(), app, cfg, syncOptions{}, nil); err != nil {
					b.Fatal(err)
				}
			}
			b.StartTimer()
			started := time.Now()
			counts, err := syncClients(context.Background(), app, cfg, syncOptions{Prune: repeat}, nil)
			elapsed += time.Since(started)
			if err != nil {
				b.Fatal(err)
			}
			if want := map[bool]int{false: counts.Created, true: counts.Unchanged}[repeat]; want != users {
				b.Fatalf("counts %+v", counts)
			}
		}
		b.ReportMetric(float64(users*b.N)/elapsed.Seconds(), "users/s")
	}
	b.Run("backfill", func(b *testing.B) { measure(b, false) })
	b.Run("repeat", func(b *testing.B) { measure(b, true) })
}
