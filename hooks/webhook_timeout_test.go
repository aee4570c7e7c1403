package hooks

import (
	"context"
	"database/sql"
	"net/http"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// holdWriteLock takes SQLite's write lock on the app's database from
// another connection, as another process would, until the returned
// function is called.
func holdWriteLock(t *testing.T, dataDir string) (release func()) {
	t.Helper()
	db, err := sql.Open("sqlite", filepath.Join(dataDir, "data.db")+"?_pragma=busy_timeout(10000)")
	if err != nil {
		t.Fatal(err)
	}
	conn, err := db.Conn(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := conn.ExecContext(context.Background(), "BEGIN IMMEDIATE"); err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	release = func() {
		once.Do(func() {
			conn.ExecContext(context.Background(), "ROLLBACK")
			conn.Close()
			db.Close()
		})
	}
	t.Cleanup(release)
	return release
}

// TestWebhookAnswers503BeforeSvixGivesUp: with the write lock held by
// another process, deliveries are answered 503 within the timeout, not
// after the lock's wait; once it is free, Svix's retries apply each exactly
// once.
func TestWebhookAnswers503BeforeSvixGivesUp(t *testing.T) {
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, WebhookTimeout: 500 * time.Millisecond})
	release := holdWriteLock(t, app.DataDir())

	users := []string{"user_2busy0", "user_2busy1", "user_2busy2", "user_2busy3"}
	var wg sync.WaitGroup
	for i, id := range users {
		wg.Go(func() {
			started := time.Now()
			r := deliver(t, srv.URL, "msg_busy"+id, clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Busy", int64(1000+i))))
			if r.Status != http.StatusServiceUnavailable {
				t.Errorf("%s: %+v, want 503", id, r)
			}
			if d := time.Since(started); d > 3*time.Second {
				t.Errorf("%s answered after %s", id, d)
			}
		})
	}
	wg.Wait()
	release()

	// Svix retries: each is applied once, whether or not a transaction
	// that held it committed after the 503.
	deadline := time.Now().Add(15 * time.Second)
	for _, id := range users {
		for {
			r := deliver(t, srv.URL, "msg_busy"+id, clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Busy", 1000)))
			if r.Status == http.StatusOK {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: retry answered %+v", id, r)
			}
			time.Sleep(200 * time.Millisecond)
		}
		if clientOf(t, app, id) == nil {
			t.Errorf("%s has no client after the retry", id)
		}
		if n := count(t, app, migrations.EventsCollection, "svixId = 'msg_busy"+id+"'"); n != 1 {
			t.Errorf("%s logged %d times", id, n)
		}
	}
}
