package hooks

import (
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"github.com/pocketbase/pocketbase/tools/router"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

const (
	// failureReasonsKept distinct reasons are kept, the newest: enough to
	// tell a wrong secret from a clock skew from a failing hook, never more
	// rows however many requests fail.
	failureReasonsKept = 50
	// maxReasonLength bounds a stored reason (the field holds 1000).
	maxReasonLength = 500
	// failuresFlushJobID writes the counted failures out once a minute on
	// PocketBase's cron.
	failuresFlushJobID = "clerkFailuresFlush"
)

// DeliveryFailuresMiddlewareId and DeliveryFailuresMiddlewarePriority name
// the middleware that counts the webhook's error answers. It runs just
// outside PocketBase's panic recovery, so that a panic is counted as the
// 500 it becomes, and around every middleware bound to the webhook's route
// (a flood limit's 503 is counted too).
const (
	DeliveryFailuresMiddlewareId       = "clerkDeliveryFailures"
	DeliveryFailuresMiddlewarePriority = apis.DefaultPanicRecoverMiddlewarePriority - 5
)

// failureRecorder counts the deliveries answered with an error. Clerk's
// rows in clerk_events mean "applied", so refusals and failures are kept
// apart: in memory per hour and status, and per distinct reason, then
// written out once a minute in one short transaction. A flood of unsigned
// requests thus costs a map increment each, and adds to counts rather than
// rows. What a SIGKILL loses is the last minute's counts, never a delivery.
type failureRecorder struct {
	mu      sync.Mutex
	hours   map[failureHour]int
	reasons map[failureKey]*failureReason

	flushMu sync.Mutex // one flush at a time, so none overtakes another's rows
}

type failureHour struct {
	hour   time.Time // UTC, truncated to the hour
	status int
}

type failureKey struct {
	status int
	reason string
}

type failureReason struct {
	svixID        string
	count         int
	first, latest time.Time
}

func newFailureRecorder() *failureRecorder {
	return &failureRecorder{hours: map[failureHour]int{}, reasons: map[failureKey]*failureReason{}}
}

// record counts one error answer.
func (r *failureRecorder) record(at time.Time, status int, reason, svixID string) {
	at = at.UTC()
	reason = truncate(reason, maxReasonLength)
	svixID = truncate(svixID, 200)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.hours[failureHour{at.Truncate(time.Hour), status}]++
	r.addReason(at, status, reason, svixID)
}

// addReason counts a reason; r.mu is held.
func (r *failureRecorder) addReason(at time.Time, status int, reason, svixID string) {
	key := failureKey{status, reason}
	if f := r.reasons[key]; f != nil {
		f.count++
		f.latest, f.svixID = at, svixID
		return
	}
	if len(r.reasons) >= failureReasonsKept {
		r.dropOldestReason()
	}
	r.reasons[key] = &failureReason{svixID: svixID, count: 1, first: at, latest: at}
}

func (r *failureRecorder) dropOldestReason() {
	var oldest failureKey
	var at time.Time
	for k, f := range r.reasons {
		if at.IsZero() || f.latest.Before(at) {
			oldest, at = k, f.latest
		}
	}
	delete(r.reasons, oldest)
}

// flush writes the counted failures to the database and forgets them; on
// an error they stay counted for the next flush.
func (r *failureRecorder) flush(app core.App, keepHoursAfter time.Time) error {
	r.flushMu.Lock()
	defer r.flushMu.Unlock()

	r.mu.Lock()
	hours, reasons := r.hours, r.reasons
	r.hours, r.reasons = map[failureHour]int{}, map[failureKey]*failureReason{}
	r.mu.Unlock()
	if len(hours) == 0 && len(reasons) == 0 {
		return nil
	}

	err := app.RunInTransaction(func(txApp core.App) error {
		return writeFailures(txApp, hours, reasons, keepHoursAfter)
	})
	if err != nil {
		r.restore(hours, reasons)
	}
	return err
}

// restore adds counts that could not be written back to the pending ones.
func (r *failureRecorder) restore(hours map[failureHour]int, reasons map[failureKey]*failureReason) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for k, n := range hours {
		r.hours[k] += n
	}
	for k, f := range reasons {
		if g := r.reasons[k]; g != nil {
			g.count += f.count
			g.first = f.first
			continue
		}
		if len(r.reasons) < failureReasonsKept {
			r.reasons[k] = f
		}
	}
}

