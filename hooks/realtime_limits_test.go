package hooks

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"
)

// guestConn opens a realtime connection without a token and subscribes it
// to topics; it reads what comes and ends with cancel.
func guestConn(t *testing.T, baseURL string, topics []string) (cancel func(), subscribed int) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, baseURL+"/api/realtime", nil)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	scanner := bufio.NewScanner(res.Body)
	clientID := ""
	for clientID == "" && scanner.Scan() {
		if data, ok := strings.CutPrefix(scanner.Text(), "data:"); ok {
			var connect struct {
				ClientID string `json:"clientId"`
			}
			_ = json.Unmarshal([]byte(data), &connect)
			clientID = connect.ClientID
		}
	}
	go func() {
		defer res.Body.Close()
		for scanner.Scan() {
		}
	}()
	body, _ := json.Marshal(map[string]any{"clientId": clientID, "subscriptions": topics})
	r := send(t, http.MethodPost, baseURL+"/api/realtime", "", string(body))
	return cancel, r.Status
}

// distinctTopics is n topics of collection that differ only in their
// options, as the JS SDK writes them.
func distinctTopics(collection string, n int) []string {
	topics := make([]string, n)
	for i := range topics {
		options := fmt.Sprintf(`{"query":{"n":"%d"}}`, i)
		topics[i] = collection + "/*?options=" + url.QueryEscape(options)
	}
	return topics
}

// deliveryRate sends user.updated deliveries of one user per sender, each
// a change, from senders at once for d, and returns the deliveries
// committed per second. Any answer but 200 fails the test.
func deliveryRate(t *testing.T, baseURL string, senders int, d time.Duration, round *atomic.Int64) float64 {
	t.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: senders}}
	defer client.CloseIdleConnections()
	var done atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for s := range senders {
		wg.Go(func() {
			id := fmt.Sprintf("user_rate%02d", s)
			for time.Since(start) < d && !t.Failed() {
				n := round.Add(1)
				body := userEvent(eventUserUpdated, clerkUser(t, id, fmt.Sprint("Name", n), 1000+n))
				req := signedRequest(t, baseURL, testSecret, fmt.Sprintf("msg_rate_%d", n), time.Now(), body)
				res, err := client.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				res.Body.Close()
				if res.StatusCode != http.StatusOK {
					t.Errorf("a delivery was answered %d", res.StatusCode)
					return
				}
				done.Add(1)
			}
		})
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds()
}

// H1: guests that subscribe to many topics of the shipped collections,
// which no guest may read, cost Clerk's deliveries nothing.
func TestGuestSubscriptionsDoNotSlowTheWebhook(t *testing.T) {
	const guests, topicsEach, senders = 160, 1000, 8
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	round := &atomic.Int64{}
	deliveryRate(t, srv.URL, senders, 300*time.Millisecond, round) // creates the senders' users

	topics := distinctTopics("clients", topicsEach)
	var best float64
	for attempt := 1; attempt <= 3; attempt++ {
		without := deliveryRate(t, srv.URL, senders, 2*time.Second, round)
		var cancels []func()
		for range guests {
			cancel, status := guestConn(t, srv.URL, topics)
			cancels = append(cancels, cancel)
			if status != http.StatusNoContent && status != http.StatusBadRequest {
				t.Fatalf("a guest's subscription was answered %d", status)
			}
		}
		with := deliveryRate(t, srv.URL, senders, 2*time.Second, round)
		for _, cancel := range cancels {
			cancel()
		}
		t.Logf("attempt %d: %.0f deliveries/s without the guests, %.0f with %d guests × %d subscriptions", attempt, without, with, guests, topicsEach)
		if t.Failed() {
			return
		}
		best = max(best, with/without)
		if best >= 0.8 {
			return
		}
	}
	t.Fatalf("with the guests, deliveries went at %.2f× the rate without them, want at least 0.8×", best)
}

// A connection keeps the topics it may read, up to the caps; a guest's
// topics of the shipped collections are dropped, other collections' kept.
func TestRealtimeSubscriptionsAreCapped(t *testing.T) {
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_a", userEvent(eventUserCreated, clerkUser(t, userA, "Alice", 1000)))
	notes := core.NewBaseCollection("notes")
	notes.ListRule, notes.ViewRule = types.Pointer(""), types.Pointer("")
	notes.Fields.Add(&core.TextField{Name: "text"})
	if err := app.Save(notes); err != nil {
		t.Fatal(err)
	}
	auth := "Bearer " + srv.key.token(t, userA)
	subscribe := func(authorization string, topics []string) (reply, *realtimeConn) {
		conn := connectRealtime(t, srv.URL)
		body, _ := json.Marshal(map[string]any{"clientId": conn.clientID, "subscriptions": topics})
		return send(t, http.MethodPost, srv.URL+"/api/realtime", authorization, string(body)), conn
	}

	if r, _ := subscribe(auth, distinctTopics("clients", MaxRealtimeSubscriptionsPerCollection)); r.Status != http.StatusNoContent {
		t.Errorf("%d topics of clients: %+v", MaxRealtimeSubscriptionsPerCollection, r)
	}
	if r, _ := subscribe(auth, distinctTopics("clients", MaxRealtimeSubscriptionsPerCollection+1)); r.Status != http.StatusBadRequest {
		t.Errorf("%d topics of clients: %+v", MaxRealtimeSubscriptionsPerCollection+1, r)
	} else {
		mustContain(t, r.Body["message"], "Too many realtime subscriptions")
	}
	var spread []string
	for i := range MaxRealtimeSubscriptions + 1 {
		spread = append(spread, fmt.Sprintf("custom%d", i%10)+"/*?options="+url.QueryEscape(fmt.Sprintf(`{"query":{"n":"%d"}}`, i)))
	}
	if r, _ := subscribe(auth, spread); r.Status != http.StatusBadRequest {
		t.Errorf("%d topics in all: %+v", len(spread), r)
	}

	// A guest: its clients topics are dropped, the public notes kept.
	r, guest := subscribe("", append(distinctTopics("clients", 999), "notes/*"))
	if r.Status != http.StatusNoContent {
		t.Fatalf("a guest's subscription: %+v", r)
	}
	if subs := realtimeSubscriptions(app, guest.clientID); len(subs) != 1 || subs[0] != "notes/*" {
		t.Fatalf("a guest holds %d topics (%.3v), want notes/* alone", len(subs), subs)
	}
	note := core.NewRecord(notes)
	note.Set("text", "hello")
	if err := app.Save(note); err != nil {
		t.Fatal(err)
	}
	if ev := guest.next(t); ev.Name != "notes/*" || ev.record()["text"] != "hello" {
		t.Fatalf("the guest's event: %+v", ev)
	}
}

// realtimeSubscriptions lists the topics the connection holds.
func realtimeSubscriptions(app core.App, clientID string) []string {
	var out []string
	for _, c := range realtimeClients(app) {
		if c.Id() == clientID {
			for topic := range c.Subscriptions() {
				out = append(out, topic)
			}
		}
	}
	return out
}
