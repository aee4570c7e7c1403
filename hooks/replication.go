package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/benbjohnson/litestream"
	_ "github.com/benbjohnson/litestream/file" // file:// replicas
	_ "github.com/benbjohnson/litestream/s3"   // s3:// replicas (and S3-compatible stores)
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/superfly/ltx"
)

// Replication ships every commit of pb_data/data.db to a replica (REPLICA_URL,
// or serve --replica) through Litestream's library, in the server's own
// process: there is no second program to install, start, watch or keep in
// step with the server, and it stops when the server stops, after a last
// sync. Litestream reads the write-ahead log and copies it to the replica;
// for that it must decide when the log is copied into the database, so with
// replication on the server's own checkpoints are off (SQLite's automatic
// ones on data.db, the webhook's checkpointer, PocketBase's nightly
// TRUNCATE) and Litestream's, run outside the commits, take their place.
//
// Only data.db is replicated: auxiliary.db holds PocketBase's request and
// error logs, which a restore need not bring back, and replicating it would
// double the work under the webhook's load.

// replicaSchemes are the replica URLs the binary knows: Litestream's other
// backends (Google Cloud Storage, Azure, SFTP, ...) would each bring their
// SDK into the binary.
var replicaSchemes = []string{"file", "s3"}

// Litestream's intervals: it reads the log every replicaMonitorInterval
// (a local read, which writes and fsyncs a file of the changes) and ships
// what it read at most every replicaSyncInterval (a request to the store),
// so a commit reaches the replica within about two seconds. Reading the log
// every 250 ms instead cost the webhook a fifth of its rate
// (docs/benchmarks.md).
const (
	replicaMonitorInterval = time.Second
	replicaSyncInterval    = time.Second
)

// replicaShutdownSync bounds the last sync when the server stops: a store
// that is down must not hold the stop for long.
var replicaShutdownSync = 10 * time.Second

// checkReplicaURL says what is wrong with a replica URL, in the operator's
// terms.
func checkReplicaURL(raw string) error {
	scheme, host, path, err := litestream.ParseReplicaURL(raw)
	if err != nil || !strings.Contains(raw, "://") {
		return fmt.Errorf("REPLICA_URL %q is not a replica URL: use s3://bucket/path (credentials in AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY) or file:///absolute/path", redactReplicaURL(raw))
	}
	switch scheme {
	case "file":
		if !filepath.IsAbs(path) {
			return fmt.Errorf("REPLICA_URL %q: a file replica needs an absolute path, file:///var/backups/pocketclerk", raw)
		}
	case "s3":
		if host == "" {
			return fmt.Errorf("REPLICA_URL %q names no bucket: use s3://bucket/path", redactReplicaURL(raw))
		}
	default:
		return fmt.Errorf("REPLICA_URL %q: this binary replicates to %s only, not %s://", redactReplicaURL(raw), strings.Join(replicaSchemes, ":// and ")+"://", scheme)
	}
	return nil
}

// redactReplicaURL drops what may be a secret from a replica URL (user
// information, the query's values but endpoint and region), so that it
// may be shown on the status page and in logs.
func redactReplicaURL(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unreadable URL)"
	}
	u.User = nil
	q := u.Query()
	for k := range q {
		switch k {
		case "endpoint", "region", "forcePathStyle":
		default:
			q.Set(k, "…")
		}
	}
	u.RawQuery = q.Encode()
	return u.String()
}

// replication is the running replication of data.db.
type replication struct {
	app     core.App
	display string // the replica URL without secrets
	store   *litestream.Store
	db      *litestream.DB
	replica *litestream.Replica

	mu        sync.Mutex
	lastErr   string
	lastErrAt time.Time
	shippedAt time.Time // the last file the store accepted
	// unshipped are the local positions Litestream has read from the log
	// and not yet shipped, oldest first, with when each was first seen.
	unshipped []positionSeen

	stopSampling chan struct{}
	sampling     sync.WaitGroup
}

type positionSeen struct {
	txid ltx.TXID
	at   time.Time
}

