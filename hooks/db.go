package hooks

import (
	"database/sql"
	"path/filepath"

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
	return dbConnect(dbPath, "")
}

// ReplicatedDBConnect is DBConnect for a server that replicates data.db
// (REPLICA_URL): SQLite's automatic checkpoints are off on data.db, since
// Litestream runs them, outside the commits (replication.go).
func ReplicatedDBConnect(dbPath string) (*dbx.DB, error) {
	if filepath.Base(dbPath) != "data.db" {
		return DBConnect(dbPath)
	}
	return dbConnect(dbPath, "&_pragma=wal_autocheckpoint(0)")
}

func dbConnect(dbPath, pragmas string) (*dbx.DB, error) {
	// busy_timeout first: a connection must wait on a busy database before it sets WAL mode.
	db, err := sql.Open(cachedSQLiteDriver, dbPath+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=journal_size_limit(200000000)&_pragma=synchronous(NORMAL)&_pragma=foreign_keys(ON)&_pragma=temp_store(MEMORY)&_pragma=cache_size(-2000)&_defensive=1&_txlock=immediate"+pragmas)
	if err != nil {
		return nil, err
	}
	return dbx.NewFromDB(db, "sqlite"), nil // "sqlite": dbx picks its SQL dialect by this name
}
