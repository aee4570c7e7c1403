// Command pocketclerk is PocketBase with Clerk users kept in a "clients"
// collection by verified webhooks.
package main

import (
	"embed"
	"io/fs"
	"log"
	"os"
	"runtime/debug"

	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/migratecmd"
	"github.com/pocketbase/pocketbase/tools/osutils"

	"github.com/pocketclerk/pocketclerk/hooks"
)

//go:embed pb_public
var publicFiles embed.FS

// gcPercent is the default GOGC: the live heap is a few MiB (SQLite's page
// caches, outside it, make up most of the memory), so letting it grow 4×
// before a collection costs little memory and spares a sixth of the
// webhook's CPU (docs/benchmarks.md). memoryLimit (GOMEMLIMIT) caps what
// that growth may take once the live heap is large, as it is with many
// realtime connections. The GOGC and GOMEMLIMIT variables override both.
const (
	gcPercent   = 400
	memoryLimit = 96 << 20
)

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(gcPercent)
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		debug.SetMemoryLimit(memoryLimit)
	}
	app := pocketbase.NewWithConfig(pocketbase.Config{DBConnect: hooks.DBConnect})

	migratecmd.MustRegister(app, app.RootCmd, migratecmd.Config{
		// Schema changes made in the dashboard become migration files only during development.
		Automigrate: osutils.IsProbablyGoRun(),
	})
	config, err := hooks.ConfigFromEnv()
	if err != nil {
		log.Fatal(err)
	}
	if err := hooks.Register(app, app.RootCmd, config); err != nil {
		log.Fatal(err)
	}

	public, _ := fs.Sub(publicFiles, "pb_public")
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		if !se.Router.HasRoute("GET", "/{path...}") {
			se.Router.GET("/{path...}", apis.Static(public, false))
		}
		return se.Next()
	})

	if err := app.Start(); err != nil {
		log.Fatal(err)
	}
}
