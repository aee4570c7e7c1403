package hooks

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/clerk/clerk-sdk-go/v2/user"
	"github.com/pocketbase/pocketbase/core"
)

// firstSightTimeout bounds the Backend API call of a first sight.
const firstSightTimeout = 10 * time.Second

// unknownUserTTL is how long a user that Clerk said it does not know is
// not fetched again: its token may come with every request for a minute.
const unknownUserTTL = 30 * time.Second

// errUserGone means that the token's user was deleted: it has a tombstone,
// or Clerk does not know it.
var errUserGone = errors.New("the Clerk user was deleted")

// clientForUser returns the client of a user whose session token is valid.
// A user seen for the first time, before Clerk's webhook arrived, is
// fetched from the Backend API and synced on the spot. nil without error
// means nobody yet: first sight is off because CLERK_SECRET_KEY is not set.
// errUserGone means nobody for good.
func (a *sessionAuth) clientForUser(ctx context.Context, app core.App, clerkID string) (*clientRecord, error) {
	client, err := findClient(app, clerkID)
	if client != nil && client.Deleted() {
		return nil, errUserGone // anonymized: deleted in Clerk
	}
	if client != nil || err != nil {
		return client, err
	}
	if gone, err := isTombstoned(app, clerkID); gone || err != nil {
		return nil, cmp.Or(err, errUserGone)
	}
	if a.p.config.SecretKey == "" {
		return nil, nil
	}
	if a.unknownUsers.Contains(clerkID) {
		return nil, errUserGone
	}
	// One fetch per user however many requests arrive at once; it outlives
	// the request that started it, as the others wait on it too.
	v, err, _ := a.firstSight.Do(clerkID, func() (any, error) {
		return a.syncOnFirstSight(context.WithoutCancel(ctx), app, clerkID)
	})
	if shared, _ := v.(*clientRecord); shared != nil {
		// Every waiter got the same record, and PocketBase changes e.Auth.
		client = &clientRecord{shared.Clone()}
	}
	return client, err
}

func (a *sessionAuth) syncOnFirstSight(ctx context.Context, app core.App, clerkID string) (*clientRecord, error) {
	// A request that arrived just after an earlier fetch finished finds its client.
	if client, err := findClient(app, clerkID); client != nil || err != nil {
		return client, err
	}

	ctx, cancel := context.WithTimeout(ctx, firstSightTimeout)
	defer cancel()
	u, err := user.NewClient(a.p.clerkConfig()).Get(ctx, clerkID)
	if isClerkNotFound(err) {
		app.Logger().Info("A valid Clerk session token names a user that Clerk does not know (deleted?); the request goes on unauthenticated", "clerkId", clerkID)
		a.unknownUsers.Add(clerkID, struct{}{})
		return nil, errUserGone
	}
	if err != nil {
		return nil, fmt.Errorf("%w; the webhook will still create the client", explainClerkError("fetching the user from Clerk's Backend API", err))
	}
	if u.ID != clerkID {
		return nil, fmt.Errorf("asked Clerk's Backend API for user %q, it answered user %q: check CLERK_API_URL", clerkID, u.ID)
	}

	// The same apply as a webhook's: ordering and tombstones hold, and the
	// webhook that lands later finds the client up to date.
	var result outcome
	hookErr, err := runInTransaction(app, func(txApp core.App) error {
		var err error
		result, err = userChange{Type: eventUserUpdated, User: u, UserJSON: rawJSON(u.Response), At: time.Now()}.apply(txApp, a.p.mapping)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("applying the fetched user: %w", err)
	}
	if hookErr != nil {
		app.Logger().Error("Clerk user synced on first sight, but "+hookFailureReason(hookErr), "clerkId", clerkID)
	}
	app.Logger().Info("Clerk user synced on first sight", "clerkId", clerkID, "outcome", string(result))
	return findClient(app, clerkID)
}
