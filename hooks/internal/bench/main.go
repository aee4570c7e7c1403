// Command bench measures PocketClerk's signed webhook against PocketBase's
// own REST writes of the same records, on a freshly built server, and
// prints the figures that docs/benchmarks.md records.
//
//	go run ./hooks/internal/bench                  # the default run (make bench)
//	go run ./hooks/internal/bench -grow 1000000    # then again with a million clients
//	go run ./hooks/internal/bench -soak 30s        # goroutines and heap across 30 s of load
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync/atomic"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

// secret signs the load; it is Svix's published test secret.
const secret = "whsec_plJ3nmyCDGBKInavdOK15jsl"

const (
	superuserEmail    = "bench@example.org"
	superuserPassword = "bench-password-1234"
	plainCollection   = "bench_plain"
	// stride walks the seeded clients in an order that spreads the load
	// over the whole table; it is prime, so it visits every one.
	stride = 7919
)

func main() {
	var (
		binPath  = flag.String("bin", "bin/pocketclerk", "the app binary, relative to the module root")
		build    = flag.Bool("build", true, "build the app binary first")
		events   = flag.Int("events", 6000, "webhook events per run, half user.updated and half user.created")
		rounds   = flag.Int("rounds", 6, "alternations of the webhook and its PocketBase baseline")
		senders  = flag.Int("senders", 16, "concurrent senders")
		clients  = flag.Int("clients", 1000, "existing clients before the run")
		grow     = flag.Int("grow", 0, "when set, seed up to this many clients afterwards and run the webhook again")
		rtConns  = flag.Int("realtime", 1000, "profile pages held open for the first realtime row (0: no realtime rows)")
		rtLarge  = flag.Int("realtime-large", 10000, "profile pages held open for the second realtime row (one connection each; 0: no such row)")
		soak     = flag.Duration("soak", 0, "when set, only soak an in-process server for this long and report goroutines and heap")
		cpuProf  = flag.String("cpuprofile", "", "with -soak: write a CPU profile of the soak (server and load) to this file")
		keep     = flag.Bool("keep", false, "keep the data directory and server log")
		flood    = flag.Bool("flood", false, "only run the unsigned flood (with -build=false -bin, against any binary)")
		verbose  = flag.Bool("v", false, "print every batch as it ends")
		rtOnly   = flag.Bool("realtime-only", false, "only set up and run the realtime rows")
		pprof    = flag.String("pprof", "", "serve a build of the app with net/http/pprof (bin/pocketclerk-pprof, not the product) and write its heap and goroutine profiles during the realtime rows to this directory")
		srvEnv   = flag.String("server-env", "", "comma-separated NAME=value pairs for the served app only (e.g. GOGC=200,GOMEMLIMIT=80MiB)")
		replica  = flag.String("replica", "s3", "the store of the replication rows: s3 (gofakes3 in this process) or file; empty: no replication rows")
		replOnly = flag.Bool("replication-only", false, "only set up and run the replication rows")
		memRate  = flag.Int("memprofilerate", 0, "with -pprof: the served app's runtime.MemProfileRate (1: every allocation; slows the app); 0 keeps Go's default")
	)
	flag.Parse()
	log.SetFlags(0)
	err := run(options{
		binPath: *binPath, build: *build, events: *events, rounds: *rounds, senders: *senders, clients: *clients,
		grow: *grow, realtime: *rtConns, realtimeLarge: *rtLarge, soak: *soak, cpuProfile: *cpuProf, keep: *keep, verbose: *verbose, floodOnly: *flood,
		realtimeOnly: *rtOnly, pprofDir: *pprof, memProfileRate: *memRate, serverEnv: *srvEnv,
		replica: *replica, replicationOnly: *replOnly,
	})
	if err != nil {
		log.Fatal("bench: ", err)
	}
}

type options struct {
	binPath                                string
	build, keep, verbose, floodOnly        bool
	realtimeOnly, replicationOnly          bool
	replica                                string
	pprofDir                               string
	memProfileRate                         int
	serverEnv                              string
	events, rounds, senders, clients, grow int
	realtime, realtimeLarge                int
	soak                                   time.Duration
	cpuProfile                             string
}

