// Command pocketclerk is PocketBase with Clerk users kept in a "clients"
// collection by verified webhooks.
package main

import (
	"embed"
	"fmt"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/jsvm"
	"github.com/pocketbase/pocketbase/plugins/migratecmd"
	"github.com/pocketbase/pocketbase/tools/hook"

	"github.com/pocketclerk/pocketclerk/hooks"
)

//go:embed pb_public
var publicFiles embed.FS

// gcPercent is the default GOGC: the live heap is a few MiB (SQLite's page
// caches, outside it, make up most of the memory), so letting it grow 4×
// before a collection costs little memory and spares a sixth of the
// webhook's CPU (docs/benchmarks.md). memoryLimit (GOMEMLIMIT) caps what
// that growth may take once the live heap is large, as it is with many
// realtime connections, or when garbage arrives fast (each unsigned 1 MiB
// webhook body costs svix's Verify two copies; docs/benchmarks.md, the
// unsigned flood). It bounds the Go runtime's memory only: SQLite's page
// caches and the binary's own pages come on top (about 55 MiB of the
// server's RSS under the bench's load), so 72 MiB keeps a server holding
// 1,000 realtime connections within 128 MiB. The GOGC and GOMEMLIMIT
// variables override both.
const (
	gcPercent   = 400
	memoryLimit = 72 << 20
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
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
