package hooks

import (
	"database/sql"

	"github.com/pocketbase/dbx"
)

// DBConnect opens PocketBase's SQLite databases as core.DefaultDBConnect
// does (its pragmas copied from core/db_connect.go, v0.40.4), with three
// changes; pass it as pocketbase.Config.DBConnect:
//   - write transactions begin as BEGIN IMMEDIATE: a transaction then waits
//     (busy_timeout) for the write lock before its first read, instead of
//     failing with SQLITE_BUSY when another process, such as "clerk sync" on
//     the same pb_data, commits after that read;
//   - each connection's page cache is 2 MiB (SQLite's default) instead of
//     32: PocketBase keeps many connections open, and their caches, not Go's
//     heap, made up most of the memory, at no gain in speed, even with a
//     million clients (docs/benchmarks.md);
//   - each connection keeps the statements it runs compiled
//     (cachedSQLiteDriver).
func DBConnect(dbPath string) (*dbx.DB, error) {
	// busy_timeout first: a connection must wait on a busy database before it sets WAL mode.
	db, err := sql.Open(cachedSQLiteDriver, dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=journal_size_limit(200000000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-2000)&_defensive=1&_txlock=immediate")
	if err != nil {
		return nil, err
	}
	return dbx.NewFromDB(db, "sqlite"), nil // "sqlite": dbx picks its SQL dialect by this name
}
