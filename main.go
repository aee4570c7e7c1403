// Command pocketclerk is PocketBase with Clerk users kept in a "clients"
// collection by verified webhooks.
package main

import (
	"embed"
	"io/fs"
	"log"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/plugins/migratecmd"
	"github.com/pocketbase/pocketbase/tools/osutils"

	"github.com/pocketclerk/pocketclerk/hooks"
	_ "github.com/pocketclerk/pocketclerk/migrations"
)

//go:embed pb_public
var publicFiles embed.FS

func main() {
	app := pocketbase.NewWithConfig(pocketbase.Config{DBConnect: dbConnect})

	migratecmd.MustRegister(app, app.RootCmd, migratecmd.Config{
		// Schema changes made in the dashboard become migration files only during development.
		Automigrate: osutils.IsProbablyGoRun(),
	})
	if err := hooks.Register(app, app.RootCmd, hooks.ConfigFromEnv()); err != nil {
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

// dbConnect is PocketBase's default connection (core.DefaultDBConnect) with
// two changes:
//   - write transactions begin as BEGIN IMMEDIATE: a transaction then waits
//     (busy_timeout) for the write lock before its first read, instead of
//     failing with SQLITE_BUSY when another process, such as "clerk sync" on
//     the same pb_data, commits after that read;
//   - each connection's page cache is 8 MiB instead of 32: PocketBase keeps
//     many connections open, and with a million clients their caches, not
//     Go's heap, made up most of the memory, at no gain in speed
//     (docs/benchmarks.md).
func dbConnect(dbPath string) (*dbx.DB, error) {
	return dbx.Open("sqlite", dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=journal_size_limit(200000000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-8000)&_defensive=1&_txlock=immediate")
}
