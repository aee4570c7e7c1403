package hooks

import (
	"context"
	"embed"
	"errors"
	"io/fs"
	"net/http"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// SyncPath starts "clerk sync" in the server, for superusers.
const SyncPath = "/api/clerk/sync"

// statusUI is the dashboard's Clerk page, a PocketBase UI extension.
//
//go:embed status_ui
var statusUI embed.FS

// registerStatus adds the sync's health: the count of the webhook's error
// answers, GET StatusPath, POST SyncPath and the dashboard's Clerk page.
func (p *plugin) registerStatus() error {
	ui, err := fs.Sub(statusUI, "status_ui")
	if err != nil {
		return err
	}
	runs, stopRuns := context.WithCancel(context.Background())

	p.app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.Bind(p.countFailures())
		se.Router.GET(StatusPath, p.handleStatus).Bind(apis.RequireSuperuserAuth())
		se.Router.POST(SyncPath, func(e *core.RequestEvent) error {
			return p.handleSync(e, runs)
		}).Bind(apis.RequireSuperuserAuth())
		// PocketBase's dashboard runs every extension's main.js (an
		// experimental feature of v0.40): this one adds the Clerk page,
		// #/clerk, and its link in the header.
		se.UIExtensions = append(se.UIExtensions, core.UIExtension{Name: "clerk", FS: ui})
		return se.Next()
	})
	p.app.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		stopRuns()
		p.flushFailures()
		return e.Next()
	})
	return p.app.Cron().Add(failuresFlushJobID, "* * * * *", p.flushFailures)
}

// syncRequest is the body of POST SyncPath.
type syncRequest struct {
	Prune  bool `json:"prune"`
	DryRun bool `json:"dryRun"`
}

// handleSync starts "clerk sync" (--prune, --dry-run as asked; never
// --force: a prune the guard stops is for the command line, after a look)
// and answers 202 at once; GET StatusPath shows its progress and result.
func (p *plugin) handleSync(e *core.RequestEvent, runs context.Context) error {
	var req syncRequest
	if err := e.BindBody(&req); err != nil {
		return e.BadRequestError("The body must be JSON such as {\"prune\": true, \"dryRun\": true}.", err)
	}
	if p.config.SecretKey == "" {
		return e.BadRequestError("CLERK_SECRET_KEY is not set: clerk sync reads users from Clerk's Backend API with it. Set it to the secret key (sk_...) from Clerk's dashboard, API keys, and restart.", nil)
	}
	run := &syncRun{Trigger: migrations.TriggerDashboard, Prune: req.Prune, DryRun: req.DryRun, StartedAt: dateString(time.Now())}
	if !p.syncs.begin(run) {
		return e.Error(http.StatusConflict, "A Clerk sync is already running; wait for it to finish.", nil)
	}
	started := *run
	go func() {
		defer p.syncs.end()
		_, err := p.recordedSync(runs, migrations.TriggerDashboard, syncOptions{Prune: req.Prune, DryRun: req.DryRun}, nil)
		if err != nil && !errors.Is(err, context.Canceled) {
			p.app.Logger().Error("Clerk sync started from the dashboard failed", "error", err.Error())
		}
	}()
	return e.JSON(http.StatusAccepted, started)
}
