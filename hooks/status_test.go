package hooks

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// statusOf reads GET /api/clerk/status with a superuser's token.
func statusOf(t testing.TB, baseURL, token string) statusReport {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, baseURL+StatusPath, nil)
	req.Header.Set("Authorization", token)
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	raw, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusOK {
		t.Fatalf("status: %d %s", res.StatusCode, raw)
	}
	var r statusReport
	if err := json.Unmarshal(raw, &r); err != nil {
		t.Fatalf("status is not JSON: %v\n%s", err, raw)
	}
	return r
}

func (d deliveryHours) total(outcome string) int {
	for _, s := range d.Series {
		if s.Outcome == outcome {
			return s.Total
		}
	}
	return 0
}

func TestStatusIsForSuperusersOnly(t *testing.T) {
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	clientToken := authToken(t, clientOf(t, app, userA))
	superuser := newSuperuserToken(t, app)

	for _, tc := range []struct {
		who, authorization string
		want               int
	}{
		{"guest", "", http.StatusUnauthorized},
		{"client with a Clerk session token", "Bearer " + srv.key.token(t, userA), http.StatusForbidden},
		{"client with its PocketBase token", clientToken, http.StatusForbidden},
		{"superuser", superuser, http.StatusOK},
	} {
		t.Run(tc.who, func(t *testing.T) {
			if r := get(t, srv.URL+StatusPath, tc.authorization); r.Status != tc.want {
				t.Fatalf("GET %s: %d %v, want %d", StatusPath, r.Status, r.Body, tc.want)
			}
			if tc.want == http.StatusOK {
				return
			}
			if r := send(t, http.MethodPost, srv.URL+SyncPath, tc.authorization, `{"prune":true}`); r.Status != tc.want {
				t.Fatalf("POST %s: %d %v, want %d", SyncPath, r.Status, r.Body, tc.want)
			}
		})
	}
	if n := count(t, app, migrations.SyncRunsCollection, ""); n != 0 {
		t.Fatalf("%d sync runs started by guests or clients", n)
	}
}

