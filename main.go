// Command pocketclerk is PocketBase with Clerk users kept in a "clients"
// collection by verified webhooks.
package main

import (
	"context"
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/plugins/migratecmd"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pocketclerk/pocketclerk/hooks"
	"github.com/pocketclerk/pocketclerk/hooks/gcheadroom"
)

//go:embed pb_public
var publicFiles embed.FS

// gcHeadroom is the garbage collector's default: GOGC 400 while the live
// heap is small, as it is for the webhook (SQLite's page caches, outside it,
// make up most of the memory), which spares a sixth of its CPU
// (docs/benchmarks.md); and at most 20 MiB of garbage beyond the live heap
// once it is large, as with thousands of realtime connections, down to
// GOGC 50: with 10,000 connections Go's default of 100 let garbage take as
// much as the connections, for no CPU saved (docs/benchmarks.md). Unlike a
// soft memory limit (GOMEMLIMIT), it never makes the collector run back to
// back under a load whose live heap is large.
// GOGC set in the environment replaces it; GOMEMLIMIT, if set, applies too.
var gcHeadroom = gcheadroom.Config{Bytes: 20 << 20, Min: 50, Max: 400, Every: time.Second}

func main() {
	if os.Getenv("GOGC") == "" {
		gcheadroom.Start(context.Background(), gcHeadroom)
	}
	// replicating: this is "serve" with a replica (REPLICA_URL or --replica),
	// known once the flags are read, before the databases are opened.
	var replicating bool
	app := pocketbase.NewWithConfig(pocketbase.Config{DBConnect: func(dbPath string) (*dbx.DB, error) {
		if replicating {
			return hooks.ReplicatedDBConnect(dbPath)
		}
		return hooks.DBConnect(dbPath)
	}})
	app.RootCmd.Version = versionString()
	app.RootCmd.Short = "PocketClerk: PocketBase with your Clerk users, organizations and memberships kept in sync"
	app.RootCmd.Long = app.RootCmd.Short + `.

Start it with "serve" (http://127.0.0.1:8090, dashboard at /_/, data in ./pb_data).

` + hooks.EnvironmentHelp

	// The flags of PocketBase's own binary (examples/base), so that pb_hooks,
	// pb_migrations and pb_public work as PocketBase's documentation says.
	var hooksDir, migrationsDir, publicDir string
	var hooksWatch, automigrate bool
	var replicaURL string
	var hooksPool int
	flags := app.RootCmd.PersistentFlags()
	flags.StringVar(&hooksDir, "hooksDir", "", "the directory with the JS app hooks (default pb_data/../pb_hooks)")
	flags.BoolVar(&hooksWatch, "hooksWatch", true, "auto restart the app on pb_hooks file change; it has no effect on Windows")
	flags.IntVar(&hooksPool, "hooksPool", 15, "the total prewarm goja.Runtime instances for the JS app hooks execution")
	flags.StringVar(&migrationsDir, "migrationsDir", "", "the directory with the user defined JS migrations (default pb_data/../pb_migrations)")
	flags.BoolVar(&automigrate, "automigrate", true, "enable/disable writing dashboard schema changes as JS migrations")
	flags.StringVar(&publicDir, "publicDir", "", "the directory to serve static files from instead of the embedded profile page")
	flags.StringVar(&replicaURL, "replica", "", "serve: replicate pb_data/data.db to this URL (s3://bucket/path or file:///path), as REPLICA_URL does")
	_ = app.RootCmd.ParseFlags(os.Args[1:]) // errors are reported when the command runs

	// jsvm watches pb_hooks only if it exists at start: "serve" creates it,
	// so that the first hook file written while serving is picked up.
	if hooksWatch && slices.Contains(os.Args[1:], "serve") {
		dir := hooksDir
		if dir == "" {
			dir = filepath.Join(app.DataDir(), "../pb_hooks")
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			fmt.Fprintln(os.Stderr, "Warning: cannot create the pb_hooks folder "+dir+" ("+err.Error()+"): hook files added while serving need a restart")
		}
	}

	// The Clerk schema stays in Go migrations (package migrations); an
	// owner's schema goes in JS migrations, applied after ours.
	jsvm.MustRegister(app, jsvm.Config{
		MigrationsDir: migrationsDir,
		HooksDir:      hooksDir,
		HooksWatch:    hooksWatch,
		HooksPoolSize: hooksPool,
	})
	migratecmd.MustRegister(app, app.RootCmd, migratecmd.Config{
		TemplateLang: migratecmd.TemplateLangJS,
		Automigrate:  automigrate,
		Dir:          migrationsDir,
	})
	config, err := hooks.ConfigFromEnv()
	if err != nil {
		exit(err)
	}
	if replicaURL != "" {
		config.ReplicaURL = replicaURL
	}
	replicating = config.ReplicaURL != "" && slices.Contains(os.Args[1:], "serve")
	if err := hooks.Register(app, app.RootCmd, config); err != nil {
		exit(err)
	}

	public, _ := fs.Sub(publicFiles, "pb_public")
	if publicDir != "" {
		public = os.DirFS(filepath.Clean(publicDir))
	}
	app.OnServe().Bind(&hook.Handler[*core.ServeEvent]{
		Func: func(se *core.ServeEvent) error {
			if !se.Router.HasRoute(http.MethodGet, "/{path...}") {
				se.Router.GET("/{path...}", apis.Static(public, false))
			}
			return se.Next()
		},
		Priority: 999, // last, so that a route of the owner's (pb_hooks) wins
	})

	if hooks.OpensNoDatabase(app.RootCmd, os.Args[1:]) {
		// PocketBase opens, and creates, the data folder before any
		// command runs; "clerk send" only posts to a server.
		err = app.RootCmd.Execute()
	} else {
		err = app.Start()
	}
	if err != nil {
		exit(err)
	}
}

// exit prints err as a plain line for the person at the terminal, not a
// log line with a timestamp, and exits with status 1.
func exit(err error) {
	fmt.Fprintln(os.Stderr, "Error: "+err.Error())
	os.Exit(1)
}
