package main

import (
	"fmt"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks"
	"github.com/pocketclerk/pocketclerk/hooks/internal/fakes3"
	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

const (
	kindUpdatedOff = "webhook user.updated, replication off"
	kindUpdatedOn  = "webhook user.updated, replication on"
	kindCreatedOff = "webhook user.created, replication off"
	kindCreatedOn  = "webhook user.created, replication on"
	// With the store stopped (s3 only).
	kindUpdatedDown    = "webhook user.updated, replication on, store down"
	kindUpdatedDownOff = "webhook user.updated, replication off (beside the store down)"
)

// compareReplication serves a copy of the data with replication on (to an
// S3 store in this process, gofakes3, or a file), beside the server as it
// is (off), and alternates their batches; during the batches with
// replication on it samples the replica's lag from the status.
func (b *bench) compareReplication(store string, rounds, per int) error {
	dir := filepath.Join(filepath.Dir(b.dataDir), "pb_data_replicated")
	b.srv.Stop()
	var err error
	if err = copyData(b.dataDir, dir); err != nil {
		return err
	}
	if err := b.start(); err != nil {
		return err
	}
	env := []string{"CLERK_WEBHOOK_SECRET=" + secret, "CLERK_JWT_KEY=" + b.session.publicPEM}
	var s3 *fakes3.Server
	switch store {
	case "s3":
		if s3, err = fakes3.New("bench"); err != nil {
			return err
		}
		defer s3.Close()
		env = append(append(env, fakes3.Env...), "REPLICA_URL="+s3.ReplicaURL("pocketclerk"))
	case "file":
		env = append(env, "REPLICA_URL=file://"+filepath.Join(filepath.Dir(b.dataDir), "replica"))
	default:
		return fmt.Errorf("-replica %q: use s3 or file", store)
	}
	srv, err := loadgen.Start(b.bin, dir, filepath.Join(filepath.Dir(dir), "server-replicated.log"), env)
	if err != nil {
		return err
	}
	defer srv.Stop()
	token, err := loadgen.SuperuserToken(b.client, srv.URL, superuserEmail, superuserPassword)
	if err != nil {
		return err
	}
	replicated := &served{srv: srv, url: srv.URL, clients: b.clients}
	var lags []float64
	on := func(kind string, n int, batch batchFunc) phase {
		b.swap(replicated)
		defer b.swap(replicated)
		stop, got := sampleLag(b.client, srv.URL, token)
		p := b.measure(kind, n, batch)
		lags = append(lags, stop()...)
		if err := got(); err != nil {
			fmt.Printf("reading the replicated server's status: %v\n", err)
		}
		return p
	}
	// The status is read as often during the batches with replication off,
	// so that its cost is on both sides.
	off := func(kind string, n int, batch batchFunc) phase {
		stop, _ := sampleLag(b.client, b.url, b.token)
		defer stop()
		return b.measure(kind, n, batch)
	}
	// The replicated server is freshly started: a full batch of each first.
	on(kindUpdatedOn, per, b.updates)
	off(kindUpdatedOff, per, b.updates)
	on(kindCreatedOn, per, b.creates)
	off(kindCreatedOff, per, b.creates)
	lags = lags[:0]
	r := &report{}
	for i := range rounds {
		if i%2 == 0 {
			r.add(on(kindUpdatedOn, per, b.updates))
			r.add(off(kindUpdatedOff, per, b.updates))
			r.add(on(kindCreatedOn, per, b.creates))
			r.add(off(kindCreatedOff, per, b.creates))
		} else {
			r.add(off(kindUpdatedOff, per, b.updates))
			r.add(on(kindUpdatedOn, per, b.updates))
			r.add(off(kindCreatedOff, per, b.creates))
			r.add(on(kindCreatedOn, per, b.creates))
		}
	}
	fmt.Printf("\n## Replication on (REPLICA_URL, %s store) and off, side by side, alternating batch by batch\n\n", store)
	r.printRows()
	rate := func(kind string) float64 { return r.get(kind).res.Rate() }
	slices.Sort(lags)
	median, worst := 0.0, 0.0
	if len(lags) > 0 {
		median, worst = lags[len(lags)/2], lags[len(lags)-1]
	}
	fmt.Printf("\nRate with replication on vs off: user.updated %.0f/s vs %.0f/s (%.2fx, target >= 0.8x: %s), user.created %.0f/s vs %.0f/s (%.2fx); replica's lag under this load, sampled every 100 ms: median %.2f s, worst %.2f s (%d samples)\n",
		rate(kindUpdatedOn), rate(kindUpdatedOff), rate(kindUpdatedOn)/rate(kindUpdatedOff), verdict(rate(kindUpdatedOn) >= 0.8*rate(kindUpdatedOff)),
		rate(kindCreatedOn), rate(kindCreatedOff), rate(kindCreatedOn)/rate(kindCreatedOff),
		median, worst, len(lags))
	if s3 == nil {
		return nil
	}

	// The store goes down: the webhook must not notice. Unmeasured batches
	// until the status says so (the S3 client retries for some seconds).
	s3.Close()
	var status struct {
		Failing    bool    `json:"failing"`
		LastError  string  `json:"lastError"`
		LagSeconds float64 `json:"lagSeconds"`
	}
	for deadline := time.Now().Add(30 * time.Second); !status.Failing && time.Now().Before(deadline); {
		on(kindUpdatedDown, per, b.updates)
		_ = loadgen.Call(b.client, http.MethodGet, srv.URL+hooks.ReplicationPath, token, nil, &status)
	}
	down := &report{}
	for i := range rounds {
		if i%2 == 0 {
			down.add(on(kindUpdatedDown, per, b.updates))
			down.add(off(kindUpdatedDownOff, per, b.updates))
		} else {
			down.add(off(kindUpdatedDownOff, per, b.updates))
			down.add(on(kindUpdatedDown, per, b.updates))
		}
	}
	_ = loadgen.Call(b.client, http.MethodGet, srv.URL+hooks.ReplicationPath, token, nil, &status)
	fmt.Printf("\n### The store stopped (the S3 server closed), same alternation\n\n")
	down.printRows()
	fmt.Printf("\nRate with the store down vs replication off: user.updated %.0f/s vs %.0f/s (%.2fx, target >= 0.8x: %s); the status says failing=%v, lag %.0f s: %.100s\n",
		down.get(kindUpdatedDown).res.Rate(), down.get(kindUpdatedDownOff).res.Rate(),
		down.get(kindUpdatedDown).res.Rate()/down.get(kindUpdatedDownOff).res.Rate(),
		verdict(down.get(kindUpdatedDown).res.Rate() >= 0.8*down.get(kindUpdatedDownOff).res.Rate()),
		status.Failing, status.LagSeconds, status.LastError)
	return nil
}

// sampleLag reads the server's replication lag every 100 ms until stop,
// which returns the samples; got says whether a read failed.
func sampleLag(client *http.Client, url, token string) (stop func() []float64, got func() error) {
	var (
		mu      sync.Mutex
		samples []float64
		lastErr error
		done    = make(chan struct{})
		wg      sync.WaitGroup
	)
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(100 * time.Millisecond)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
			}
			var status struct {
				LagSeconds float64 `json:"lagSeconds"`
			}
			err := loadgen.Call(client, http.MethodGet, url+hooks.ReplicationPath, token, nil, &status)
			mu.Lock()
			if err != nil {
				lastErr = err
			} else {
				samples = append(samples, status.LagSeconds)
			}
			mu.Unlock()
		}
	}()
	return func() []float64 {
			close(done)
			wg.Wait()
			return samples
		}, func() error {
			mu.Lock()
			defer mu.Unlock()
			return lastErr
		}
}