func TestStatusCountsDeliveriesByOutcome(t *testing.T) {
	app := newTestApp(t)
	app.OnRecordCreate(migrations.ClientsCollection).BindFunc(func(e *core.RecordEvent) error {
		if e.Record.GetString(migrations.FieldClerkID) == userB {
			return errors.New("the owner's hook refuses user B")
		}
		return e.Next()
	})
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}, SecretKey: "sk_test_x", SyncSchedule: "30 3 * * *"})
	token := newSuperuserToken(t, app)

	before := statusOf(t, srv.URL, token)
	if before.Deliveries.Applied != 0 || before.Deliveries.Failed != 0 || before.LastApplied != nil || before.LastFailed != nil {
		t.Fatalf("a new install reports deliveries: %+v", before.Deliveries)
	}

	alice := clerkfake.NewUser(userA, "Alice", 1000)
	deliver(t, srv.URL, "msg_a1", clerkfake.Event(eventUserCreated, alice))
	deliver(t, srv.URL, "msg_a1", clerkfake.Event(eventUserCreated, alice)) // Svix's retry: a duplicate
	alice["updated_at"] = 2000
	deliver(t, srv.URL, "msg_a2", clerkfake.Event(eventUserUpdated, alice))
	deliver(t, srv.URL, "msg_c1", clerkfake.Event(eventUserDeleted, map[string]any{"id": newcomer, "deleted": true, "object": "user"}))
	if r := deliver(t, srv.URL, "msg_b1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userB, "Bob", 1000))); r.Status != http.StatusInternalServerError {
		t.Fatalf("a delivery the owner's hook refuses: %+v", r)
	}
	for i := range 3 { // unsigned
		req, _ := http.NewRequest(http.MethodPost, srv.URL+WebhookPath, strings.NewReader(`{"type":"user.created"}`))
		req.Header.Set("svix-id", fmt.Sprint("msg_forged", i))
		if r := do(t, req); r.Status != http.StatusUnauthorized {
			t.Fatalf("unsigned: %+v", r)
		}
	}
	if r := deliver(t, srv.URL, "msg_bad", []byte(`{"no":"type"}`)); r.Status != http.StatusBadRequest {
		t.Fatalf("signed, not an event: %+v", r)
	}
	big := bytes.Repeat([]byte("x"), maxWebhookBody+1)
	if r := do(t, signedRequest(t, srv.URL, testSecret, "msg_big", time.Now(), big)); r.Status != http.StatusRequestEntityTooLarge {
		t.Fatalf("too large: %+v", r)
	}
	// Other routes are not deliveries.
	get(t, srv.URL+"/api/collections/clients/records", "")

	s := statusOf(t, srv.URL, token)
	d := s.Deliveries
	want := map[string]int{"created": 1, "updated": 1, "deleted": 1, "refused": 3, "invalid": 1, "too large": 1, "failed": 1}
	for outcome, n := range want {
		if got := d.total(outcome); got != n {
			t.Errorf("%s: %d deliveries, want %d (series %+v)", outcome, got, n, d.Series)
		}
	}
	if d.Applied != 3 || d.Failed != 6 || len(d.Hours) != 24 || len(d.Series) != len(want) {
		t.Fatalf("deliveries: %+v", d)
	}
	for _, series := range d.Series {
		if len(series.Counts) != 24 || series.Counts[23] != series.Total {
			t.Fatalf("%s is not all in the current hour: %v", series.Outcome, series.Counts)
		}
	}

	if s.LastApplied == nil || s.LastApplied.SvixID != "msg_c1" || s.LastApplied.Type != eventUserDeleted || s.LastApplied.AgeSeconds < 0 || s.LastApplied.AgeSeconds > 60 {
		var rows []struct {
			SvixID  string `db:"svixId"`
			Created string `db:"created"`
			RowID   int    `db:"rowid"`
		}
		_ = app.DB().NewQuery("SELECT svixId, created, rowid FROM " + migrations.EventsCollection).All(&rows)
		t.Fatalf("last applied: %+v; the delivery log: %+v", s.LastApplied, rows)
	}
	reasons := map[int]failedDelivery{}
	for _, f := range s.Failures {
		reasons[f.Status] = f
	}
	if f := reasons[401]; f.Count != 3 || !strings.Contains(f.Reason, "missing required headers") || f.SvixID != "" {
		t.Errorf("401: %+v", f)
	}
	if f := reasons[500]; f.Count != 1 || !strings.Contains(f.Reason, "the owner's hook refuses user B") {
		t.Errorf("500 should give its cause: %+v", f)
	}
	if f := reasons[400]; !strings.Contains(f.Reason, "the event has no type") {
		t.Errorf("400: %+v", f)
	}
	if f := reasons[413]; f.Count != 1 {
		t.Errorf("413: %+v", f)
	}
	if s.LastFailed == nil || s.LastFailed.Status != 413 {
		t.Errorf("last failed: %+v", s.LastFailed)
	}

	if c := s.Counts; c.Clients != 1 || c.Tombstones != 1 || c.Organizations == nil || *c.Organizations != 0 {
		t.Errorf("counts: %+v", c)
	}

	parts := map[string]configPart{}
	for _, p := range s.Configuration {
		parts[p.Variable] = p
	}
	if p := parts["CLERK_WEBHOOK_SECRET"]; p.State != "ok" {
		t.Errorf("webhook secret: %+v", p)
	}
	if p := parts["CLERK_SECRET_KEY"]; p.State != "ok" || p.Name != "Session tokens" && !strings.Contains(p.Detail, "clerk sync") {
		t.Errorf("secret key: %+v", p)
	}
	if p := parts["CLERK_PUBLISHABLE_KEY"]; p.State != "off" || !strings.Contains(p.Detail, "pk_") {
		t.Errorf("publishable key: %+v", p)
	}
	if p := parts["CLERK_SYNC_SCHEDULE"]; p.State != "ok" || !strings.Contains(p.Detail, "03:30:00") {
		t.Errorf("schedule: %+v", p)
	}
}