// startReplication opens Litestream on the app's data.db, replicating to
// rawURL, and returns once its first sync is under way.
func startReplication(app core.App, rawURL string) (*replication, error) {
	client, err := litestream.NewReplicaClientFromURL(rawURL)
	if err != nil {
		return nil, fmt.Errorf("REPLICA_URL %q: %w", redactReplicaURL(rawURL), err)
	}
	r := &replication{app: app, display: redactReplicaURL(rawURL), stopSampling: make(chan struct{})}

	db := litestream.NewDB(filepath.Join(app.DataDir(), "data.db"))
	db.MonitorInterval = replicaMonitorInterval
	db.ShutdownSyncTimeout = replicaShutdownSync
	replica := litestream.NewReplicaWithClient(db, &watchedClient{ReplicaClient: client, r: r})
	replica.SyncInterval = replicaSyncInterval
	db.Replica = replica

	store := litestream.NewStore([]*litestream.DB{db}, litestream.DefaultCompactionLevels)
	store.ShutdownSyncTimeout = replicaShutdownSync
	// Litestream's warnings and errors go to PocketBase's logs (the
	// dashboard's Logs), its routine messages nowhere.
	logger := slog.New(&minLevelHandler{Handler: app.Logger().Handler(), min: slog.LevelWarn}).With("component", "replication")
	store.Logger = logger
	db.SetLogger(logger)
	if err := store.Open(context.Background()); err != nil {
		if strings.Contains(err.Error(), "RootCAs") {
			err = fmt.Errorf("%w (AWS_CA_BUNDLE is set, and Litestream's S3 client cannot use it: unset it; the system's certificate store is used)", err)
		}
		return nil, fmt.Errorf("starting the replication of pb_data/data.db to %s failed: %w. Check REPLICA_URL and, for S3, the AWS_* credentials and that the bucket exists; or unset REPLICA_URL to serve without replication", r.display, err)
	}
	r.store, r.db, r.replica = store, db, replica

	r.sampling.Add(1)
	go r.sample()
	return r, nil
}

// close ships what is left (within replicaShutdownSync) and stops.
func (r *replication) close() {
	close(r.stopSampling)
	r.sampling.Wait()
	ctx, cancel := context.WithTimeout(context.Background(), replicaShutdownSync+5*time.Second)
	defer cancel()
	if err := r.store.Close(ctx); err != nil {
		r.app.Logger().Error("The last sync of pb_data/data.db to the replica failed as the server stopped: the replica misses the last changes until the server runs again with the same REPLICA_URL, which ships them.", "replica", r.display, "error", err.Error())
	}
}

// sample notes, every 100 ms, which positions are waiting to be shipped,
// so that the lag is the age of the oldest of them.
func (r *replication) sample() {
	defer r.sampling.Done()
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-r.stopSampling:
			return
		case now := <-t.C:
			local, err := r.db.Pos()
			if err != nil {
				continue
			}
			shipped := r.replica.Pos().TXID
			r.mu.Lock()
			n := 0
			for _, s := range r.unshipped {
				if s.txid > shipped {
					r.unshipped[n] = s
					n++
				}
			}
			r.unshipped = r.unshipped[:n]
			if local.TXID > shipped && (n == 0 || r.unshipped[n-1].txid < local.TXID) {
				r.unshipped = append(r.unshipped, positionSeen{txid: local.TXID, at: now})
			}
			r.mu.Unlock()
		}
	}
}

// replicationStatus is the replication's part of GET /api/clerk/status.
type replicationStatus struct {
	Enabled bool   `json:"enabled"`
	Replica string `json:"replica,omitempty"`
	// LagSeconds is the age of the oldest change read from the log and
	// not yet on the replica; 0 when the replica holds everything read.
	LagSeconds float64 `json:"lagSeconds"`
	// Position is the last transaction on the replica (Litestream's TXID).
	Position  string `json:"position,omitempty"`
	Local     string `json:"local,omitempty"`
	ShippedAt string `json:"shippedAt,omitempty"`
	// Failing: the store's last answer was an error (LastError), and it
	// has accepted no file since.
	Failing     bool   `json:"failing"`
	LastError   string `json:"lastError,omitempty"`
	LastErrorAt string `json:"lastErrorAt,omitempty"`
}

func (r *replication) status(now time.Time) replicationStatus {
	if r == nil {
		return replicationStatus{}
	}
	s := replicationStatus{Enabled: true, Replica: r.display}
	if pos := r.replica.Pos(); pos.TXID != 0 {
		s.Position = pos.TXID.String()
	}
	if local, err := r.db.Pos(); err == nil && local.TXID != 0 {
		s.Local = local.TXID.String()
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.unshipped) > 0 {
		s.LagSeconds = now.Sub(r.unshipped[0].at).Seconds()
	}
	if !r.shippedAt.IsZero() {
		s.ShippedAt = r.shippedAt.UTC().Format(time.RFC3339Nano)
	}
	if r.lastErr != "" {
		s.LastError, s.LastErrorAt = r.lastErr, r.lastErrAt.UTC().Format(time.RFC3339Nano)
		s.Failing = !r.shippedAt.After(r.lastErrAt)
	}
	return s
}

// noted records the outcome of a request to the store. The last error
// stays on the status page, with its time, after the store answers again.
// A listing that returns no error proves nothing (S3's fails as it is
// read), so only an accepted file counts as the store's answer.
func (r *replication) noted(err error, shipped bool) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case err != nil && !errors.Is(err, context.Canceled):
		r.lastErr, r.lastErrAt = err.Error(), now
	case shipped:
		r.shippedAt = now
	}
}

