package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-jose/go-jose/v3"
	"golang.org/x/sync/errgroup"

	"github.com/pocketclerk/pocketclerk/hooks"
	"github.com/pocketclerk/pocketclerk/hooks/internal/loadgen"
	"github.com/pocketclerk/pocketclerk/hooks/internal/sse"
)

// kindRealtime is user.updated while every seeded client's user holds the
// profile page open: its realtime connections (hooks.ProfilePageTopics).
const kindRealtime = "webhook user.updated, with profile pages open"

// sessionKey signs Clerk session tokens for the realtime connections; the
// server verifies them with its public half (CLERK_JWT_KEY).
type sessionKey struct {
	signer    jose.Signer
	publicPEM string
}

func newSessionKey() (*sessionKey, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: key},
		(&jose.SignerOptions{}).WithType("JWT").WithHeader("kid", "ins_bench"))
	if err != nil {
		return nil, err
	}
	return &sessionKey{signer: signer, publicPEM: string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))}, nil
}

// token is a Clerk session token of user, valid for an hour.
func (k *sessionKey) token(user string) (string, error) {
	now := time.Now()
	claims, _ := json.Marshal(map[string]any{
		"sub": user, "sid": "sess_" + user, "iss": "https://clerk.bench.example",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "v": 2,
	})
	jws, err := k.signer.Sign(claims)
	if err != nil {
		return "", err
	}
	return jws.CompactSerialize()
}

// realtimeConns are the realtime connections of the pages held by the
// bench: page c is seeded client c's user's (openRealtime).
type realtimeConns struct {
	cancel   context.CancelFunc
	wg       sync.WaitGroup
	received atomic.Int64 // events for the connection's own record
	wrong    atomic.Int64 // any other event
}

// connectRealtime opens n pages' connections, 32 pages at a time.
func (b *bench) connectRealtime(n int) (*realtimeConns, error) {
	ctx, cancel := context.WithCancel(context.Background())
	rc := &realtimeConns{cancel: cancel}
	// Every SSE connection needs a TCP connection of its own.
	streams := &http.Client{Transport: &http.Transport{
		DialContext:        (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
		DisableCompression: true,
	}}
	var group errgroup.Group
	group.SetLimit(32)
	for c := range n {
		group.Go(func() error { return b.openRealtime(ctx, streams, rc, c) })
	}
	if err := group.Wait(); err != nil {
		rc.close()
		return nil, err
	}
	return rc, nil
}

// openRealtime opens what the profile page opens for seeded client c's
// user (hooks.ProfilePageTopics): a connection on its own record, its
// memberships, organizations and plans. An event for the client's own
// record counts as received, any other as wrong: the bench's changes are to
// clients only, so the other topics should hear nothing.
func (b *bench) openRealtime(ctx context.Context, streams *http.Client, rc *realtimeConns, c int) error {
	token, err := b.session.token(seedClerkID(c))
	if err != nil {
		return err
	}
	own := "clients/" + seedRecordID(c)
	for _, topics := range hooks.ProfilePageTopics(seedRecordID(c)) {
		if err := b.openSSE(ctx, streams, rc, token, topics, func(name, data string) bool {
			return name == own && strings.Contains(data, `"id":"`+seedRecordID(c)+`"`)
		}); err != nil {
			return fmt.Errorf("realtime connection of client %d: %w", c, err)
		}
	}
	return nil
}

// openSSE opens one realtime connection subscribed to topics, signed in
// with token; own tells the events it expects.
func (b *bench) openSSE(ctx context.Context, streams *http.Client, rc *realtimeConns, token string, topics []string, own func(name, data string) bool) error {
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, b.url+"/api/realtime", nil)
	res, err := streams.Do(req)
	if err != nil {
		return err
	}
	events := bufio.NewScanner(res.Body)
	name, data := sse.Next(events)
	if name != "PB_CONNECT" {
		res.Body.Close()
		return fmt.Errorf("first event %q", name)
	}
	var connect struct{ ClientID string }
	_ = json.Unmarshal([]byte(data), &connect)

	rc.wg.Add(1)
	go func() {
		defer rc.wg.Done()
		defer res.Body.Close()
		for {
			name, data := sse.Next(events)
			if name == "" {
				return
			}
			if own(name, data) {
				rc.received.Add(1)
			} else {
				rc.wrong.Add(1)
			}
		}
	}()

	body, _ := json.Marshal(map[string]any{"clientId": connect.ClientID, "subscriptions": topics})
	sub, _ := http.NewRequest(http.MethodPost, b.url+"/api/realtime", bytes.NewReader(body))
	sub.Header.Set("Content-Type", "application/json")
	sub.Header.Set("Authorization", "Bearer "+token)
	subRes, err := b.client.Do(sub)
	if err != nil {
		return err
	}
	subRes.Body.Close()
	if subRes.StatusCode != http.StatusNoContent {
		return fmt.Errorf("subscription to %v: %s", topics, subRes.Status)
	}
	return nil
}

