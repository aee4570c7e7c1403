package hooks

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// The webhook copies SQLite's write-ahead log into the database file while
// deliveries arrive, not only in the commit that reaches 1,000 pages: with
// SQLite's own checkpoints off, the database file still takes them in.
func TestWebhookCheckpointsWhileDeliveriesArrive(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	if _, err := app.NonconcurrentDB().NewQuery("PRAGMA wal_autocheckpoint=0").Execute(); err != nil {
		t.Fatal(err)
	}
	dbFile := filepath.Join(app.DataDir(), "data.db")
	size := func() int64 {
		info, err := os.Stat(dbFile)
		if err != nil {
			t.Fatal(err)
		}
		return info.Size()
	}
	before := size()
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	for i := range 300 {
		id := fmt.Sprintf("user_wal%d", i)
		if r := deliver(t, srv.URL, "msg_"+id, clerkfake.Event(eventUserCreated, clerkfake.NewUser(id, "Ada", 1654012591514))); r.Status != 200 {
			t.Fatalf("delivery %d: %+v", i, r)
		}
	}
	// 300 clients of a few KiB each; the last checkpoint may still be copying.
	for deadline := time.Now().Add(5 * time.Second); size()-before < 512<<10; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("data.db grew by %d bytes over 300 deliveries: the write-ahead log was not copied into it", size()-before)
		}
	}
}