// watchedClient is the store's client, noting each request's outcome.
type watchedClient struct {
	litestream.ReplicaClient
	r *replication
}

func (c *watchedClient) LTXFiles(ctx context.Context, level int, seek ltx.TXID, useMetadata bool) (ltx.FileIterator, error) {
	itr, err := c.ReplicaClient.LTXFiles(ctx, level, seek, useMetadata)
	c.r.noted(err, false)
	return itr, err
}

func (c *watchedClient) WriteLTXFile(ctx context.Context, level int, minTXID, maxTXID ltx.TXID, rd io.Reader) (*ltx.FileInfo, error) {
	info, err := c.ReplicaClient.WriteLTXFile(ctx, level, minTXID, maxTXID, rd)
	c.r.noted(err, err == nil)
	return info, err
}

// minLevelHandler passes on records at min or above, each attribute that
// is not a string, number, bool or time as its text: PocketBase stores a
// log's attributes as JSON, which refuses a time.Duration (Litestream's
// "backoff"), and drops the whole record when it cannot encode one.
type minLevelHandler struct {
	slog.Handler
	min slog.Level
}

func (h *minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h *minLevelHandler) Handle(ctx context.Context, r slog.Record) error {
	plain := slog.NewRecord(r.Time, r.Level, r.Message, r.PC)
	r.Attrs(func(a slog.Attr) bool {
		plain.AddAttrs(plainAttr(a))
		return true
	})
	return h.Handler.Handle(ctx, plain)
}

func (h *minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	plain := make([]slog.Attr, len(attrs))
	for i, a := range attrs {
		plain[i] = plainAttr(a)
	}
	return &minLevelHandler{Handler: h.Handler.WithAttrs(plain), min: h.min}
}

func plainAttr(a slog.Attr) slog.Attr {
	v := a.Value.Resolve()
	switch v.Kind() {
	case slog.KindString, slog.KindInt64, slog.KindUint64, slog.KindFloat64, slog.KindBool, slog.KindTime:
		return slog.Attr{Key: a.Key, Value: v}
	case slog.KindGroup:
		group := v.Group()
		plain := make([]any, len(group))
		for i, g := range group {
			plain[i] = plainAttr(g)
		}
		return slog.Group(a.Key, plain...)
	default: // durations, errors, structs
		return slog.String(a.Key, fmt.Sprint(v.Any()))
	}
}

func (h *minLevelHandler) WithGroup(name string) slog.Handler {
	return &minLevelHandler{Handler: h.Handler.WithGroup(name), min: h.min}
}

// replicationKey marks, in the app's store, a server whose data.db
// Litestream replicates and checkpoints.
const replicationKey = "pocketclerk.replication"

// pbNightlyCheckpoint is the id of PocketBase's nightly job (core/base.go,
// v0.40.4) that runs PRAGMA wal_checkpoint(TRUNCATE) and PRAGMA optimize.
const pbNightlyCheckpoint = "__pbDBOptimize__"

// ReplicationPath answers the replication's part of the status alone
// (superusers only): cheap enough for a monitor to poll every second.
const ReplicationPath = "/api/clerk/replication"

func (p *plugin) registerReplication() {
	p.app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.GET(ReplicationPath, func(e *core.RequestEvent) error {
			return e.JSON(http.StatusOK, p.replication.Load().status(time.Now()))
		}).Bind(apis.RequireSuperuserAuth())
		return se.Next()
	})
	if p.config.ReplicaURL == "" {
		return
	}
	p.app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		r, err := startReplication(se.App, p.config.ReplicaURL)
		if err != nil {
			return err
		}
		p.replication.Store(r)
		se.App.Store().Set(replicationKey, true)
		handOverCheckpoints(se.App)
		se.App.Logger().Info("Replicating pb_data/data.db", "replica", r.display)
		return se.Next()
	})
	// Bound after the batcher's stop: the deliveries it committed last
	// are in the last sync.
	p.app.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		if r := p.replication.Swap(nil); r != nil {
			r.close()
		}
		return e.Next()
	})
}

// handOverCheckpoints replaces PocketBase's nightly job by one that keeps
// its PRAGMA optimize and drops its TRUNCATE checkpoint: that one waits for
// every reader, Litestream's held read transaction among them, and would
// hold the webhook's writes for up to the busy timeout (10 s) each night.
func handOverCheckpoints(app core.App) {
	app.Cron().Remove(pbNightlyCheckpoint)
	app.Cron().MustAdd("pocketclerkDBOptimize", "0 0 * * *", func() {
		if _, err := app.NonconcurrentDB().NewQuery("PRAGMA optimize").Execute(); err != nil {
			app.Logger().Warn("The nightly PRAGMA optimize failed; it runs again tomorrow", "error", err.Error())
		}
	})
}

// replicating tells whether Litestream owns data.db's checkpoints.
func replicating(app core.App) bool {
	return app.Store().Has(replicationKey)
}
