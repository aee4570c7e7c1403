package hooks

import (
	"bytes"
	"net/http"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// waitForSync polls the status until the last sync has finished.
func waitForSync(t *testing.T, baseURL, token string) *syncRun {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		s := statusOf(t, baseURL, token)
		if run := s.LastSync; run != nil && !run.Running && run.FinishedAt != "" {
			return run
		}
		if time.Now().After(deadline) {
			t.Fatalf("the sync did not finish: %+v", s.LastSync)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestSyncFromTheDashboard(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerk(t, 30)
	srv := serve(t, app, fakeConfig(f))
	token := newSuperuserToken(t, app)

	if s := statusOf(t, srv.URL, token); s.LastSync != nil {
		t.Fatalf("a sync before any ran: %+v", s.LastSync)
	}
	r := send(t, http.MethodPost, srv.URL+SyncPath, token, `{}`)
	if r.Status != http.StatusAccepted || r.Body["trigger"] != migrations.TriggerDashboard {
		t.Fatalf("start: %+v", r)
	}
	run := waitForSync(t, srv.URL, token)
	if run.Trigger != migrations.TriggerDashboard || run.Prune || run.DryRun || run.Error != "" ||
		run.Counts != (syncRunCounts{Listed: 30, Created: 30}) {
		t.Fatalf("first sync: %+v", run)
	}
	if n := count(t, app, migrations.ClientsCollection, ""); n != 30 {
		t.Fatalf("%d clients after the sync, want 30", n)
	}

	t.Run("dry-run prune lists the clients it would delete", func(t *testing.T) {
		f.edit(func(f *fakeClerk) { f.RemoveUser("user_fake000003"); f.RemoveUser("user_fake000007") })
		ageClients(t, app, 2*time.Minute)
		if r := send(t, http.MethodPost, srv.URL+SyncPath, token, `{"prune":true,"dryRun":true}`); r.Status != http.StatusAccepted {
			t.Fatalf("start: %+v", r)
		}
		run := waitForSync(t, srv.URL, token)
		if !run.Prune || !run.DryRun || run.Counts.Deleted != 2 || len(run.Pruned) != 2 {
			t.Fatalf("dry-run prune: %+v", run)
		}
		for i, id := range []string{"user_fake000003", "user_fake000007"} {
			c := clientOf(t, app, id)
			if c == nil {
				t.Fatalf("the dry run deleted %s", id)
			}
			if p := run.Pruned[i]; p.ClerkID != id || p.ID != c.Id {
				t.Fatalf("would-be deletion %d: %+v, want %s (client %s)", i, p, id, c.Id)
			}
		}
	})

	t.Run("one at a time, its progress shown", func(t *testing.T) {
		listing, release := make(chan struct{}), make(chan struct{})
		f.edit(func(f *fakeClerk) {
			f.OnList = func(offset int) {
				if offset > 0 { // the first page is in
					listing <- struct{}{}
					<-release
				}
			}
		})
		defer waitForSync(t, srv.URL, token)
		defer f.edit(func(f *fakeClerk) { f.OnList = nil })
		f.edit(func(f *fakeClerk) {
			for i := 100; i < 100+syncPageSize; i++ { // a second page
				f.Users = append(f.Users, fakeUser(i))
			}
		})
		if r := send(t, http.MethodPost, srv.URL+SyncPath, token, `{}`); r.Status != http.StatusAccepted {
			t.Fatalf("start: %+v", r)
		}
		<-listing
		defer close(release)
		r := send(t, http.MethodPost, srv.URL+SyncPath, token, `{"prune":true}`)
		if r.Status != http.StatusConflict {
			t.Fatalf("a second sync while one runs: %+v", r)
		}
		// The first page is applied while the second downloads.
		for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			run := statusOf(t, srv.URL, token).LastSync
			if run != nil && run.Running && run.Counts.Listed == syncPageSize && run.Total == 28+syncPageSize {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the running sync's progress: %+v", run)
			}
		}
	})

	t.Run("a failed run keeps its error", func(t *testing.T) {
		f.Fail(fakeFailure{Status: http.StatusUnauthorized})
		send(t, http.MethodPost, srv.URL+SyncPath, token, `{}`)
		run := waitForSync(t, srv.URL, token)
		if run.Error == "" {
			t.Fatalf("a failed sync has no error: %+v", run)
		}
	})
}

func TestSyncRunsOfTheCommandAreRecorded(t *testing.T) {
	app := newTestApp(t)
	f := newFakeClerk(t, 5)
	root := &cobra.Command{Use: "pocketclerk"}
	if err := Register(app, root, fakeConfig(f)); err != nil {
		t.Fatal(err)
	}
	root.SetOut(&bytes.Buffer{})
	root.SetArgs([]string{"clerk", "sync"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	run, err := lastSyncRun(app)
	if err != nil || run == nil {
		t.Fatalf("no recorded run: %v", err)
	}
	if run.Trigger != migrations.TriggerCommand || run.FinishedAt == "" || run.Counts.Created != 5 || run.Error != "" {
		t.Fatalf("recorded run: %+v", run)
	}
}
