package hooks

import (
	"context"
	"fmt"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// prune deletes and tombstones the clients whose Clerk user is gone.
//
// Paging by offset can miss a user when another one is deleted in Clerk
// mid-listing, and users created during the run may be absent from it, so
// absence from the listing alone proves nothing. A client is pruned only
// when it was last saved before cutoff (the listing's start, less a margin:
// newer clients may come from webhooks for users the listing could not
// see) and a request by id, made after the listing, confirms its user does
// not exist. Clerk never reuses user ids, so that answer is final.
func (s *syncer) prune(ctx context.Context, users *user.Client, seen map[string]struct{}, cutoff time.Time) error {
	before, err := types.ParseDateTime(cutoff)
	if err != nil {
		return err
	}
	var local []string
	err = s.app.DB().Select(migrations.FieldClerkID).From(migrations.ClientsCollection).
		Where(dbx.NewExp("[[updated]] < {:cutoff}", dbx.Params{"cutoff": before.String()})).
		// Anonymized clients are deleted users already.
		AndWhere(dbx.HashExp{migrations.FieldDeletedAt: ""}).
		Column(&local)
	if err != nil {
		return fmt.Errorf("reading clients to prune: %w", err)
	}
	var unseen []string
	for _, id := range local {
		if _, ok := seen[id]; !ok {
			unseen = append(unseen, id)
		}
	}
	total, err := s.app.CountRecords(migrations.ClientsCollection)
	if err != nil {
		return err
	}
	refuse := func(gone string) error {
		return fmt.Errorf("not pruning: %s of %d clients have no user in this Clerk instance, more than a prune deletes without --force (a tenth of the clients, at least 1, never all). That more often means that CLERK_SECRET_KEY belongs to another instance than that the users were deleted; check the key, and if the deletions are real, run \"clerk sync --prune --force\"", gone, total)
	}

	var gone []change
	for start := 0; start < len(unseen); start += pruneCheckSize {
		chunk := unseen[start:min(start+pruneCheckSize, len(unseen))]
		found, err := users.List(ctx, &user.ListParams{
			ListParams: clerk.ListParams{Limit: clerk.Int64(pruneCheckSize)},
			UserIDs:    chunk,
		})
		if err != nil {
			return explainClerkError("checking users before pruning", err)
		}
		exists := map[string]bool{}
		for _, u := range found.Users {
			exists[u.ID] = true
		}
		// Users that the listing missed are applied like any other.
		s.counts.Listed += len(found.Users)
		s.apply(found.Users, usersJSON(found))
		for _, id := range chunk {
			if !exists[id] {
				gone = append(gone, userChange{Type: eventUserDeleted, User: &clerk.User{ID: id}})
			}
		}
		// Stop checking as soon as the guard is bound to refuse: with
		// another instance's key, every client is missing.
		// (A dry run lists them all instead.)
		if !s.opts.Force && !s.opts.DryRun && len(gone) > pruneLimit(int(total)) {
			return refuse(fmt.Sprint("at least ", len(gone)))
		}
	}
	if !s.opts.Force && !pruneAllowed(len(gone), int(total)) {
		if !s.opts.DryRun {
			return refuse(fmt.Sprint(len(gone)))
		}
		s.counts.guardWouldStop(len(gone), int(total), migrations.ClientsCollection)
	}
	s.applyChanges(gone, s.clients(), cutoff)
	return nil
}

// pruneAllowed is the prune guard. Without --force, a prune deletes at most
// a tenth of the clients (counted when the prune starts, after the listing
// was applied; rounded down, but at least 1), and never all of them: that
// many deletions more likely mean a secret key of another Clerk instance
// than mass deletions, and tombstoned users never come back.
func pruneAllowed(deletions, clients int) bool {
	return deletions == 0 || deletions <= pruneLimit(clients) && deletions < clients
}

// pruneLimit is the most clients a prune deletes without --force.
func pruneLimit(clients int) int {
	return max(clients/10, 1)
}
