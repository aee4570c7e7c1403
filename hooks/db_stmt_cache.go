package hooks

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"reflect"
	"strings"
	"sync/atomic"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	_ "modernc.org/sqlite"
)

// PocketBase runs every SQL statement through database/sql's one-shot
// Exec and Query, and the modernc driver compiles the statement again each
// time: about a seventh of the webhook's CPU went to compiling the same few
// statements. cachedSQLiteDriver is modernc's driver with the statements
// each connection runs kept compiled, by their SQL text:
//   - a statement belongs to one connection and is closed with it;
//   - each connection keeps at most maxCachedStatements, the least recently
//     used closed first;
//   - a schema change (CREATE, ALTER, DROP; a migration or a field added in
//     the dashboard) through any connection of the process empties every
//     connection's cache before its next statement. SQLite itself recompiles
//     a statement whose tables changed (sqlite3_prepare_v2), so this only
//     keeps statements of dropped tables from lingering;
//   - a statement whose rows are still being read is not reused: the same SQL
//     run again meanwhile is compiled once, as before.
const cachedSQLiteDriver = "pocketclerk_sqlite"

// maxCachedStatements bounds each connection's cache. PocketBase's own
// statements for a few collections are some dozens; the rest (filters,
// dashboard queries) come and go.
const maxCachedStatements = 128

// schemaGeneration counts schema changes made through cached connections.
var schemaGeneration atomic.Int64

func init() {
	db, _ := sql.Open("sqlite", "") // opens nothing: only to reach the registered driver
	sql.Register(cachedSQLiteDriver, stmtCacheDriver{db.Driver()})
}

type stmtCacheDriver struct {
	inner driver.Driver
}

func (d stmtCacheDriver) Open(name string) (driver.Conn, error) {
	c, err := d.inner.Open(name)
	if err != nil {
		return nil, err
	}
	inner, ok := c.(sqliteConn)
	if !ok {
		return c, nil
	}
	cc := &stmtCacheConn{sqliteConn: inner, generation: schemaGeneration.Load()}
	cc.stmts, _ = simplelru.NewLRU(maxCachedStatements, func(_ string, s *cachedStmt) { s.evict() })
	return cc, nil
}

// sqliteConn is what modernc's connection implements and the cache relies on.
type sqliteConn interface {
	driver.Conn
	driver.ConnPrepareContext
	driver.ConnBeginTx
	driver.ExecerContext
	driver.QueryerContext
	driver.Pinger
	driver.SessionResetter
	driver.Validator
}

// stmtCacheConn is used by one goroutine at a time, as database/sql
// guarantees for a driver connection.
type stmtCacheConn struct {
	sqliteConn
	stmts      *simplelru.LRU[string, *cachedStmt]
	generation int64
}

type cachedStmt struct {
	driver.Stmt
	reading bool // rows of it are open
	evicted bool // close when the rows are
}

func (s *cachedStmt) evict() {
	s.evicted = true
	if !s.reading {
		s.Stmt.Close()
	}
}

// stmt is the compiled statement for query, or nil when it must run uncached.
func (c *stmtCacheConn) stmt(ctx context.Context, query string) *cachedStmt {
	if g := schemaGeneration.Load(); g != c.generation {
		c.stmts.Purge()
		c.generation = g
	}
	if changesSchema(query) {
		c.stmts.Purge()
		c.generation = schemaGeneration.Add(1)
		return nil
	}
	if s, ok := c.stmts.Get(query); ok {
		if s.reading {
			return nil
		}
		return s
	}
	ds, err := c.sqliteConn.PrepareContext(ctx, query)
	if err != nil {
		return nil // the uncached path reports the error
	}
	s := &cachedStmt{Stmt: ds}
	c.stmts.Add(query, s)
	return s
}

func (c *stmtCacheConn) ExecContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Result, error) {
	if s := c.stmt(ctx, query); s != nil {
		return s.Stmt.(driver.StmtExecContext).ExecContext(ctx, args)
	}
	return c.sqliteConn.ExecContext(ctx, query, args)
}

func (c *stmtCacheConn) QueryContext(ctx context.Context, query string, args []driver.NamedValue) (driver.Rows, error) {
	s := c.stmt(ctx, query)
	if s == nil {
		return c.sqliteConn.QueryContext(ctx, query, args)
	}
	rows, err := s.Stmt.(driver.StmtQueryContext).QueryContext(ctx, args)
	if err != nil {
		return nil, err
	}
	s.reading = true
	return &cachedRows{Rows: rows, stmt: s}, nil
}

func (c *stmtCacheConn) Close() error {
	c.stmts.Purge() // closes each
	return c.sqliteConn.Close()
}

// cachedRows gives its statement back when closed.
type cachedRows struct {
	driver.Rows
	stmt *cachedStmt
}

func (r *cachedRows) Close() error {
	err := r.Rows.Close()
	if r.stmt != nil {
		r.stmt.reading = false
		if r.stmt.evicted {
			r.stmt.Stmt.Close()
		}
		r.stmt = nil
	}
	return err
}

// Column types, for the dashboard's SQL runner (modernc's rows have them all).

func (r *cachedRows) ColumnTypeDatabaseTypeName(i int) string {
	return r.Rows.(driver.RowsColumnTypeDatabaseTypeName).ColumnTypeDatabaseTypeName(i)
}

func (r *cachedRows) ColumnTypeLength(i int) (int64, bool) {
	return r.Rows.(driver.RowsColumnTypeLength).ColumnTypeLength(i)
}

func (r *cachedRows) ColumnTypeNullable(i int) (bool, bool) {
	return r.Rows.(driver.RowsColumnTypeNullable).ColumnTypeNullable(i)
}

func (r *cachedRows) ColumnTypePrecisionScale(i int) (int64, int64, bool) {
	return r.Rows.(driver.RowsColumnTypePrecisionScale).ColumnTypePrecisionScale(i)
}

func (r *cachedRows) ColumnTypeScanType(i int) reflect.Type {
	return r.Rows.(driver.RowsColumnTypeScanType).ColumnTypeScanType(i)
}

// changesSchema reports whether query starts with CREATE, ALTER or DROP.
func changesSchema(query string) bool {
	q := strings.TrimLeft(query, " \t\r\n")
	for _, word := range []string{"CREATE", "ALTER", "DROP"} {
		if len(q) >= len(word) && strings.EqualFold(q[:len(word)], word) {
			return true
		}
	}
	return false
}
