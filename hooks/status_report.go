package hooks

import (
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/cron"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// StatusPath answers superusers with the sync's health as JSON.
const StatusPath = "/api/clerk/status"

// statusReport is the JSON of GET /api/clerk/status.
type statusReport struct {
	Now           string           `json:"now"`
	Configuration []configPart     `json:"configuration"`
	Deliveries    deliveryHours    `json:"deliveries"`
	LastApplied   *appliedDelivery `json:"lastApplied"`
	LastFailed    *failedDelivery  `json:"lastFailed"`
	Failures      []failedDelivery `json:"failures"`
	Counts        recordCounts     `json:"counts"`
	LastSync      *syncRun         `json:"lastSync"`
	// Replication is data.db's replication (REPLICA_URL): off, or where to,
	// how far behind, the last position shipped and the last error.
	Replication replicationStatus `json:"replication"`
	// FanOut is the work after the webhook's commits (realtime messages,
	// hooks): its backlog and the writer's waits for room in it.
	FanOut fanOutStatus `json:"fanOut"`
	// Realtime counts the open realtime connections by where they are
	// served from.
	Realtime realtimeStatus `json:"realtime"`
}

// realtimeStatus counts the open realtime connections: in PocketBase's
// broker, which walks them at every record change, and, with the realtime
// index on, taken out of it (indexed) and out of PocketBase's connection
// loop (detached, which hold less memory).
type realtimeStatus struct {
	Index    bool `json:"index"` // false with CLERK_REALTIME_INDEX=off
	Broker   int  `json:"broker"`
	Indexed  int  `json:"indexed"`
	Detached int  `json:"detached"`
}

func (p *plugin) realtimeStatus() realtimeStatus {
	if p.realtimeIndex == nil {
		return realtimeStatus{Broker: p.app.SubscriptionsBroker().TotalClients()}
	}
	stats := p.realtimeIndex.Stats()
	return realtimeStatus{Index: true, Broker: stats.Broker, Indexed: stats.Indexed, Detached: stats.Detached}
}

// configPart says whether one part of the configuration is in effect.
type configPart struct {
	Name string `json:"name"`
	// State is "ok", "missing" (the part does not work) or "off" (optional).
	State    string `json:"state"`
	Detail   string `json:"detail"`
	Variable string `json:"variable"`
}

// deliveryHours counts the deliveries of the last 24 hours, per hour and
// per outcome: applied ones from clerk_events, refused and failed ones from
// clerk_failure_hours. Redeliveries of an applied event are in neither.
type deliveryHours struct {
	Hours   []string         `json:"hours"` // each hour's start (UTC), oldest first
	Series  []deliverySeries `json:"series"`
	Applied int              `json:"applied"`
	Failed  int              `json:"failed"`
}

type deliverySeries struct {
	// Outcome is an outcome of clerk_events, or what an error status means.
	Outcome string `json:"outcome"`
	Status  int    `json:"status"` // 200, or the error status answered
	Counts  []int  `json:"counts"`
	Total   int    `json:"total"`
}

type appliedDelivery struct {
	At         string  `json:"at"`
	AgeSeconds float64 `json:"ageSeconds"`
	SvixID     string  `json:"svixId"`
	Type       string  `json:"type"`
	ClerkID    string  `json:"clerkId"`
	Outcome    string  `json:"outcome"`
}

type failedDelivery struct {
	At         string  `json:"at"` // the latest
	AgeSeconds float64 `json:"ageSeconds"`
	FirstAt    string  `json:"firstAt"`
	Status     int     `json:"status"`
	Outcome    string  `json:"outcome"`
	Reason     string  `json:"reason"`
	Count      int     `json:"count"`
	SvixID     string  `json:"svixId"`
}

type recordCounts struct {
	Clients int `json:"clients"`
	// Organizations is null when there is no organizations collection.
	Organizations *int `json:"organizations"`
	Tombstones    int  `json:"tombstones"`
	// SubscriptionItems counts Clerk Billing's subscription items by
	// status; null when there is no subscription_items collection.
	SubscriptionItems []itemStatusCount `json:"subscriptionItems"`
}

// itemStatusCount is how many subscription items are in one status.
type itemStatusCount struct {
	Status string `db:"status" json:"status"`
	Count  int    `db:"count" json:"count"`
}

// itemStatusOrder is the order of Clerk's statuses on the Clerk page: those
// that grant a plan first, then those that will or might, then the past.
var itemStatusOrder = []string{
	migrations.ItemActive, migrations.ItemPastDue, migrations.ItemCanceled,
	migrations.ItemUpcoming, migrations.ItemIncomplete, migrations.ItemEnded, migrations.ItemAbandoned,
}

func (p *plugin) handleStatus(e *core.RequestEvent) error {
	p.flushFailures() // so that the last minute's failures show
	report, err := p.statusReport(time.Now())
	if err != nil {
		return e.InternalServerError("Could not read the Clerk sync's status.", err)
	}
	return e.JSON(http.StatusOK, report)
}

func (p *plugin) statusReport(now time.Time) (*statusReport, error) {
	now = now.UTC()
	r := &statusReport{Now: dateString(now), Configuration: p.configParts(now), Failures: []failedDelivery{},
		Replication: p.replication.Load().status(now), FanOut: p.batcher.fanOut.status(now), Realtime: p.realtimeStatus()}
	var err error
	if r.Deliveries, err = deliveriesByHour(p.app, now, &p.applied); err != nil {
		return nil, fmt.Errorf("counting deliveries: %w", err)
	}
	if r.LastApplied, err = lastApplied(p.app, now); err != nil {
		return nil, fmt.Errorf("reading the last delivery: %w", err)
	}
	if r.Failures, err = recentFailures(p.app, now); err != nil {
		return nil, fmt.Errorf("reading failures: %w", err)
	}
	for i := range r.Failures {
		if r.Failures[i].Status >= 400 { // a failed hook's delivery was applied
			r.LastFailed = &r.Failures[i]
			break
		}
	}
	if r.Counts, err = countRecords(p.app); err != nil {
		return nil, fmt.Errorf("counting records: %w", err)
	}
	if r.LastSync = p.syncs.snapshot(); r.LastSync == nil {
		if r.LastSync, err = lastSyncRun(p.app); err != nil {
			return nil, fmt.Errorf("reading the last sync: %w", err)
		}
	}
	return r, nil
}

// configParts says, for each part, whether it is configured and, when it
// is not, which variable to set.
func (p *plugin) configParts(now time.Time) []configPart {
	c := p.config
	part := func(name, variable string, ok bool, okDetail, missingState, missingDetail string) configPart {
		if ok {
			return configPart{Name: name, State: "ok", Detail: okDetail, Variable: variable}
		}
		return configPart{Name: name, State: missingState, Detail: missingDetail, Variable: variable}
	}

	tokens := part("Session tokens", "CLERK_JWT_KEY", c.JWTKey != "",
		"verified with CLERK_JWT_KEY, without a network call", "missing",
		"not accepted: set CLERK_JWT_KEY (Clerk dashboard → API keys → JWT public key) or CLERK_SECRET_KEY")
	if c.JWTKey == "" && c.SecretKey != "" {
		tokens = configPart{Name: "Session tokens", State: "ok", Variable: "CLERK_SECRET_KEY",
			Detail: "verified with signing keys fetched from Clerk (JWKS); CLERK_JWT_KEY would spare the fetch"}
	}
	if tokens.State == "ok" && len(c.AuthorizedParties) > 0 {
		tokens.Detail += "; only from " + strings.Join(c.AuthorizedParties, ", ")
	}

	schedule := part("Scheduled sync", "CLERK_SYNC_SCHEDULE", c.SyncSchedule != "",
		"clerk sync --prune on "+c.SyncSchedule+" (UTC)"+nextRun(c.SyncSchedule, now), "off",
		"off: drift after an outage longer than Svix's retries is repaired only by hand; set a cron expression such as 30 3 * * *")

	return []configPart{
		part("Webhook signing secrets", "CLERK_WEBHOOK_SECRET", len(p.secrets) > 0,
			fmt.Sprintf("%d secret(s); deliveries are verified", len(p.secrets)), "missing",
			"not set: the webhook answers 503 and Svix keeps retrying; set the endpoint's Signing Secret (Clerk dashboard → Webhooks)"),
		tokens,
		part("Backend API key", "CLERK_SECRET_KEY", c.SecretKey != "",
			"set: new users are fetched on first sight, and clerk sync can run, against "+c.APIURL, "missing",
			"not set: new users wait for the webhook, and clerk sync cannot run; set the secret key (sk_...) from Clerk's dashboard, API keys"),
		part("Publishable key", "CLERK_PUBLISHABLE_KEY", c.PublishableKey != "",
			"set: the profile page offers sign-in", "off",
			"not set: the profile page says sign-in is not configured; set the publishable key (pk_...)"),
		schedule,
		p.organizationsPart(),
	}
}

// organizationsPart says whether the instance has organizations, as the
// last finished sync found.
func (p *plugin) organizationsPart() configPart {
	part := configPart{Name: "Organizations", State: "off",
		Detail: "not known yet: a clerk sync tells whether this Clerk instance has organizations"}
	run, err := lastFinishedSyncRun(p.app)
	switch {
	case err != nil || run == nil:
	case run.Counts.OrganizationsSkipped != "":
		part.Detail = "not enabled in this Clerk instance (clerk sync of " + run.StartedAt + "): organization events never come and the sync skips them; enable them in Clerk's dashboard → Organizations if you want them"
	case run.Error == "":
		part.State = "ok"
		part.Detail = "enabled in this Clerk instance (clerk sync of " + run.StartedAt + ")"
	}
	return part
}

// nextRun tells when a cron expression next fires, within a week.
func nextRun(expr string, now time.Time) string {
	s, err := cron.NewSchedule(expr)
	if err != nil {
		return ""
	}
	t := now.UTC().Truncate(time.Minute).Add(time.Minute)
	for end := t.Add(7 * 24 * time.Hour); t.Before(end); t = t.Add(time.Minute) {
		if s.IsDue(cron.NewMoment(t)) {
			return ", next at " + dateString(t)
		}
	}
	return ""
}

// failureOutcome names what an error status means for a delivery.
func failureOutcome(status int) string {
	switch status {
	case hookFailedStatus:
		return "hook failed"
	case http.StatusUnauthorized:
		return "refused"
	case http.StatusBadRequest:
		return "invalid"
	case http.StatusRequestEntityTooLarge:
		return "too large"
	case http.StatusTooManyRequests:
		return "rate limited"
	case http.StatusServiceUnavailable:
		return "unavailable"
	}
	if status >= 500 {
		return "failed"
	}
	return fmt.Sprintf("HTTP %d", status)
}

// appliedHours remembers the applied deliveries of hours that have ended:
// a clerk_events row is written when its delivery is applied, so such an
// hour never changes, and each refresh of the status reads only the
// current hour from the log.
type appliedHours struct {
	mu    sync.Mutex
	hours map[time.Time]map[string]int // hour → outcome → deliveries
}

// appliedHourSettled is how long after an hour ends its counts are
// remembered: a transaction that stamped a row just before the hour's end
// has committed by then.
const appliedHourSettled = time.Minute

// count is the applied deliveries of the hour from start, per outcome.
func (c *appliedHours) count(app core.App, start, now time.Time) (map[string]int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if n, ok := c.hours[start]; ok {
		return n, nil
	}
	var rows []struct {
		Outcome string `db:"outcome"`
		N       int    `db:"n"`
	}
	err := app.DB().NewQuery("SELECT outcome, COUNT(*) AS n FROM " + migrations.EventsCollection +
		" WHERE created >= {:from} AND created < {:to} GROUP BY outcome").
		Bind(dbx.Params{"from": dateString(start), "to": dateString(start.Add(time.Hour))}).All(&rows)
	if err != nil {
		return nil, err
	}
	n := make(map[string]int, len(rows))
	for _, r := range rows {
		n[r.Outcome] = r.N
	}
	if now.Sub(start.Add(time.Hour)) >= appliedHourSettled {
		if c.hours == nil {
			c.hours = map[time.Time]map[string]int{}
		}
		for h := range c.hours {
			if now.Sub(h) > 25*time.Hour {
				delete(c.hours, h)
			}
		}
		c.hours[start] = n
	}
	return n, nil
}

func deliveriesByHour(app core.App, now time.Time, applied *appliedHours) (deliveryHours, error) {
	first := now.Truncate(time.Hour).Add(-23 * time.Hour)
	d := deliveryHours{Hours: make([]string, 24), Series: []deliverySeries{}}
	index := map[string]int{} // "2006-01-02 15" → bucket
	for i := range d.Hours {
		h := dateString(first.Add(time.Duration(i) * time.Hour))
		d.Hours[i] = h
		index[h[:13]] = i
	}

	var failed []struct {
		Hour   string `db:"hour"`
		Status int    `db:"status"`
		N      int    `db:"count"`
	}
	err := app.DB().NewQuery("SELECT hour, status, count FROM " + migrations.DeliveryFailureHoursCollection +
		" WHERE hour >= {:since}").Bind(dbx.Params{"since": dateString(first)}).All(&failed)
	if err != nil {
		return d, err
	}

	series := map[string]*deliverySeries{}
	add := func(outcome string, status int, hour string, n int) {
		i, ok := index[hour[:min(13, len(hour))]]
		if !ok {
			return
		}
		s := series[outcome]
		if s == nil {
			s = &deliverySeries{Outcome: outcome, Status: status, Counts: make([]int, 24)}
			series[outcome] = s
		}
		s.Counts[i] += n
		s.Total += n
		if status < 400 {
			d.Applied += n
		} else {
			d.Failed += n
		}
	}
	for i, hour := range d.Hours {
		counts, err := applied.count(app, first.Add(time.Duration(i)*time.Hour), now)
		if err != nil {
			return d, err
		}
		for outcome, n := range counts {
			add(outcome, http.StatusOK, hour, n)
		}
	}
	for _, f := range failed {
		add(failureOutcome(f.Status), f.Status, f.Hour, f.N)
	}
	// Applied outcomes in the log's order, then the failures by status.
	for _, o := range migrations.Outcomes {
		if s := series[o]; s != nil {
			d.Series = append(d.Series, *s)
			delete(series, o)
		}
	}
	for len(series) > 0 {
		var next *deliverySeries
		for _, s := range series {
			if next == nil || s.Status < next.Status || s.Status == next.Status && s.Outcome < next.Outcome {
				next = s
			}
		}
		d.Series = append(d.Series, *next)
		delete(series, next.Outcome)
	}
	return d, nil
}

func lastApplied(app core.App, now time.Time) (*appliedDelivery, error) {
	var rows []struct {
		SvixID  string `db:"svixId"`
		Type    string `db:"type"`
		ClerkID string `db:"clerkId"`
		Outcome string `db:"outcome"`
		Created string `db:"created"`
	}
	err := app.DB().NewQuery("SELECT svixId, type, clerkId, outcome, created FROM " + migrations.EventsCollection +
		" ORDER BY created DESC, rowid DESC LIMIT 1").All(&rows) // two deliveries may share a millisecond: the later row wins
	if err != nil || len(rows) == 0 {
		return nil, err
	}
	r := rows[0]
	return &appliedDelivery{At: r.Created, AgeSeconds: age(r.Created, now), SvixID: r.SvixID, Type: r.Type, ClerkID: r.ClerkID, Outcome: r.Outcome}, nil
}

func recentFailures(app core.App, now time.Time) ([]failedDelivery, error) {
	var rows []struct {
		Status  int    `db:"status"`
		Reason  string `db:"reason"`
		SvixID  string `db:"svixId"`
		Count   int    `db:"count"`
		FirstAt string `db:"firstAt"`
		LastAt  string `db:"lastAt"`
	}
	err := app.DB().NewQuery("SELECT status, reason, svixId, count, firstAt, lastAt FROM " + migrations.DeliveryFailuresCollection +
		" ORDER BY lastAt DESC LIMIT {:n}").Bind(dbx.Params{"n": failureReasonsKept}).All(&rows)
	out := make([]failedDelivery, len(rows))
	for i, r := range rows {
		out[i] = failedDelivery{At: r.LastAt, AgeSeconds: age(r.LastAt, now), FirstAt: r.FirstAt, Status: r.Status,
			Outcome: failureOutcome(r.Status), Reason: r.Reason, Count: r.Count, SvixID: r.SvixID}
	}
	return out, err
}

func countRecords(app core.App) (recordCounts, error) {
	var c recordCounts
	n, err := app.CountRecords(migrations.ClientsCollection)
	if err != nil {
		return c, err
	}
	c.Clients = int(n)
	if n, err = app.CountRecords(migrations.TombstonesCollection); err != nil {
		return c, err
	}
	c.Tombstones = int(n)
	if _, err := app.FindCachedCollectionByNameOrId(migrations.OrganizationsCollection); err == nil {
		n, err := app.CountRecords(migrations.OrganizationsCollection)
		if err != nil {
			return c, err
		}
		orgs := int(n)
		c.Organizations = &orgs
	}
	if _, err := app.FindCachedCollectionByNameOrId(migrations.SubscriptionItemsCollection); err == nil {
		if c.SubscriptionItems, err = countItemsByStatus(app); err != nil {
			return c, err
		}
	}
	return c, nil
}

// countItemsByStatus counts the subscription items of each of Clerk's
// statuses, zeros included, in itemStatusOrder; a status Clerk adds later
// follows them, by name.
func countItemsByStatus(app core.App) ([]itemStatusCount, error) {
	var rows []itemStatusCount
	err := app.DB().NewQuery("SELECT [[" + migrations.FieldStatus + "]] AS status, COUNT(*) AS count FROM {{" +
		migrations.SubscriptionItemsCollection + "}} GROUP BY [[" + migrations.FieldStatus + "]] ORDER BY [[" + migrations.FieldStatus + "]]").All(&rows)
	if err != nil {
		return nil, err
	}
	counts := make([]itemStatusCount, len(itemStatusOrder))
	for i, status := range itemStatusOrder {
		counts[i].Status = status
	}
	for _, r := range rows {
		if i := slices.Index(itemStatusOrder, r.Status); i >= 0 {
			counts[i].Count = r.Count
		} else {
			counts = append(counts, r)
		}
	}
	return counts, nil
}

func age(date string, now time.Time) float64 {
	d, err := types.ParseDateTime(date)
	if err != nil || d.IsZero() {
		return 0
	}
	return now.Sub(d.Time()).Seconds()
}
