package main

import (
	"bytes"
	"context"
	"fmt"
	"log"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
)

// refusedRounds alternate the webhook's refusals with PocketBase's own.
const refusedRounds = 3

// runRefusals measures what a refused delivery costs the server: unsigned
// POSTs to the webhook, each answered 401 and counted for the dashboard's
// Clerk page (in memory, written once a minute), against PocketBase's own
// 401 for a request without a token, in alternating rounds. It then checks
// that the status endpoint counted every refusal.
func (b *bench) runRefusals(n int) {
	body := b.tmpl.Body("user.created", loadgen.User{ID: "user_forged", Email: "forged@example.org", CreatedAt: b.base, UpdatedAt: b.base})
	var forged atomic.Int64
	unsigned := func(int) (*http.Request, error) {
		req, err := http.NewRequest(http.MethodPost, b.url+"/api/webhooks/clerk", bytes.NewReader(body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("svix-id", fmt.Sprint("msg_forged_", forged.Add(1)))
		}
		return req, err
	}
	pocketbase := func(int) (*http.Request, error) {
		return http.NewRequest(http.MethodPost, b.url+"/api/collections/_superusers/auth-refresh", nil)
	}

	var before struct{ Deliveries struct{ Failed int } }
	_ = loadgen.Call(b.client, http.MethodGet, b.url+"/api/clerk/status", b.token, nil, &before)

	var webhook, baseline refusals
	for range refusedRounds {
		webhook.add(b.refuse(n, unsigned))
		baseline.add(b.refuse(n, pocketbase))
	}

	var after struct{ Deliveries struct{ Failed int } }
	counted := "not read"
	if err := loadgen.Call(b.client, http.MethodGet, b.url+"/api/clerk/status", b.token, nil, &after); err == nil {
		counted = fmt.Sprintf("%d of %d counted by GET /api/clerk/status", after.Deliveries.Failed-before.Deliveries.Failed, webhook.n)
	}
	fmt.Printf("\nRefused deliveries: %d unsigned webhook POSTs answered 401 at %.0f/s, %s server CPU each (%s); "+
		"PocketBase's own 401 (auth-refresh without a token) at %.0f/s, %s each: %.2fx its rate, %.2fx its CPU/request\n",
		webhook.n, webhook.rate(), ms(webhook.cpuPer()), counted, baseline.rate(), ms(baseline.cpuPer()),
		webhook.rate()/baseline.rate(), float64(webhook.cpuPer())/float64(baseline.cpuPer()))
}

// refusals sums the rounds of one kind of refused request.
type refusals struct {
	n       int
	elapsed time.Duration
	cpu     time.Duration
}

func (r *refusals) add(o refusals) {
	r.n += o.n
	r.elapsed += o.elapsed
	r.cpu += o.cpu
}

func (r refusals) rate() float64 { return float64(r.n) / r.elapsed.Seconds() }

func (r refusals) cpuPer() time.Duration { return r.cpu / time.Duration(max(1, r.n)) }

// refuse sends n requests that must each be answered 401.
func (b *bench) refuse(n int, build func(int) (*http.Request, error)) refusals {
	pid := b.srv.PID()
	cpu0, _ := loadgen.CPUTime(pid)
	var other atomic.Int64
	res := loadgen.Run(context.Background(), b.client, b.senders, n, build, func(a loadgen.Answer) {
		if a.Status != http.StatusUnauthorized && other.Add(1) <= 3 {
			log.Printf("refused deliveries: %d %v %s", a.Status, a.Err, a.Body)
		}
	})
	cpu1, _ := loadgen.CPUTime(pid)
	return refusals{n: res.Requests, elapsed: res.Elapsed, cpu: cpu1 - cpu0}
}
