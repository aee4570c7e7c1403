package hooks

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/pocketbase/pocketbase/core"
)

// runInTransaction runs fn in a transaction of app and tells apart what
// failed before or at the commit (err: nothing of fn is kept) from what
// failed after it (afterCommit: the errors of the hooks that PocketBase
// runs once the transaction has committed, such as an owner's
// onRecordAfterCreateSuccess; what fn wrote is kept). PocketBase's own
// RunInTransaction returns both alike.
func runInTransaction(app core.App, fn func(txApp core.App) error) (afterCommit, err error) {
	return runInTransactionThen(app, fn, nil)
}

// runInTransactionThen is runInTransaction that calls committed, when not
// nil, as soon as the transaction has committed, before PocketBase's
// after-commit functions run.
func runInTransactionThen(app core.App, fn func(txApp core.App) error, committed func()) (afterCommit, err error) {
	ok := false
	err = app.RunInTransaction(func(txApp core.App) error {
		// Registered before any Save's, so it runs first.
		if info := txApp.TxInfo(); info != nil && !app.IsTransactional() {
			info.OnComplete(func(txErr error) error {
				ok = txErr == nil
				if ok && committed != nil {
					committed()
				}
				return nil
			})
		}
		return fn(txApp)
	})
	if err != nil && ok {
		return unwrapAfterCommit(err), nil
	}
	return nil, err
}

// unwrapAfterCommit drops PocketBase's "transaction afterFunc errors:"
// prefix, which tells an operator nothing.
func unwrapAfterCommit(err error) error {
	for strings.HasPrefix(err.Error(), "transaction afterFunc errors") {
		next := errors.Unwrap(err)
		if joined, ok := err.(interface{ Unwrap() []error }); ok && len(joined.Unwrap()) == 1 {
			next = joined.Unwrap()[0]
		}
		if next == nil {
			break
		}
		err = next
	}
	return err
}

// hookFailureReason is how an after-commit hook's failure reads on the
// Clerk page and in the logs.
func hookFailureReason(err error) string {
	return "an after-commit hook failed (the change is stored; the hook is not run again): " + err.Error()
}

// hookFailedStatus marks, among the Clerk page's failures, an after-commit
// hook that failed on a delivery answered 200 as applied.
const hookFailedStatus = http.StatusOK

// recordHookFailure lists a failed after-commit hook among the failures'
// reasons; the delivery itself was applied, so no failed delivery is
// counted.
func (r *failureRecorder) recordHookFailure(at time.Time, reason, svixID string) {
	at = at.UTC()
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addReason(at, hookFailedStatus, truncate(reason, maxReasonLength), truncate(svixID, 200))
}

// deliveryHookFailed logs an after-commit hook's failure on committed
// deliveries and shows it on the Clerk page.
func (p *plugin) deliveryHookFailed(svixIDs []string, err error) {
	reason := hookFailureReason(err)
	p.app.Logger().Error("Clerk webhook applied, but a hook that runs after the commit failed: the delivery is answered 2xx and not retried, so redo the hook's work yourself (see the README's pb_hooks example)",
		slog.Any("svixIds", svixIDs), slog.String("error", err.Error()))
	p.failures.recordHookFailure(time.Now(), reason, svixIDs[len(svixIDs)-1])
}
