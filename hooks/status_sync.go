package hooks

import (
	"context"
	"io"
	"strings"
	"sync"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

const (
	// syncRunsKept runs of "clerk sync" are kept in clerk_sync_runs.
	syncRunsKept = 100
	// prunedClientsKept clients are listed in a run's record; a forced
	// prune may delete far more, which its counts still tell.
	prunedClientsKept = 1000
)

// prunedClient is a client that a prune deleted, or that a dry run would.
// A run's record names it by ids only; the email and name are for the
// terminal of "clerk sync", never stored.
type prunedClient struct {
	ID      string `json:"id"`
	ClerkID string `json:"clerkId"`
	Email   string `json:"-"`
	Name    string `json:"-"`
}

func describePruned(c *clientRecord) prunedClient {
	name := strings.TrimSpace(c.GetString(migrations.FieldFirstName) + " " + c.GetString(migrations.FieldLastName))
	if name == "" {
		name = c.GetString(migrations.FieldUsername)
	}
	return prunedClient{ID: c.Id, ClerkID: c.ClerkID(), Email: c.Email(), Name: name}
}

// syncRun is one run of "clerk sync" as the status reports it.
type syncRun struct {
	ID         string         `json:"id"`
	Trigger    string         `json:"trigger"`
	Prune      bool           `json:"prune"`
	DryRun     bool           `json:"dryRun"`
	StartedAt  string         `json:"startedAt"`
	FinishedAt string         `json:"finishedAt"`
	Counts     syncRunCounts  `json:"counts"`
	Pruned     []prunedClient `json:"pruned"`
	Error      string         `json:"error"`
	// Running is true while this server runs it; a row of another process
	// without FinishedAt is running there, or was killed.
	Running bool `json:"running"`
	// Total is how many users Clerk reported, while listing.
	Total int `json:"total,omitempty"`
}

// syncRunCounts is syncCounts as stored and served.
type syncRunCounts struct {
	Listed    int `json:"listed"`
	Created   int `json:"created"`
	Updated   int `json:"updated"`
	Unchanged int `json:"unchanged"`
	Skipped   int `json:"skipped"`
	Deleted   int `json:"deleted"`
	Failed    int `json:"failed"`
	// OrganizationsSkipped and NotPruned are syncCounts' own.
	OrganizationsSkipped string `json:"organizationsSkipped,omitempty"`
	NotPruned            string `json:"notPruned,omitempty"`
	// HookFailures counts the stored batches whose after-commit hooks failed.
	HookFailures int `json:"hookFailures,omitempty"`
}

func runCounts(c syncCounts) syncRunCounts {
	return syncRunCounts{c.Listed, c.Created, c.Updated, c.Unchanged, c.Skipped, c.Deleted, c.Failed, c.OrganizationsSkipped, c.NotPruned, c.HookFailures}
}

// syncRunner lets one sync run at a time in this server, and shows it.
type syncRunner struct {
	mu      sync.Mutex
	current *syncRun // nil when none runs
}

// begin claims the runner; false when a sync is already running.
func (r *syncRunner) begin(run *syncRun) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil {
		return false
	}
	run.Running = true
	r.current = run
	return true
}

func (r *syncRunner) update(fn func(run *syncRun)) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current != nil {
		fn(r.current)
	}
}

func (r *syncRunner) end() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.current = nil
}

// snapshot is a copy of the running sync, or nil.
func (r *syncRunner) snapshot() *syncRun {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.current == nil {
		return nil
	}
	run := *r.current
	run.Pruned = append([]prunedClient(nil), run.Pruned...)
	return &run
}