// awaitEvents waits up to 5 s for want events to have arrived.
func (rc *realtimeConns) awaitEvents(want int64) {
	for deadline := time.Now().Add(5 * time.Second); rc.received.Load() < want && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
}

func (rc *realtimeConns) close() {
	rc.cancel()
	rc.wg.Wait()
}

// runRealtime alternates user.updated with no realtime connection and with
// n held connections, each signed in as a seeded client and subscribed to
// its own record, on a restarted server.
// realtimeTargets are what a realtime row must hold against the row
// without connections.
type realtimeTargets struct {
	rate   float64 // the rate with the pages open, × the rate without
	peakKB int64
}

var (
	smallPages = realtimeTargets{rate: 0.8, peakKB: 128 * 1024}
	largePages = realtimeTargets{rate: 0.6, peakKB: 256 * 1024}
)

// runLargeRealtime is the realtime row with n pages open, on as many clients.
func (b *bench) runLargeRealtime(rounds, per, n int) error {
	if n <= 0 {
		return nil
	}
	if b.clients < n {
		if err := b.growTo(n); err != nil {
			return err
		}
	}
	return b.runRealtime(rounds, per, n, largePages)
}

func (b *bench) runRealtime(rounds, per, n int, targets realtimeTargets) error {
	n = min(n, b.clients)
	// A fresh server process on the same pb_data: its peak RSS is then the
	// connections' and this load's, not what the sections before left.
	b.srv.Stop()
	b.client.CloseIdleConnections()
	if err := b.start(); err != nil {
		return err
	}
	fmt.Printf("\n## user.updated with %d profile pages open: each the page's realtime connection (its own record, memberships, organizations and plans)\n\n", n)
	r := &report{}
	var sent, received, wrong int64
	var idle []string
	if err := b.saveProfiles("realtime-start"); err != nil {
		return err
	}
	b.measure(kindUpdated, per, b.updates) // warm-up: the restarted server starts cold
	for round := range rounds {
		var p phase
		if err := b.cpuProfile(fmt.Sprintf("realtime-none-%d", round), func() { p = b.measure(kindUpdated, per, b.updates) }); err != nil {
			return err
		}
		r.add(p)
		if round == 0 {
			if err := b.saveProfiles("realtime-none"); err != nil {
				return err
			}
		}
		st0, _ := loadgen.ProcStatus(b.srv.PID())
		rc, err := b.connectRealtime(n)
		if err != nil {
			return err
		}
		// What the idle connections hold, once they are all subscribed.
		time.Sleep(200 * time.Millisecond)
		st1, _ := loadgen.ProcStatus(b.srv.PID())
		idle = append(idle, fmt.Sprintf("%s → %s (anonymous %s → %s)", mib(st0["VmRSS"]), mib(st1["VmRSS"]), mib(st0["RssAnon"]), mib(st1["RssAnon"])))
		if round == 0 {
			if err := b.saveProfiles(fmt.Sprintf("realtime-%d", n)); err != nil {
				return err
			}
		}
		before := rc.received.Load()
		if err := b.cpuProfile(fmt.Sprintf("realtime-%d-%d", n, round), func() { p = b.measure(kindRealtime, per, b.updates) }); err != nil {
			return err
		}
		if round == 0 {
			if err := b.saveProfiles(fmt.Sprintf("realtime-%d-after", n)); err != nil {
				return err
			}
		}
		var want int64
		for _, c := range b.lastTargets {
			if c < n {
				want++
			}
		}
		want -= int64(p.res.Failed)
		rc.awaitEvents(before + want)
		sent += want
		received += rc.received.Load() - before
		wrong += rc.wrong.Load()
		rc.close()
		// What the server does as the connections end is not the next row's.
		time.Sleep(500 * time.Millisecond)
		r.add(p)
	}
	r.printRows()
	fmt.Printf("\nServer RSS before and after opening the %d pages (idle), each round: %s\n", n, strings.Join(idle, ", "))
	none, with := r.get(kindUpdated), r.get(kindRealtime)
	ratio := with.res.Rate() / max(none.res.Rate(), 1)
	cpu := float64(none.cpuPerEvent()) / float64(max(with.cpuPerEvent(), 1))
	fmt.Printf("\nWith %d pages (%d connections) vs none: %.2fx the rate, %.2fx the CPU per event's inverse; events to their own record's connection %d of %d, to any other %d\n",
		n, n*len(hooks.ProfilePageTopics("")), ratio, cpu, received, sent, wrong)
	fmt.Printf("Targets: rate with connections >= %.1fx none %s (%.2fx); peak RSS with connections <= %s %s (%s); each connection exactly its own record's changes %s\n",
		targets.rate, verdict(ratio >= targets.rate), ratio, mib(targets.peakKB), verdict(with.peakKB <= targets.peakKB), mib(with.peakKB), verdict(received == sent && wrong == 0))
	return nil
}