// run returns its errors rather than exiting, so that the server it
// started is always stopped.
func run(o options) error {
	root, err := loadgen.ModuleRoot(".")
	if err != nil {
		return err
	}
	tmpl, err := loadTemplate(root)
	if err != nil {
		return err
	}
	orgTmpl, err := loadOrgTemplate(root)
	if err != nil {
		return err
	}
	itemTmpl, err := loadItemTemplate(root)
	if err != nil {
		return err
	}
	signer, err := loadgen.NewSigner(secret)
	if err != nil {
		return err
	}
	if o.soak > 0 {
		return runSoak(o.soak, o.senders, o.clients, tmpl, signer, o.cpuProfile)
	}

	bin := filepath.Join(root, o.binPath)
	limitBin := filepath.Join(filepath.Dir(bin), "limit")
	dir, err := os.MkdirTemp("", "pocketclerk-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		log.Printf("data and server log kept in %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	var buildFlags []string
	if o.pprofDir != "" {
		if buildFlags, err = pprofOverlay(root, dir); err != nil {
			return err
		}
		if err := os.MkdirAll(o.pprofDir, 0o755); err != nil {
			return err
		}
		bin += "-pprof"
	}
	if o.build {
		log.Printf("building %s and %s", bin, limitBin)
		if err := loadgen.BuildPackage(root, bin, ".", buildFlags...); err != nil {
			return err
		}
		if err := loadgen.BuildPackage(root, limitBin, "./hooks/internal/bench/limit"); err != nil {
			return err
		}
	}

	session, err := newSessionKey()
	if err != nil {
		return err
	}
	b := &bench{
		session: session,
		bin:     bin, dataDir: filepath.Join(dir, "pb_data"), logPath: filepath.Join(dir, "server.log"),
		limitBin: limitBin, limitDir: filepath.Join(dir, "limit_data"),
		tmpl: tmpl, orgTmpl: orgTmpl, itemTmpl: itemTmpl, signer: signer, senders: o.senders, client: loadgen.NewClient(o.senders),
		base: time.Now().Add(-24 * time.Hour).UnixMilli(), verbose: o.verbose,
	}
	if o.serverEnv != "" {
		b.serverEnv = strings.Split(o.serverEnv, ",")
		fmt.Printf("served app's environment: %s\n", o.serverEnv)
	}
	if o.pprofDir != "" {
		if b.profileDir, err = filepath.Abs(o.pprofDir); err != nil {
			return err
		}
		b.memProfileRate = o.memProfileRate
	}
	defer func() {
		if b.srv != nil {
			b.srv.Stop() // the server in use at the end
		}
		if b.limit != nil {
			b.limit.Stop()
		}
	}()
	if err := b.setUp(o.clients); err != nil {
		return err
	}

	if o.floodOnly {
		fmt.Print(machine())
		b.runFlood()
		return nil
	}

	per := max(1, o.events/2/o.rounds)
	fmt.Print(machine())
	if o.realtimeOnly {
		if err := b.runRealtime(o.rounds, per, o.realtime, smallPages); err != nil {
			return err
		}
		return b.runLargeRealtime(o.rounds, per, o.realtimeLarge)
	}
	if o.replicationOnly {
		return b.compareReplication(o.replica, o.rounds, per)
	}
	fmt.Printf("\n## %d clients, %d senders, %d rounds of %d events per kind\n\n", b.clients, b.senders, o.rounds, per)
	small := b.runRounds(o.rounds, per)
	small.print()
	printOrgRatios(small)
	printBillingRatio(small)
	b.runSync(tmpl, small.get(kindCreated).res.Rate())
	b.runRefusals(per)
	b.runFlood()
	if o.replica != "" {
		if err := b.compareReplication(o.replica, o.rounds, per); err != nil {
			return err
		}
	}
	if o.realtime > 0 {
		// Rows three times longer: the rate with connections varies more
		// from row to row than the others.
		if err := b.runRealtime(o.rounds, 3*per, o.realtime, smallPages); err != nil {
			return err
		}
	}

	if o.grow > b.clients {
		// The data as it is now, served again next to the grown data below.
		smallClients, smallDir := b.clients, filepath.Join(dir, "pb_data_small")
		b.srv.Stop()
		if err := copyData(b.dataDir, smallDir); err != nil {
			return err
		}
		if err := b.growTo(o.grow); err != nil {
			return err
		}
		fmt.Printf("\n## %d clients, same load\n\n", b.clients)
		big := b.runRounds(o.rounds, per)
		big.print()
		printOrgRatios(big)
		printBillingRatio(big)
		fmt.Printf("\np50 with %d clients vs %d, one section after the other: user.updated %.2fx, user.created %.2fx; peak RSS %s vs %s\n",
			b.clients, smallClients,
			ratio(big.get(kindUpdated).p50(), small.get(kindUpdated).p50()),
			ratio(big.get(kindCreated).p50(), small.get(kindCreated).p50()),
			mib(big.peakKB()), mib(small.peakKB()))
		fmt.Printf("\n## %d clients and %d, side by side, alternating batch by batch\n\n", b.clients, smallClients)
		sizes, err := b.compareSizes(smallDir, smallClients, o.rounds, per)
		if err != nil {
			return err
		}
		printSizeComparison(sizes, smallClients, b.clients)
	}
	if o.realtime > 0 {
		return b.runLargeRealtime(o.rounds, 3*per, o.realtimeLarge)
	}
	return nil
}

// Kinds of load, in the order a round runs them: the stack's limit first,
// then each webhook kind followed by its PocketBase baseline.
const (
	kindLimitUpdated = "limit user.updated (net/http + SQLite)"
	kindLimitCreated = "limit user.created (net/http + SQLite)"
	kindUpdated      = "webhook user.updated"
	kindPatch        = "REST PATCH clients (baseline)"
	kindCreated      = "webhook user.created"
	kindPlain        = "REST create, plain collection (context)"
)

type bench struct {
	bin, dataDir, logPath string
	limitBin, limitDir    string
	tmpl                  *loadgen.Template
	orgTmpl               *loadgen.OrgTemplate
	itemTmpl              *loadgen.ItemTemplate
	signer                *loadgen.Signer
	client                *http.Client
	senders               int
	verbose               bool
	srv                   *loadgen.Server
	url                   string          // the server's base URL
	limit                 *loadgen.Server // the stack's limit, on a copy of the seeded pb_data
	session               *sessionKey     // signs the realtime connections' session tokens
	profileDir            string          // with -pprof: where the served app's profiles go
	pprofAddr             string          // with -pprof: the served app's net/http/pprof address
	memProfileRate        int             // with -pprof: the served app's runtime.MemProfileRate, when not 0
	serverEnv             []string        // -server-env
	lastTargets           []int           // the seeded clients of the last batch of updates
	token                 string

	clients int   // seeded clients, numbered 0..clients-1
	base    int64 // their Clerk updated_at (Unix ms); every change is newer
	seq     atomic.Int64
	pick    atomic.Int64 // the next seeded client to change
	fresh   atomic.Int64 // users created so far by the load
}

// setUp makes a fresh pb_data with a superuser and n clients, serves it and
// creates the plain collection of the context baseline.
func (b *bench) setUp(n int) error {
	if err := loadgen.Superuser(b.bin, b.dataDir, superuserEmail, superuserPassword); err != nil {
		return err
	}
	if err := b.start(); err != nil {
		return err
	}
	if err := b.growTo(n); err != nil {
		return err
	}
	// The fields the sync writes are refused over the REST API; the PATCH
	// baseline writes a field of the app's owner instead, added as the
	// dashboard adds one.
	var clients map[string]any
	if err := loadgen.Call(b.client, http.MethodGet, b.url+"/api/collections/clients", b.token, nil, &clients); err != nil {
		return err
	}
	clients["fields"] = append(clients["fields"].([]any), map[string]any{"name": ownerField, "type": "text"})
	if err := loadgen.Call(b.client, http.MethodPatch, b.url+"/api/collections/clients", b.token, clients, nil); err != nil {
		return err
	}
	return loadgen.Call(b.client, http.MethodPost, b.url+"/api/collections", b.token, map[string]any{
		"name": plainCollection, "type": "base",
		"fields": []map[string]any{
			{"name": "clerkId", "type": "text", "required": true},
			{"name": "email", "type": "text"},
			{"name": "firstName", "type": "text"},
			{"name": "lastName", "type": "text"},
		},
		"indexes": []string{"CREATE UNIQUE INDEX idx_bench_plain_clerkId ON " + plainCollection + " (clerkId)"},
	}, nil)
}

func (b *bench) start() error {
	env := append([]string{"CLERK_WEBHOOK_SECRET=" + secret, "CLERK_JWT_KEY=" + b.session.publicPEM}, b.serverEnv...)
	if b.profileDir != "" {
		addr, err := loadgen.FreeAddr()
		if err != nil {
			return err
		}
		b.pprofAddr = addr
		env = append(env, "POCKETCLERK_BENCH_PPROF="+addr)
		if b.memProfileRate > 0 {
			env = append(env, fmt.Sprint("POCKETCLERK_BENCH_MEMPROFILERATE=", b.memProfileRate))
		}
	}
	srv, err := loadgen.Start(b.bin, b.dataDir, b.logPath, env)
	if err != nil {
		return err
	}
	b.srv, b.url = srv, srv.URL
	b.token, err = loadgen.SuperuserToken(b.client, srv.URL, superuserEmail, superuserPassword)
	return err
}

// growTo seeds clients up to n: the first through the webhook, as a
// template; the rest copied from it with the server stopped.
func (b *bench) growTo(n int) error {
	if b.clients == 0 {
		if err := b.createTemplate(); err != nil {
			return err
		}
	}
	b.srv.Stop()
	took, err := seedClients(b.dataDir, templateClerkID, b.clients, n)
	if err != nil {
		return err
	}
	log.Printf("seeded clients %d..%d in %s", b.clients, n-1, took.Round(time.Millisecond))
	b.clients = n
	b.client.CloseIdleConnections()
	if err := b.startLimit(); err != nil {
		return err
	}
	return b.start()
}

// startLimit (re)starts the stack's limit on a copy of the stopped app's
// pb_data, so it has the same tables, indexes and clients.
func (b *bench) startLimit() error {
	if b.limit != nil {
		b.limit.Stop()
		b.limit = nil
	}
	if err := os.RemoveAll(b.limitDir); err != nil {
		return err
	}
	if err := os.MkdirAll(b.limitDir, 0o755); err != nil {
		return err
	}
	for _, name := range []string{"data.db", "data.db-wal"} {
		if err := copyFile(filepath.Join(b.dataDir, name), filepath.Join(b.limitDir, name)); err != nil && !os.IsNotExist(err) {
			return err
		}
	}
	srv, err := loadgen.Start(b.limitBin, b.limitDir, filepath.Join(filepath.Dir(b.limitDir), "limit.log"), []string{"CLERK_WEBHOOK_SECRET=" + secret})
	b.limit = srv
	return err
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.Create(to)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}

// templateClerkID is the client that seeded clients are copied from.
const templateClerkID = "user_seed_template"

// createTemplate makes the seeding template through the webhook, so that
// the app itself decides every column.
func (b *bench) createTemplate() error {
	u := loadgen.User{ID: templateClerkID, Email: "template@example.org", FirstName: "Seed", LastName: "Template", CreatedAt: b.base, UpdatedAt: b.base}
	req, err := b.signer.Request(b.url, loadgen.Delivery{SvixID: "msg_seed_template", Body: b.tmpl.Body("user.created", u)})
	if err != nil {
		return err
	}
	res, err := b.client.Do(req)
	if err != nil {
		return err
	}
	res.Body.Close()
	if res.StatusCode != 200 {
		return fmt.Errorf("the template client was not created: %s", res.Status)
	}
	return nil
}

// runRounds warms up, then runs rounds of every kind, n events each.
func (b *bench) runRounds(rounds, n int) *report {
	b.measure(kindLimitUpdated, 100, b.limitUpdates)
	b.measure(kindLimitCreated, 100, b.limitCreates)
	b.measure(kindUpdated, 100, b.updates)
	b.measure(kindPatch, 100, b.patches)
	b.measure(kindCreated, 100, b.creates)
	b.measure(kindPlain, 100, b.plainCreates)
	b.measure(kindMemberCreated, 100, b.memberCreates)
	b.measure(kindOrgCreated, 100, b.orgCreates)
	b.measure(kindItemUpdated, 100, b.itemUpdates)
	r := &report{}
	for range rounds {
		r.add(b.measure(kindLimitUpdated, n, b.limitUpdates))
		r.add(b.measure(kindLimitCreated, n, b.limitCreates))
		r.add(b.measure(kindUpdated, n, b.updates))
		r.add(b.measure(kindPatch, n, b.patches))
		r.add(b.measure(kindCreated, n, b.creates))
		r.add(b.measure(kindPlain, n, b.plainCreates))
		r.add(b.measure(kindMemberCreated, n, b.memberCreates))
		r.add(b.measure(kindOrgCreated, n, b.orgCreates))
		r.add(b.measure(kindItemUpdated, n, b.itemUpdates))
	}
	return r
}

// measure runs n requests of one kind, made beforehand so that the
// sender's own work stays out of the figures.
func (b *bench) measure(kind string, n int, batch func(n int) ([]*http.Request, func([]byte) bool)) phase {
	reqs, ok := batch(n)
	pid := b.srv.PID()
	if kind == kindLimitUpdated || kind == kindLimitCreated {
		pid = b.limit.PID()
	}
	_ = loadgen.ResetPeakRSS(pid)
	cpu0, _ := loadgen.CPUTime(pid)
	var unexpected atomic.Int64
	res := loadgen.Run(context.Background(), b.client, b.senders, n,
		func(i int) (*http.Request, error) { return reqs[i], nil },
		func(a loadgen.Answer) {
			if a.OK() && !ok(a.Body) {
				unexpected.Add(1)
			}
			if !a.OK() && unexpected.Load() < 3 {
				log.Printf("%s: %d %v %s", kind, a.Status, a.Err, a.Body)
			}
		})
	cpu1, _ := loadgen.CPUTime(pid)
	st, _ := loadgen.ProcStatus(pid)
	if b.verbose {
		log.Printf("%-40s %5d events %6.0f/s p50 %s p99 %s peak RSS %s, RSS now %s", kind, n, res.Rate(),
			ms(res.Percentile(50)), ms(res.Percentile(99)), mib(st["VmHWM"]), mib(st["VmRSS"]))
	}
	return phase{kind: kind, res: res, peakKB: st["VmHWM"], cpu: cpu1 - cpu0, unexpected: int(unexpected.Load())}
}

// nextSeeded is a seeded client and a Clerk updated_at newer than any before.
func (b *bench) nextSeeded() (int, int64) {
	return int(b.pick.Add(1)*stride) % b.clients, b.base + 1000 + b.seq.Add(1)
}

func (b *bench) updates(n int) ([]*http.Request, func([]byte) bool) { return b.updatesTo(b.url, n) }
func (b *bench) creates(n int) ([]*http.Request, func([]byte) bool) { return b.createsTo(b.url, n) }
func (b *bench) limitUpdates(n int) ([]*http.Request, func([]byte) bool) {
	return b.updatesTo(b.limit.URL, n)
}
func (b *bench) limitCreates(n int) ([]*http.Request, func([]byte) bool) {
	return b.createsTo(b.limit.URL, n)
}

func (b *bench) updatesTo(url string, n int) ([]*http.Request, func([]byte) bool) {
	reqs := make([]*http.Request, n)
	b.lastTargets = b.lastTargets[:0]
	for i := range reqs {
		c, at := b.nextSeeded()
		b.lastTargets = append(b.lastTargets, c)
		u := loadgen.User{ID: seedClerkID(c), Email: seedEmail(c), FirstName: fmt.Sprint("F", at), LastName: fmt.Sprint("L", at), CreatedAt: b.base, UpdatedAt: at}
		reqs[i] = must(b.signer.Request(url, loadgen.Delivery{SvixID: fmt.Sprint("msg_upd_", at), Body: b.tmpl.Body("user.updated", u)}))
	}
	return reqs, outcome("updated")
}

func (b *bench) createsTo(url string, n int) ([]*http.Request, func([]byte) bool) {
	reqs := make([]*http.Request, n)
	for i := range reqs {
		k := b.fresh.Add(1)
		at := b.base + 1000 + b.seq.Add(1)
		u := loadgen.User{ID: fmt.Sprintf("user_bench_%07d", k), Email: fmt.Sprintf("new%07d@example.org", k), FirstName: "New", LastName: fmt.Sprint(k), CreatedAt: at, UpdatedAt: at}
		reqs[i] = must(b.signer.Request(url, loadgen.Delivery{SvixID: fmt.Sprint("msg_new_", k), Body: b.tmpl.Body("user.created", u)}))
	}
	return reqs, outcome("created")
}

// ownerField is a field of clients that the app's owner added, which the
// REST API may write.
const ownerField = "nickname"

// patches are PocketBase's own REST update of a client (of the owner's
// field: the fields a user.updated changes are Clerk's, refused over REST).
func (b *bench) patches(n int) ([]*http.Request, func([]byte) bool) {
	reqs := make([]*http.Request, n)
	for i := range reqs {
		c, at := b.nextSeeded()
		reqs[i] = b.rest(http.MethodPatch, "/api/collections/clients/records/"+seedRecordID(c), map[string]any{
			ownerField: fmt.Sprint("N", at),
		})
	}
	return reqs, func([]byte) bool { return true }
}

func (b *bench) plainCreates(n int) ([]*http.Request, func([]byte) bool) {
	reqs := make([]*http.Request, n)
	for i := range reqs {
		k := b.seq.Add(1)
		reqs[i] = b.rest(http.MethodPost, "/api/collections/"+plainCollection+"/records", map[string]any{
			"clerkId": fmt.Sprintf("user_plain_%07d", k), "email": fmt.Sprintf("plain%07d@example.org", k), "firstName": "New", "lastName": fmt.Sprint(k),
		})
	}
	return reqs, func([]byte) bool { return true }
}

func (b *bench) rest(method, path string, body any) *http.Request {
	raw, _ := json.Marshal(body)
	req := must(http.NewRequest(method, b.url+path, bytes.NewReader(raw)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", b.token)
	return req
}

func outcome(want string) func([]byte) bool {
	return func(body []byte) bool {
		var r struct{ Outcome string }
		return json.Unmarshal(body, &r) == nil && r.Outcome == want
	}
}

func loadTemplate(root string) (*loadgen.Template, error) {
	fixture, err := os.ReadFile(filepath.Join(root, "testdata", "user.created.json"))
	if err != nil {
		return nil, err
	}
	return loadgen.NewTemplate(fixture)
}

// machine describes where the figures come from.
func machine() string {
	cpu := "unknown CPU"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if name, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(name) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
	}
	mem := ""
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		if f := strings.Fields(strings.SplitN(string(b), "\n", 2)[0]); len(f) >= 2 {
			mem = ", " + f[1] + " kB RAM"
		}
	}
	kernel, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return fmt.Sprintf("Machine: %s, %d CPUs%s, Linux %s, %s, %s\n",
		cpu, runtime.NumCPU(), mem, strings.TrimSpace(string(kernel)), runtime.Version(), time.Now().UTC().Format("2006-01-02 15:04 UTC"))
}

// must is for building requests, which fails only on a broken program.
func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}