func TestStatusSaysWhatToSet(t *testing.T) {
	app := newTestApp(t)
	srv := serve(t, app, Config{})
	token := newSuperuserToken(t, app)
	s := statusOf(t, srv.URL, token)
	missing := map[string]string{}
	for _, p := range s.Configuration {
		if p.State != "ok" {
			missing[p.Name] = p.Variable + ": " + p.Detail
		}
	}
	for name, variable := range map[string]string{
		"Webhook signing secrets": "CLERK_WEBHOOK_SECRET",
		"Session tokens":          "CLERK_JWT_KEY",
		"Backend API key":         "CLERK_SECRET_KEY",
		"Publishable key":         "CLERK_PUBLISHABLE_KEY",
		"Scheduled sync":          "CLERK_SYNC_SCHEDULE",
	} {
		if !strings.HasPrefix(missing[name], variable+": ") {
			t.Errorf("%s: %q, want the variable %s", name, missing[name], variable)
		}
	}
	// Without a secret the webhook answers 503, which counts as unavailable.
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	if n := statusOf(t, srv.URL, token).Deliveries.total("unavailable"); n != 1 {
		t.Fatalf("%d unavailable deliveries, want 1", n)
	}
}

// A flood of unsigned requests adds to counts, never rows, and what was
// counted is still there after a restart.
func TestFailureCountsAreBoundedAndSurviveARestart(t *testing.T) {
	app := newTestApp(t)
	p := &plugin{app: app, config: Config{EventRetention: 30 * 24 * time.Hour}, failures: newFailureRecorder()}
	now := time.Now()
	for i := range 20000 {
		p.failures.record(now, http.StatusUnauthorized, "Invalid webhook signature (no matching signature found)", fmt.Sprint("msg_", i))
	}
	earlier := now.Add(-time.Hour)
	for i := range 2 * failureReasonsKept { // more distinct reasons than are kept
		p.failures.record(earlier.Add(time.Duration(i)*time.Millisecond), http.StatusBadRequest, fmt.Sprint("reason ", i), "")
	}
	p.flushFailures()
	p.failures.record(now.Add(time.Second), http.StatusUnauthorized, "Invalid webhook signature (no matching signature found)", "msg_last")
	p.flushFailures()

	if n := count(t, app, migrations.DeliveryFailureHoursCollection, ""); n > 4 { // two statuses, each in at most two hours
		t.Fatalf("%d hourly rows for 20,101 failures", n)
	}
	if n := count(t, app, migrations.DeliveryFailuresCollection, ""); n != failureReasonsKept {
		t.Fatalf("%d failure reasons kept, want %d", n, failureReasonsKept)
	}

	// A restart: a new app on a copy of this data.
	restarted, err := tests.NewTestApp(app.DataDir())
	if err != nil {
		t.Fatal(err)
	}
	defer restarted.Cleanup()
	p2 := &plugin{app: restarted, config: p.config, failures: newFailureRecorder(), batcher: newBatcher(restarted)}
	r, err := p2.statusReport(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if n := r.Deliveries.total("refused"); n != 20001 {
		t.Fatalf("%d refused deliveries after a restart, want 20001", n)
	}
	if n := r.Deliveries.total("invalid"); n != 2*failureReasonsKept {
		t.Fatalf("%d invalid deliveries after a restart, want %d", n, 2*failureReasonsKept)
	}
	var refused *failedDelivery
	for i, f := range r.Failures {
		if f.Status == http.StatusUnauthorized {
			refused = &r.Failures[i]
		}
	}
	if refused == nil || refused.Count != 20001 || refused.SvixID != "msg_last" {
		t.Fatalf("the 401s' reason: %+v", refused)
	}
}

// Each delivery counts in the hour it came in, whether that hour's counts
// are read from the log or remembered from an earlier read.
func TestStatusCountsEachHour(t *testing.T) {
	app := newTestApp(t)
	p := &plugin{app: app, config: Config{EventRetention: 30 * 24 * time.Hour}, failures: newFailureRecorder(), batcher: newBatcher(app)}
	now := time.Now().UTC()
	for i, ago := range []time.Duration{0, 3 * time.Hour, 3 * time.Hour, 23 * time.Hour, 25 * time.Hour} {
		_, err := app.DB().NewQuery("INSERT INTO " + migrations.EventsCollection +
			" (id, svixId, type, clerkId, outcome, eventAt, created) VALUES ({:id}, {:svixId}, 'user.updated', 'user_x', 'updated', '', {:created})").
			Bind(map[string]any{"id": fmt.Sprint("event", i), "svixId": fmt.Sprint("msg_", i), "created": dateString(now.Add(-ago))}).Execute()
		if err != nil {
			t.Fatal(err)
		}
	}
	p.failures.record(now.Add(-5*time.Hour), http.StatusUnauthorized, "unsigned", "")
	p.flushFailures()

	for _, read := range []string{"from the log", "remembered"} {
		r, err := p.statusReport(now)
		if err != nil {
			t.Fatal(err)
		}
		want := map[string][]int{"updated": make([]int, 24), "refused": make([]int, 24)}
		want["updated"][23], want["updated"][20], want["updated"][0] = 1, 2, 1 // 25 hours ago is out
		want["refused"][18] = 1
		for outcome, counts := range want {
			var got []int
			for _, s := range r.Deliveries.Series {
				if s.Outcome == outcome {
					got = s.Counts
				}
			}
			if fmt.Sprint(got) != fmt.Sprint(counts) {
				t.Errorf("%s, %s per hour: %v, want %v", read, outcome, got, counts)
			}
		}
	}
}

// What the Failures card shows of a refused request is what the server
// decided: an unsigned request's headers are the sender's words.
func TestUnsignedRequestsPutNoSenderTextOnTheStatus(t *testing.T) {
	app := newTestApp(t)
	srv := serve(t, app, Config{WebhookSecrets: []string{testSecret}})
	token := newSuperuserToken(t, app)

	chosen := "msg_" + strings.Repeat("Buy cheap watches at evil.example ", 6)
	forged := signedRequest(t, srv.URL, "whsec_"+"MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "msg_x", time.Now(), []byte(`{"type":"user.created"}`))
	forged.Header.Set("svix-id", chosen)
	if r := do(t, forged); r.Status != http.StatusUnauthorized {
		t.Fatalf("wrongly signed: %+v", r)
	}
	unsigned, _ := http.NewRequest(http.MethodPost, srv.URL+WebhookPath, strings.NewReader(`{}`))
	unsigned.Header.Set("webhook-id", chosen)
	if r := do(t, unsigned); r.Status != http.StatusUnauthorized {
		t.Fatalf("unsigned: %+v", r)
	}
	if r := deliver(t, srv.URL, "msg_signed_bad", []byte(`{"no":"type"}`)); r.Status != http.StatusBadRequest {
		t.Fatalf("signed, not an event: %+v", r)
	}

	for _, f := range statusOf(t, srv.URL, token).Failures {
		if strings.Contains(f.SvixID+f.Reason, "watches") {
			t.Errorf("the status shows a sender's text: %+v", f)
		}
		if f.Status == http.StatusUnauthorized && f.SvixID != "" {
			t.Errorf("401: %+v", f)
		}
		if f.Status == http.StatusBadRequest && f.SvixID != "msg_signed_bad" {
			t.Errorf("a signed delivery's id is verified and shown: %+v", f)
		}
	}
}
