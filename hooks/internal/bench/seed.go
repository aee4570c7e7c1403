package main

import (
	"fmt"
	"strings"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
)

// Seeded clients are numbered; these give each one its identity, so the
// load can address any of them without asking the server.
func seedClerkID(n int) string { return fmt.Sprintf("user_seed_%07d", n) }
func seedEmail(n int) string   { return fmt.Sprintf("seed%07d@example.org", n) }
func seedRecordID(n int) string {
	return fmt.Sprintf("s%014d", n) // PocketBase ids: 15 characters of [a-z0-9]
}

// seedChunk is how many clients one transaction seeds. A client row holds
// the whole stored Clerk user (a few KiB), so one transaction for a million
// would grow the WAL by gigabytes before its checkpoint.
const seedChunk = 50_000

// seedClients copies the template client (written by the app itself through
// the webhook) into clients from..to-1 of a stopped app's pb_data, so every
// column holds what the app would store, with each client's own identity
// (record id, Clerk id, email, token key, last name) in place of the
// template's wherever the template's appears, the stored Clerk user and
// the identifier lists included. This is test data set-up only: the app
// itself never writes clients with SQL.
//
// The template row is first copied to a temporary table: an INSERT ...
// SELECT from clients into itself makes SQLite materialise the whole result
// before inserting (in memory, with PocketBase's temp_store), which a
// million rows holding stored Clerk users do not fit.
func seedClients(dataDir, templateClerkID string, from, to int) (time.Duration, error) {
	started := time.Now()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dataDir})
	if err := app.Bootstrap(); err != nil {
		return 0, fmt.Errorf("opening %s: %w", dataDir, err)
	}
	defer app.ClearBootstrap()
	db := app.NonconcurrentDB() // one connection: the temporary table stays visible

	var cols []struct {
		Name string `db:"name"`
	}
	if err := db.NewQuery("SELECT name FROM pragma_table_info('clients')").All(&cols); err != nil {
		return 0, err
	}
	tmpl := dbx.NullStringMap{}
	if err := db.NewQuery("SELECT * FROM clients WHERE clerkId = {:template}").Bind(dbx.Params{"template": templateClerkID}).One(tmpl); err != nil {
		return 0, fmt.Errorf("reading the template client: %w", err)
	}
	if _, err := db.NewQuery("DROP TABLE IF EXISTS temp.seed_template").Execute(); err != nil {
		return 0, err
	}
	if _, err := db.NewQuery("CREATE TEMP TABLE seed_template AS SELECT * FROM clients WHERE clerkId = {:template}").
		Bind(dbx.Params{"template": templateClerkID}).Execute(); err != nil {
		return 0, err
	}
	defer db.NewQuery("DROP TABLE IF EXISTS temp.seed_template").Execute()

	// Each client's own values; n is the client's number.
	override := map[string]string{
		"id":       "printf('s%014d', n)",
		"clerkId":  "printf('user_seed_%07d', n)",
		"email":    "printf('seed%07d@example.org', n)",
		"tokenKey": "printf('seedtokenkey%038d', n)",
		"lastName": "printf('%d', n)",
	}
	// The template's identity inside other columns (the stored Clerk user,
	// the identifier lists) is replaced by the client's.
	tmplEmail, tmplLastName := tmpl["email"].String, fmt.Sprintf("%q:%q", "last_name", tmpl["lastName"].String)
	identity := func(expr string) string {
		expr = "replace(" + expr + ", {:tmplEmail}, printf('seed%07d@example.org', n))"
		expr = "replace(" + expr + ", {:template}, printf('user_seed_%07d', n))"
		return "replace(" + expr + ", {:tmplLastName}, printf('\"last_name\":\"%d\"', n))"
	}
	names, exprs := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		names[i] = "[[" + c.Name + "]]"
		exprs[i] = "t.[[" + c.Name + "]]"
		if e, ok := override[c.Name]; ok {
			exprs[i] = e
		} else if v := tmpl[c.Name].String; strings.Contains(v, templateClerkID) || strings.Contains(v, tmplEmail) || strings.Contains(v, tmplLastName) {
			exprs[i] = identity(exprs[i])
		}
	}
	q := "WITH RECURSIVE seq(n) AS (SELECT {:from} UNION ALL SELECT n+1 FROM seq WHERE n+1 < {:to}) " +
		"INSERT INTO clients (" + strings.Join(names, ", ") + ") " +
		"SELECT " + strings.Join(exprs, ", ") + " FROM seq, temp.seed_template t"
	params := dbx.Params{"template": templateClerkID, "tmplEmail": tmplEmail, "tmplLastName": tmplLastName}
	for lo := from; lo < to; lo += seedChunk {
		hi := min(lo+seedChunk, to)
		params["from"], params["to"] = lo, hi
		err := app.RunInTransaction(func(tx core.App) error {
			res, err := tx.NonconcurrentDB().NewQuery(q).Bind(params).Execute()
			if err != nil {
				return err
			}
			if n, _ := res.RowsAffected(); n != int64(hi-lo) {
				return fmt.Errorf("seeded %d clients, want %d", n, hi-lo)
			}
			return nil
		})
		if err != nil {
			return 0, fmt.Errorf("seeding clients %d..%d: %w", lo, hi-1, err)
		}
	}
	// The WAL emptied into the database file, which the stack's limit copies.
	if _, err := db.NewQuery("PRAGMA wal_checkpoint(TRUNCATE)").Execute(); err != nil {
		return 0, fmt.Errorf("checkpointing after the seed: %w", err)
	}
	return time.Since(started), nil
}