func writeFailures(txApp core.App, hours map[failureHour]int, reasons map[failureKey]*failureReason, keepHoursAfter time.Time) error {
	db := txApp.DB()
	for k, n := range hours {
		_, err := db.NewQuery("INSERT INTO " + migrations.DeliveryFailureHoursCollection +
			" (id, hour, status, count) VALUES ({:id}, {:hour}, {:status}, {:count})" +
			" ON CONFLICT (hour, status) DO UPDATE SET count = count + excluded.count").Bind(dbx.Params{
			"id":     core.GenerateDefaultRandomId(),
			"hour":   dateString(k.hour),
			"status": k.status,
			"count":  n,
		}).Execute()
		if err != nil {
			return err
		}
	}
	for k, f := range reasons {
		_, err := db.NewQuery("INSERT INTO " + migrations.DeliveryFailuresCollection +
			" (id, status, reason, svixId, count, firstAt, lastAt) VALUES ({:id}, {:status}, {:reason}, {:svixId}, {:count}, {:firstAt}, {:lastAt})" +
			" ON CONFLICT (status, reason) DO UPDATE SET count = count + excluded.count, svixId = excluded.svixId, lastAt = excluded.lastAt").Bind(dbx.Params{
			"id":      core.GenerateDefaultRandomId(),
			"status":  k.status,
			"reason":  k.reason,
			"svixId":  f.svixID,
			"count":   f.count,
			"firstAt": dateString(f.first),
			"lastAt":  dateString(f.latest),
		}).Execute()
		if err != nil {
			return err
		}
	}
	_, err := db.NewQuery("DELETE FROM " + migrations.DeliveryFailuresCollection + " WHERE id NOT IN (SELECT id FROM " +
		migrations.DeliveryFailuresCollection + " ORDER BY lastAt DESC LIMIT {:keep})").Bind(dbx.Params{"keep": failureReasonsKept}).Execute()
	if err != nil {
		return err
	}
	_, err = db.NewQuery("DELETE FROM " + migrations.DeliveryFailureHoursCollection + " WHERE hour < {:cutoff}").
		Bind(dbx.Params{"cutoff": dateString(keepHoursAfter)}).Execute()
	return err
}

// countFailures is the middleware that counts the webhook's error answers.
func (p *plugin) countFailures() *hook.Handler[*core.RequestEvent] {
	return &hook.Handler[*core.RequestEvent]{
		Id:       DeliveryFailuresMiddlewareId,
		Priority: DeliveryFailuresMiddlewarePriority,
		Func: func(e *core.RequestEvent) error {
			if e.Request.URL.Path != WebhookPath || e.Request.Method != http.MethodPost {
				return e.Next()
			}
			err := e.Next()
			status, reason := e.Status(), ""
			if err != nil {
				apiErr := router.ToApiError(err)
				if status == 0 {
					status = apiErr.Status
				}
				reason = apiErr.Message
				// A 5xx's message says that Svix retries; its cause is
				// what the operator needs.
				if cause, ok := apiErr.RawData().(error); ok && status >= 500 {
					reason = cause.Error()
				}
			} else if status >= 400 {
				reason = http.StatusText(status)
			}
			if status >= 400 {
				// Only a verified id: an unsigned request's headers are
				// anyone's words, and the Clerk page is no place for them.
				id, _ := e.Get(verifiedDeliveryIDKey).(string)
				p.failures.record(time.Now(), status, reason, id)
			}
			return err
		},
	}
}

// flushFailures writes out the counted failures, logging what it cannot.
func (p *plugin) flushFailures() {
	if err := p.failures.flush(p.app, time.Now().Add(-p.config.EventRetention)); err != nil {
		p.app.Logger().Warn("Saving the count of failed Clerk deliveries failed; it is kept in memory and retried in a minute", "error", err.Error())
	}
}

func dateString(t time.Time) string {
	d, _ := types.ParseDateTime(t)
	return d.String()
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return strings.ToValidUTF8(s[:n], "") + "…"
}
