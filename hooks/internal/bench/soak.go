package main

import (
	"context"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/hooks"
	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
	_ "github.com/pocketclerk/pocketclerk/migrations"
)

// runSoak serves the app in this process, so that its goroutines and heap
// can be read without adding any endpoint to the product, and keeps the
// bench load on it for d: seeded clients updated and fresh users created.
// The figures are taken with the load stopped and its connections closed.
func runSoak(d time.Duration, senders, clients int, tmpl *loadgen.Template, signer *loadgen.Signer, cpuProfile string) error {
	if clients < 1 {
		return fmt.Errorf("the soak updates seeded clients: -clients must be at least 1")
	}
	dir, err := os.MkdirTemp("", "pocketclerk-soak-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	// Keep what the served app writes with the standard logger out of the
	// figures; the out-of-process bench keeps it in its server log.
	log.SetOutput(io.Discard)

	// The connection settings of the app's own main.go.
	config := core.BaseAppConfig{DataDir: dir, DBConnect: hooks.DBConnect}
	app := core.NewBaseApp(config)
	if err := app.Bootstrap(); err != nil {
		return err
	}
	if err := hooks.Register(app, nil, hooks.Config{WebhookSecrets: []string{secret}}); err != nil {
		return err
	}
	// With a superuser, serving prints no first-run installer link.
	if err := app.RunAllMigrations(); err != nil {
		return err
	}
	superusers, err := app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		return err
	}
	su := core.NewRecord(superusers)
	su.SetEmail(superuserEmail)
	su.SetPassword(superuserPassword)
	if err := app.Save(su); err != nil {
		return err
	}
	addr, err := loadgen.FreeAddr()
	if err != nil {
		return err
	}
	go func() {
		if err := apis.Serve(app, apis.ServeConfig{HttpAddr: addr}); err != nil && err != http.ErrServerClosed {
			fmt.Fprintln(os.Stderr, "bench: serving:", err)
			os.Exit(1)
		}
	}()
	url := "http://" + addr
	client := loadgen.NewClient(senders)
	for range 200 {
		if res, err := client.Get(url + "/api/health"); err == nil {
			res.Body.Close()
			break
		}
		time.Sleep(50 * time.Millisecond)
	}

	b := &bench{url: url, tmpl: tmpl, signer: signer, client: client, senders: senders, base: time.Now().Add(-24 * time.Hour).UnixMilli()}
	if err := b.createTemplate(); err != nil {
		return err
	}
	// The app is idle: the seed's own connection is the only writer.
	took, err := seedClients(dir, templateClerkID, 0, clients)
	if err != nil {
		return err
	}
	b.clients = clients
	fmt.Fprintf(os.Stderr, "seeded %d clients in %s\n", clients, took.Round(time.Millisecond))

	// round updates n seeded clients and creates n users, as the bench does.
	round := func(n int) loadgen.Result {
		var results []loadgen.Result
		for _, batch := range []func(int) ([]*http.Request, func([]byte) bool){b.updates, b.creates} {
			reqs, _ := batch(n)
			results = append(results, loadgen.Run(context.Background(), client, senders, n, func(i int) (*http.Request, error) { return reqs[i], nil }, nil))
		}
		return loadgen.Merge(results...)
	}

	round(500) // warm-up: caches, pools, connections
	before := sample(client)

	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer pprof.StopCPUProfile()
	}
	// Whole rounds only, so that every failure is a real one.
	var all []loadgen.Result
	for end := time.Now().Add(d); time.Now().Before(end); {
		all = append(all, round(500))
	}
	load := loadgen.Merge(all...)
	after := sample(client)
	if after.goroutines > before.goroutines {
		fmt.Fprintln(os.Stderr, "More goroutines than at the start; they are:")
		_ = pprof.Lookup("goroutine").WriteTo(os.Stderr, 1)
	}

	fmt.Printf("Soak: %s at %d senders (in-process server), %d events, %d failed, %.0f events/s, p50 %s, p99 %s\n\n",
		load.Elapsed.Round(time.Second), senders, load.Requests, load.Failed, load.Rate(), ms(load.Percentile(50)), ms(load.Percentile(99)))
	fmt.Println("| | goroutines | heap in use | heap objects | RSS |")
	fmt.Println("|---|---:|---:|---:|---:|")
	for _, s := range []struct {
		name string
		s    stats
	}{{"start", before}, {"end", after}} {
		fmt.Printf("| %s | %d | %s | %d | %s |\n", s.name, s.s.goroutines, mib(int64(s.s.heapInuse/1024)), s.s.heapObjects, mib(s.s.rssKB))
	}
	return nil
}

type stats struct {
	goroutines  int
	heapInuse   uint64
	heapObjects uint64
	rssKB       int64
}

// sample waits for the load's connections to close, collects garbage and
// reads the runtime's figures.
func sample(client *http.Client) stats {
	client.CloseIdleConnections()
	time.Sleep(time.Second)
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	st, _ := loadgen.ProcStatus(os.Getpid())
	return stats{goroutines: runtime.NumGoroutine(), heapInuse: m.HeapInuse, heapObjects: m.HeapObjects, rssKB: st["VmRSS"]}
}
