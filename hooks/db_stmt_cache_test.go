package hooks

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"net/http"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// openCached is a one-connection database through the caching driver.
func openCached(t *testing.T, path string) *sql.DB {
	t.Helper()
	db, err := sql.Open(cachedSQLiteDriver, path+"?_pragma=journal_mode(WAL)&_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	return db
}

// cachedCount is how many statements db's one connection keeps.
func cachedCount(t *testing.T, db *sql.DB) int {
	t.Helper()
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	n := -1
	_ = conn.Raw(func(dc any) error { n = dc.(*stmtCacheConn).stmts.Len(); return nil })
	return n
}

func columns(t *testing.T, db *sql.DB, query string) []string {
	t.Helper()
	rows, err := db.Query(query)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	cols, _ := rows.Columns()
	return cols
}

func TestStatementCacheReusesAndIsBounded(t *testing.T) {
	db := openCached(t, filepath.Join(t.TempDir(), "a.db"))
	if _, err := db.Exec("CREATE TABLE t (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	for i := range 10 {
		if _, err := db.Exec("INSERT INTO t (a) VALUES (?)", i); err != nil {
			t.Fatal(err)
		}
	}
	if n := cachedCount(t, db); n != 1 {
		t.Fatalf("%d statements cached for one INSERT run 10 times", n)
	}
	for i := range maxCachedStatements + 20 {
		var a int
		if err := db.QueryRow(fmt.Sprintf("SELECT a + %d FROM t WHERE a = ?", i), 3).Scan(&a); err != nil || a != 3+i {
			t.Fatalf("query %d: %d %v", i, a, err)
		}
	}
	if n := cachedCount(t, db); n != maxCachedStatements {
		t.Fatalf("%d statements cached, want the bound %d", n, maxCachedStatements)
	}
}

// The same SQL run again while its first rows are still being read gets
// rows of its own.
func TestStatementCacheNestedSameQuery(t *testing.T) {
	db := openCached(t, filepath.Join(t.TempDir(), "a.db"))
	if _, err := db.Exec("CREATE TABLE t (a INTEGER); INSERT INTO t VALUES (1), (2), (3)"); err != nil {
		t.Fatal(err)
	}
	tx, err := db.Begin() // one connection for both queries
	if err != nil {
		t.Fatal(err)
	}
	defer tx.Rollback()
	const q = "SELECT a FROM t WHERE a >= ? ORDER BY a"
	outer, err := tx.Query(q, 1)
	if err != nil {
		t.Fatal(err)
	}
	var got []int
	for outer.Next() {
		var a int
		outer.Scan(&a)
		var inner []int
		rows, err := tx.Query(q, a)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var b int
			rows.Scan(&b)
			inner = append(inner, b)
		}
		rows.Close()
		got = append(got, a, len(inner))
	}
	outer.Close()
	if fmt.Sprint(got) != "[1 3 2 2 3 1]" {
		t.Fatalf("outer value, inner count: %v", got)
	}
}

// A cached SELECT * sees a column added after it was compiled, whether the
// column came through this process or another.
func TestStatementCacheSeesSchemaChanges(t *testing.T) {
	path := filepath.Join(t.TempDir(), "a.db")
	db := openCached(t, path)
	if _, err := db.Exec("CREATE TABLE t (a INTEGER)"); err != nil {
		t.Fatal(err)
	}
	const q = "SELECT * FROM t"
	if cols := columns(t, db, q); len(cols) != 1 {
		t.Fatalf("columns %v", cols)
	}
	other := openCached(t, path) // another connection of this process
	if _, err := other.Exec("ALTER TABLE t ADD COLUMN b TEXT"); err != nil {
		t.Fatal(err)
	}
	if cols := columns(t, db, q); len(cols) != 2 {
		t.Fatalf("after ALTER through another cached connection: columns %v", cols)
	}
	if n := cachedCount(t, db); n != 1 {
		t.Fatalf("%d statements cached after the schema change, want only the one compiled since", n)
	}
	plain, err := sql.Open("sqlite", path) // as another process would
	if err != nil {
		t.Fatal(err)
	}
	defer plain.Close()
	if _, err := plain.Exec("ALTER TABLE t ADD COLUMN c TEXT"); err != nil {
		t.Fatal(err)
	}
	if cols := columns(t, db, q); len(cols) != 3 {
		t.Fatalf("after ALTER outside the cache: columns %v", cols)
	}
}