// recordedSync runs syncClients and records the run in clerk_sync_runs,
// whoever started it, so the dashboard can tell when the last one ran and
// how it went. Recording is best effort: a sync never fails for it.
func (p *plugin) recordedSync(ctx context.Context, trigger string, opts syncOptions, progress io.Writer) (syncCounts, error) {
	record := p.startSyncRecord(trigger, opts)
	var pruned []prunedClient
	opts.mapping = p.mapping
	opts.progress = func(counts syncCounts, total int) {
		p.syncs.update(func(run *syncRun) { run.Counts, run.Total = runCounts(counts), total })
	}
	tell := opts.pruned // the caller's own, if any
	opts.pruned = func(clients []prunedClient) {
		if tell != nil {
			tell(clients)
		}
		pruned = append(pruned, clients...)
		p.syncs.update(func(run *syncRun) { run.Pruned = append(run.Pruned, clients...) })
	}
	counts, err := syncClients(ctx, p.app, p.clerkConfig(), opts, progress)
	p.finishSyncRecord(record, counts, pruned, err)
	return counts, err
}

func (p *plugin) startSyncRecord(trigger string, opts syncOptions) *core.Record {
	collection, err := p.app.FindCachedCollectionByNameOrId(migrations.SyncRunsCollection)
	if err != nil {
		p.app.Logger().Warn("Cannot record the Clerk sync run", "error", err.Error())
		return nil
	}
	record := core.NewRecord(collection)
	record.Set(migrations.FieldTrigger, trigger)
	record.Set(migrations.FieldPrune, opts.Prune)
	record.Set(migrations.FieldDryRun, opts.DryRun)
	record.Set(migrations.FieldStartedAt, time.Now())
	if err := p.app.Save(record); err != nil {
		p.app.Logger().Warn("Cannot record the Clerk sync run", "error", err.Error())
		return nil
	}
	return record
}

func (p *plugin) finishSyncRecord(record *core.Record, counts syncCounts, pruned []prunedClient, syncErr error) {
	if record == nil {
		return
	}
	if len(pruned) > prunedClientsKept {
		pruned = pruned[:prunedClientsKept]
	}
	record.Set(migrations.FieldFinishedAt, time.Now())
	record.Set(migrations.FieldCounts, runCounts(counts))
	record.Set(migrations.FieldPruned, pruned)
	if syncErr != nil {
		record.Set(migrations.FieldError, truncate(syncErr.Error(), 4000))
	}
	if err := p.app.Save(record); err != nil {
		p.app.Logger().Warn("Cannot record the end of the Clerk sync run", "error", err.Error())
		return
	}
	_, err := p.app.DB().NewQuery("DELETE FROM " + migrations.SyncRunsCollection + " WHERE id NOT IN (SELECT id FROM " +
		migrations.SyncRunsCollection + " ORDER BY startedAt DESC LIMIT {:keep})").Bind(map[string]any{"keep": syncRunsKept}).Execute()
	if err != nil {
		p.app.Logger().Warn("Cannot trim the record of Clerk sync runs", "error", err.Error())
	}
}

// lastSyncRun is the newest recorded run, or nil.
func lastSyncRun(app core.App) (*syncRun, error) {
	return newestSyncRun(app, "")
}

// lastFinishedSyncRun is the newest recorded run that finished, or nil.
func lastFinishedSyncRun(app core.App) (*syncRun, error) {
	return newestSyncRun(app, migrations.FieldFinishedAt+" != ''")
}

func newestSyncRun(app core.App, filter string) (*syncRun, error) {
	records, err := app.FindRecordsByFilter(migrations.SyncRunsCollection, filter, "-"+migrations.FieldStartedAt, 1, 0)
	if err != nil || len(records) == 0 {
		return nil, err
	}
	r := records[0]
	run := &syncRun{
		ID:         r.Id,
		Trigger:    r.GetString(migrations.FieldTrigger),
		Prune:      r.GetBool(migrations.FieldPrune),
		DryRun:     r.GetBool(migrations.FieldDryRun),
		StartedAt:  r.GetString(migrations.FieldStartedAt),
		FinishedAt: r.GetString(migrations.FieldFinishedAt),
		Error:      r.GetString(migrations.FieldError),
	}
	if err := r.UnmarshalJSONField(migrations.FieldCounts, &run.Counts); err != nil {
		return nil, err
	}
	if err := r.UnmarshalJSONField(migrations.FieldPruned, &run.Pruned); err != nil {
		return nil, err
	}
	return run, nil
}
