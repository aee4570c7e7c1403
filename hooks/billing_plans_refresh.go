package hooks

import (
	"context"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/pocketbase/pocketbase/core"
)

// planListingGap is the least time between two listings of the plans that
// subscription items ask for.
const planListingGap = time.Minute

// planLister lists Clerk's plans in the background when a subscription item
// brought a plan not stored yet: an item's copy of its plan has no
// features, and no event announces a plan, so without the listing the
// plan's buyers would pass no rule on its features until the next
// "clerk sync". Requests while a listing runs, or within planListingGap of
// the last, are served by one more listing.
type planLister struct {
	p     *plugin
	wake  chan struct{}
	start sync.Once
	stop  sync.Once
	done  chan struct{} // closed when the app terminates
}

func newPlanLister(p *plugin) *planLister {
	l := &planLister{p: p, wake: make(chan struct{}, 1), done: make(chan struct{})}
	p.app.OnTerminate().BindFunc(func(e *core.TerminateEvent) error {
		l.stop.Do(func() { close(l.done) })
		return e.Next()
	})
	return l
}

// request asks for a listing of the plans. Without a secret key there is
// no Backend API to ask: "clerk sync" brings the features.
func (l *planLister) request() {
	select {
	case <-l.done:
		return
	default:
	}
	if l.p.config.SecretKey == "" {
		return
	}
	l.start.Do(func() { go l.run() })
	select {
	case l.wake <- struct{}{}:
	default: // one is asked for already
	}
}

func (l *planLister) run() {
	for {
		select {
		case <-l.done:
			return
		case <-l.wake:
		}
		l.list()
		select {
		case <-l.done:
			return
		case <-time.After(planListingGap):
		}
	}
}

// list applies every plan as "clerk sync" does, each in a transaction of
// its own after the network calls.
func (l *planLister) list() {
	app := l.p.app
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := l.p.clerkConfig()
	backend := clerk.NewBackend(&cfg.BackendConfig)
	var plans []*billingPlan
	for page := range listPages(ctx, "listing Clerk Billing plans for a new plan's features", func(ctx context.Context, offset int64) ([]*billingPlan, int64, error) {
		return fetchPlans(ctx, backend, offset)
	}) {
		if page.err != nil {
			app.Logger().Warn("Clerk Billing: a subscription item named a plan not stored yet, and listing the plans for its features failed; rules on its features pass once clerk sync lists them", "error", page.err.Error())
			return
		}
		plans = append(plans, page.items...)
	}
	for _, plan := range plans {
		if _, err := runInTransaction(app, func(txApp core.App) error {
			_, err := planChange{Type: changePlanListed, Plan: plan}.apply(txApp, mappingConfig{})
			return err
		}); err != nil {
			app.Logger().Error("Clerk Billing: storing a listed plan failed", "plan", plan.ID, "error", err.Error())
		}
	}
}