// An owner adds a field to clients through the collections API while
// deliveries arrive, then a migration adds another: no delivery fails, and
// the webhook's saves keep what the owner wrote in the new fields.
func TestSchemaChangesWhileDeliveriesArrive(t *testing.T) {
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	token := newSuperuserToken(t, app)

	var (
		stop   atomic.Bool
		wg     sync.WaitGroup
		failed atomic.Int64
		sent   atomic.Int64
	)
	for s := range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; !stop.Load(); i++ {
				body := userEventBody(eventUserCreated, func(u map[string]any) {
					u["id"] = fmt.Sprintf("user_%d_%d", s, i)
					u["email_addresses"], u["primary_email_address_id"] = []any{}, nil
				})
				r, err := tryDo(signedRequest(t, srv.URL, testSecret, fmt.Sprintf("msg_%d_%d", s, i), time.Now(), body))
				sent.Add(1)
				if err != nil || r.Status != 200 || r.Body["outcome"] != "created" {
					failed.Add(1)
					t.Errorf("delivery %d/%d: %+v %v", s, i, r, err)
				}
			}
		}()
	}
	for sent.Load() < 20 {
		time.Sleep(5 * time.Millisecond)
	}

	// As the dashboard does: the collection with one field more.
	r := get(t, srv.URL+"/api/collections/"+migrations.ClientsCollection, token)
	if r.Status != 200 {
		t.Fatalf("get collection: %+v", r)
	}
	col := r.Body
	col["fields"] = append(col["fields"].([]any), map[string]any{"name": "nickname", "type": "text"})
	raw, _ := json.Marshal(col)
	if r := send(t, http.MethodPatch, srv.URL+"/api/collections/"+migrations.ClientsCollection, token, string(raw)); r.Status != 200 {
		t.Fatalf("adding a field: %+v", r)
	}
	before := sent.Load()
	for sent.Load() < before+20 {
		time.Sleep(5 * time.Millisecond)
	}

	// A migration, as an app owner's would, run while deliveries continue.
	err := app.RunInTransaction(func(txApp core.App) error {
		c, err := txApp.FindCollectionByNameOrId(migrations.ClientsCollection)
		if err != nil {
			return err
		}
		c.Fields.Add(&core.TextField{Name: "team"})
		return txApp.Save(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	before = sent.Load()
	for sent.Load() < before+20 {
		time.Sleep(5 * time.Millisecond)
	}
	stop.Store(true)
	wg.Wait()
	if failed.Load() > 0 {
		t.Fatalf("%d of %d deliveries failed", failed.Load(), sent.Load())
	}

	client := clientOf(t, app, "user_0_0")
	client.Set("nickname", "Nick")
	client.Set("team", "Blue")
	if err := app.Save(client); err != nil {
		t.Fatal(err)
	}
	rename := userEventBody(eventUserUpdated, func(u map[string]any) {
		u["id"], u["updated_at"], u["first_name"] = "user_0_0", 1754012591900, "Renamed"
		u["email_addresses"], u["primary_email_address_id"] = []any{}, nil
	})
	if r := deliver(t, srv.URL, "msg_rename", rename); r.Body["outcome"] != "updated" {
		t.Fatalf("update after the schema changes: %+v", r)
	}
	got := clientOf(t, app, "user_0_0")
	if got.GetString("firstName") != "Renamed" || got.GetString("nickname") != "Nick" || got.GetString("team") != "Blue" {
		t.Fatalf("after the update: firstName %q nickname %q team %q", got.GetString("firstName"), got.GetString("nickname"), got.GetString("team"))
	}
}
