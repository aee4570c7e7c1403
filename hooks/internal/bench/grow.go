package main

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"

	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

// copyData copies a stopped app's databases to another pb_data.
func copyData(from, to string) error {
	if err := os.MkdirAll(to, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"data.db", "data.db-wal", "auxiliary.db", "auxiliary.db-wal"} {
		if err := copyFile(filepath.Join(from, name), filepath.Join(to, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	return nil
}

// Kinds of the size comparison: the same webhook load on the grown data and
// on a copy of the data from before the growth, served side by side.
const (
	kindUpdatedSmall = "webhook user.updated, before the growth"
	kindUpdatedBig   = "webhook user.updated, grown"
	kindCreatedSmall = "webhook user.created, before the growth"
	kindCreatedBig   = "webhook user.created, grown"
)

// compareSizes serves smallDir (a copy of the data before the growth) next
// to the grown data and alternates user.updated and user.created between
// the two, batch by batch, so that both sizes meet the same machine: on
// shared cores, another process's load in one half of a run otherwise shows
// up as a difference between the sizes.
func (b *bench) compareSizes(smallDir string, smallClients, rounds, per int) (*report, error) {
	srv, err := loadgen.Start(b.bin, smallDir, filepath.Join(filepath.Dir(smallDir), "server-small.log"),
		[]string{"CLERK_WEBHOOK_SECRET=" + secret, "CLERK_JWT_KEY=" + b.session.publicPEM})
	if err != nil {
		return nil, err
	}
	defer srv.Stop()
	small := &served{srv: srv, url: srv.URL, clients: smallClients}
	// on runs a batch against the small server, with b's target swapped.
	on := func(kind string, n int, batch batchFunc) phase {
		b.swap(small)
		defer b.swap(small)
		return b.measure(kind, n, batch)
	}
	updates, creates := b.updates, b.creates
	// The small server is freshly started: a full batch of each first.
	on(kindUpdatedSmall, per, updates)
	b.measure(kindUpdatedBig, per, b.updates)
	on(kindCreatedSmall, per, creates)
	b.measure(kindCreatedBig, per, b.creates)
	r := &report{}
	for i := range rounds {
		// Which size goes first alternates too.
		if i%2 == 0 {
			r.add(on(kindUpdatedSmall, per, updates))
			r.add(b.measure(kindUpdatedBig, per, b.updates))
			r.add(on(kindCreatedSmall, per, creates))
			r.add(b.measure(kindCreatedBig, per, b.creates))
		} else {
			r.add(b.measure(kindUpdatedBig, per, b.updates))
			r.add(on(kindUpdatedSmall, per, updates))
			r.add(b.measure(kindCreatedBig, per, b.creates))
			r.add(on(kindCreatedSmall, per, creates))
		}
	}
	return r, nil
}

type batchFunc = func(n int) ([]*http.Request, func([]byte) bool)

// served is a server the bench can point its load at.
type served struct {
	srv     *loadgen.Server
	url     string
	clients int
}

// swap exchanges b's server, URL and seeded clients with s's.
func (b *bench) swap(s *served) {
	b.srv, s.srv = s.srv, b.srv
	b.url, s.url = s.url, b.url
	b.clients, s.clients = s.clients, b.clients
}

func printSizeComparison(r *report, small, big int) {
	r.printRows()
	fmt.Printf("\np50 with %d clients vs %d, alternated batch by batch: user.updated %.2fx, user.created %.2fx; server CPU/event %.2fx and %.2fx\n",
		big, small,
		ratio(r.get(kindUpdatedBig).p50(), r.get(kindUpdatedSmall).p50()),
		ratio(r.get(kindCreatedBig).p50(), r.get(kindCreatedSmall).p50()),
		ratio(r.get(kindUpdatedBig).cpuPerEvent(), r.get(kindUpdatedSmall).cpuPerEvent()),
		ratio(r.get(kindCreatedBig).cpuPerEvent(), r.get(kindCreatedSmall).cpuPerEvent()))
}
