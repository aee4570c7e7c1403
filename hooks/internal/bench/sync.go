package main

import (
	"fmt"
	"log"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

// syncUsers is how many users the fake Backend API holds for "clerk sync".
const syncUsers = 10_000

// syncKey is a production key: the sync paces its requests to a production
// instance's rate limit (a development key's is ten times lower, and would
// be what the figure measures).
const syncKey = "sk_live_bench"

// runSync times "clerk sync" against a fake Backend API on loopback while
// the server keeps serving the same pb_data. It is skipped, with a note,
// when the binary has no such command.
func (b *bench) runSync(tmpl *loadgen.Template, createdRate float64) {
	help, _ := exec.Command(b.bin, "clerk", "--help").CombinedOutput()
	if !strings.Contains(string(help), "sync") {
		fmt.Println("\nclerk sync: this binary has no \"clerk sync\" command; not measured")
		return
	}
	users := make([]loadgen.User, syncUsers)
	for i := range users {
		at := b.base + 1000 + b.seq.Add(1)
		users[i] = loadgen.User{ID: fmt.Sprintf("user_sync_%07d", i), Email: fmt.Sprintf("sync%07d@example.org", i),
			FirstName: "Sync", LastName: fmt.Sprint(i), CreatedAt: at, UpdatedAt: at}
	}
	fake, err := loadgen.FakeBackendAPI(tmpl, syncKey, users)
	if err != nil {
		log.Printf("clerk sync: %v", err)
		return
	}
	api := httptest.NewServer(fake)
	defer api.Close()

	cmd := exec.Command(b.bin, "clerk", "sync", "--dir", b.dataDir, "--dev=false")
	cmd.Env = append(os.Environ(), "CLERK_SECRET_KEY="+syncKey, "CLERK_API_URL="+api.URL, "CLERK_WEBHOOK_SECRET="+secret)
	started := time.Now()
	out, err := cmd.CombinedOutput()
	took := time.Since(started)
	if err != nil {
		log.Printf("clerk sync failed: %v\n%s", err, out)
		return
	}
	var count struct {
		TotalItems int `json:"totalItems"`
	}
	err = loadgen.Call(b.client, "GET", b.url+"/api/collections/clients/records?perPage=1&filter="+url.QueryEscape("clerkId ~ 'user_sync_'"), b.token, nil, &count)
	if err != nil || count.TotalItems != syncUsers {
		log.Printf("clerk sync: %d of %d users became clients (%v)", count.TotalItems, syncUsers, err)
	}
	fmt.Printf("\nclerk sync: %d users in %s, %.0f users/s (whole command, start-up included), max RSS %s\n",
		syncUsers, took.Round(time.Millisecond), float64(syncUsers)/took.Seconds(), mib(maxRSSKB(cmd)))
	if createdRate > 0 {
		fmt.Printf("clerk sync vs webhook user.created: %.2fx\n", float64(syncUsers)/took.Seconds()/createdRate)
	}
}
