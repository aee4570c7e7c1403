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

// seedClients copies the template client (written by the app itself through
// the webhook) into clients from..to-1 of a stopped app's pb_data with one
// INSERT ... SELECT, so every column holds what the app would store. This is
// test data set-up only: the app itself never writes clients with SQL.
func seedClients(dataDir, templateClerkID string, from, to int) (time.Duration, error) {
	started := time.Now()
	app := core.NewBaseApp(core.BaseAppConfig{DataDir: dataDir})
	if err := app.Bootstrap(); err != nil {
		return 0, fmt.Errorf("opening %s: %w", dataDir, err)
	}
	defer app.ClearBootstrap()
	db := app.NonconcurrentDB()

	var cols []struct {
		Name string `db:"name"`
	}
	if err := db.NewQuery("SELECT name FROM pragma_table_info('clients')").All(&cols); err != nil {
		return 0, err
	}
	override := map[string]string{
		"id":        "printf('s%014d', n)",
		"clerkId":   "printf('user_seed_%07d', n)",
		"email":     "printf('seed%07d@example.org', n)",
		"tokenKey":  "printf('seedtokenkey%038d', n)",
		"firstName": "'Seed'",
		"lastName":  "printf('%d', n)",
	}
	names, exprs := make([]string, len(cols)), make([]string, len(cols))
	for i, c := range cols {
		names[i] = "[[" + c.Name + "]]"
		exprs[i] = "t.[[" + c.Name + "]]"
		if e, ok := override[c.Name]; ok {
			exprs[i] = e
		}
	}
	q := "WITH RECURSIVE seq(n) AS (SELECT {:from} UNION ALL SELECT n+1 FROM seq WHERE n+1 < {:to}) " +
		"INSERT INTO clients (" + strings.Join(names, ", ") + ") " +
		"SELECT " + strings.Join(exprs, ", ") + " FROM seq, clients t WHERE t.clerkId = {:template}"
	err := app.RunInTransaction(func(tx core.App) error {
		res, err := tx.NonconcurrentDB().NewQuery(q).Bind(dbx.Params{"from": from, "to": to, "template": templateClerkID}).Execute()
		if err != nil {
			return err
		}
		if n, _ := res.RowsAffected(); n != int64(to-from) {
			return fmt.Errorf("seeded %d clients, want %d", n, to-from)
		}
		return nil
	})
	if err != nil {
		return 0, fmt.Errorf("seeding clients: %w", err)
	}
	return time.Since(started), nil
}
