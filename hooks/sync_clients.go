package hooks

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"
	"github.com/pocketbase/pocketbase/core"

	"github.com/pocketclerk/pocketclerk/migrations"
)

const (
	// syncPageSize is the Backend API's largest page.
	syncPageSize = 500
	// syncBatchSize users are applied per transaction: large enough that
	// commits are few, small enough that webhook deliveries waiting for the
	// write lock wait only a few tens of milliseconds.
	syncBatchSize = 100
	// pruneCheckSize user ids are checked per request before pruning.
	pruneCheckSize = 100
	// pruneMargin keeps clients saved shortly before the listing started
	// out of pruning: their Clerk user may be too new to be listed yet.
	pruneMargin = time.Minute
)

// syncOptions says what a sync may change.
type syncOptions struct {
	// Prune deletes and tombstones clients whose Clerk user no longer exists.
	Prune bool
	// DryRun applies every batch in a transaction that is rolled back.
	DryRun bool
	// Force lets Prune delete more than pruneAllowed allows.
	Force bool
	// progress, when set, is told the counts so far after each page.
	progress func(counts syncCounts, total int)
	// pruned, when set, is told the clients that each committed batch
	// deleted by pruning (or, in a dry run, would have).
	pruned func([]prunedClient)
	// mapping is the configuration the changes are applied with.
	mapping mappingConfig
}

// syncCounts is what a sync did, or would do in a dry run: to clients
// (the counts it embeds), organizations and memberships.
type syncCounts struct {
	objectCounts
	// HookFailures counts the transactions whose changes were stored but
	// whose after-commit hooks (an owner's) failed; the logs say which.
	HookFailures int

	Organizations, Memberships objectCounts
	// Plans and Items are Clerk Billing's plans and subscription items.
	Plans, Items objectCounts

	// GuardStop says, in a dry run, on which prune guards the real prune
	// would stop: one for each kind of record, separated by "; ".
	GuardStop string
	// OrganizationsSkipped says why organizations and memberships were not
	// synced, when Clerk refused to list them; empty when they were.
	OrganizationsSkipped string
	// BillingSkipped says why plans and items were not synced, when Clerk
	// refused to list them; empty when they were.
	BillingSkipped string
	// NotPruned says what a prune kept and why, when it could not check.
	NotPruned string
}

// objectCounts is what a sync did to the records of one Clerk object.
type objectCounts struct {
	Listed    int // read from Clerk
	Created   int
	Updated   int
	Unchanged int
	Skipped   int // stale (the record holds newer data) or deleted before
	Deleted   int // deleted in Clerk, or pruned
	Failed    int // could not be applied; see the error
}

// guardWouldStop adds a guard that the real prune would stop on.
func (c *syncCounts) guardWouldStop(gone, total int, collection string) {
	if c.GuardStop != "" {
		c.GuardStop += "; "
	}
	c.GuardStop += fmt.Sprintf("%d of %d %s are gone from this Clerk instance, more than a prune deletes (a tenth, at least 1, never all)", gone, total, collection)
}

func (c *objectCounts) add(o outcome) {
	switch o {
	case outcomeCreated:
		c.Created++
	case outcomeUpdated:
		c.Updated++
	case outcomeUnchanged:
		c.Unchanged++
	case outcomeStale, outcomeGone:
		c.Skipped++
	case outcomeDeleted, outcomeAnonymized: // deleted in Clerk; kept here for a relation
		c.Deleted++
	}
}

// merge adds what a committed batch did.
func (c *objectCounts) merge(o objectCounts) {
	c.Created += o.Created
	c.Updated += o.Updated
	c.Unchanged += o.Unchanged
	c.Skipped += o.Skipped
	c.Deleted += o.Deleted
}

// summary says the counts of what, the records' plural; skipped names what
// skipped counts.
func (c objectCounts) summary(what, skipped string) string {
	s := fmt.Sprintf("%d %s listed: %d created, %d updated, %d unchanged, %d %s, %d deleted",
		c.Listed, what, c.Created, c.Updated, c.Unchanged, c.Skipped, skipped, c.Deleted)
	if c.Failed > 0 {
		s += fmt.Sprintf(", %d failed", c.Failed)
	}
	return s
}

func (c syncCounts) summary(dryRun bool) string {
	s := c.objectCounts.summary("users", "skipped (stale or deleted)")
	if c.OrganizationsSkipped != "" {
		s += "; organizations: " + c.OrganizationsSkipped
	} else {
		s += "; " + c.Organizations.summary("organizations", "skipped") + "; " + c.Memberships.summary("memberships", "skipped")
	}
	if c.BillingSkipped != "" {
		s += "; billing: " + c.BillingSkipped
	} else {
		s += "; " + c.Plans.summary("billing plans", "skipped") + "; " + c.Items.summary("subscription items", "skipped")
	}
	if c.NotPruned != "" {
		s += "; " + c.NotPruned
	}
	if c.HookFailures > 0 {
		s += fmt.Sprintf("; %d times an after-commit hook failed (the changes are stored; see the logs)", c.HookFailures)
	}
	if dryRun {
		s = "Dry run, nothing written; would have: " + s
	}
	return s
}

// pruneWouldStop ends a dry run of --prune whose real run would stop on a
// guard: the dry run did all of its work, and fails as the real run would.
type pruneWouldStop struct{ stops string }

// pruneWouldStopPrefix starts the error, which the dashboard reads.
const pruneWouldStopPrefix = "The real prune would stop"

func (e *pruneWouldStop) Error() string {
	return pruneWouldStopPrefix + " without --force: " + e.stops +
		". That more often means that CLERK_SECRET_KEY belongs to another instance than that these were deleted; check the key, and if the deletions are real, run \"clerk sync --prune --force\""
}

// errDryRun rolls a dry run's transactions back.
var errDryRun = errors.New("dry run")

// syncClients brings the clients in line with every user of Clerk's Backend
// API: it pages through all users (oldest first, so users created during
// the run land on later pages) and applies each through userChange.apply in
// short transactions, none of which waits for an API call. With Prune, it
// then deletes the clients whose user is gone. Progress goes to progress
// (nil: none). It serves "clerk sync" and the scheduled repair.
func syncClients(ctx context.Context, app core.App, cfg *clerk.ClientConfig, opts syncOptions, progress io.Writer) (syncCounts, error) {
	var counts syncCounts
	if clerkKey(cfg) == "" {
		return counts, errors.New("CLERK_SECRET_KEY is not set: the sync reads users from Clerk's Backend API with it. Set it to the secret key (sk_...) from Clerk's dashboard, API keys")
	}
	cfg = withClerkTransport(cfg, func(attempt int, delay time.Duration, cause string) {
		msg := fmt.Sprintf("%s; retrying in %s (attempt %d of %d)", cause, delay.Round(time.Second/10), attempt+1, clerkMaxAttempts)
		if progress != nil {
			fmt.Fprintln(progress, "clerk sync: "+msg)
		} else {
			app.Logger().Warn("Clerk sync: " + msg)
		}
	})
	users := user.NewClient(cfg)
	bar := newProgressBar(progress)
	s := &syncer{app: app, opts: opts, counts: &counts}

	listingStarted := time.Now()
	var seen map[string]struct{}
	if opts.Prune {
		seen = map[string]struct{}{}
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for page := range listUsers(ctx, users) {
		if page.err != nil {
			return counts, page.err
		}
		counts.Listed += len(page.users)
		for _, u := range page.users {
			if seen != nil {
				seen[u.ID] = struct{}{}
			}
		}
		s.apply(page.users, page.usersJSON)
		bar.update(counts.Listed, page.total)
		if opts.progress != nil {
			opts.progress(counts, page.total)
		}
	}
	if err := ctx.Err(); err != nil {
		return counts, err // a partial listing must not be pruned against
	}
	bar.finish(counts.Listed)
	orgs := newOrgSync(s, cfg, progress)
	if err := orgs.list(ctx); err != nil {
		return counts, err
	}
	bills := newBillingSync(s, cfg, progress)
	if err := bills.list(ctx); err != nil {
		return counts, err
	}

	if opts.Prune {
		if err := s.prune(ctx, users, seen, listingStarted.Add(-pruneMargin)); err != nil {
			return counts, err
		}
		if counts.OrganizationsSkipped == "" {
			if err := orgs.prune(ctx, listingStarted.Add(-pruneMargin)); err != nil {
				return counts, err
			}
		} else if err := orgs.keepUnlisted(); err != nil {
			return counts, err
		}
		if counts.BillingSkipped == "" {
			if err := bills.prune(ctx, listingStarted.Add(-pruneMargin)); err != nil {
				return counts, err
			}
		} else if err := bills.keepUnlisted(); err != nil {
			return counts, err
		}
	}
	if counts.GuardStop != "" {
		return counts, &pruneWouldStop{counts.GuardStop}
	}
	if failed := counts.Failed + counts.Organizations.Failed + counts.Memberships.Failed + counts.Plans.Failed + counts.Items.Failed; failed > 0 {
		return counts, fmt.Errorf("%d users, organizations, memberships, billing plans or subscription items could not be applied (%v); the rest is done: run the sync again once the cause is fixed", failed, s.firstFailure)
	}
	return counts, nil
}

// checkUserPage refuses a page of the user listing that Clerk's Backend API
// would not send: more users than asked for, an entry that is null or has
// no id, the previous page again (an API that ignores offset would make the
// sync run forever), or a listing running past the count it announces by
// more than a page (users created during the run may add to it).
func checkUserPage(list *clerk.UserList, offset int64, previous []*clerk.User) error {
	if len(list.Users) > syncPageSize {
		return fmt.Errorf("the page holds %d users, more than the %d asked for", len(list.Users), syncPageSize)
	}
	for i, u := range list.Users {
		if u == nil || u.ID == "" {
			return fmt.Errorf("entry %d of the page is not a user (null, or no id)", i)
		}
	}
	if len(previous) > 0 && list.Users[0].ID == previous[0].ID {
		return errors.New("the page repeats the previous one (the API ignores offset?)")
	}
	if listed := offset + int64(len(list.Users)); listed > list.TotalCount+syncPageSize {
		return fmt.Errorf("the listing reached %d users but the API counts %d", listed, list.TotalCount)
	}
	return nil
}

// userPage is one page of the listing, or the error that ended it.
type userPage struct {
	users     []*clerk.User
	usersJSON []json.RawMessage // users as Clerk sent them, when known
	total     int
	err       error
}

// listUsers pages through all users, oldest first, one page ahead of the
// caller: the next page downloads while the caller's transaction runs, and
// no transaction ever waits for the network.
func listUsers(ctx context.Context, users *user.Client) <-chan userPage {
	pages := make(chan userPage)
	go func() {
		defer close(pages)
		var previous []*clerk.User
		for offset := int64(0); ; {
			list, err := users.List(ctx, &user.ListParams{
				ListParams: clerk.ListParams{Limit: clerk.Int64(syncPageSize), Offset: clerk.Int64(offset)},
				OrderBy:    clerk.String("+created_at"),
			})
			page := userPage{err: err}
			if err != nil {
				page.err = explainClerkError(fmt.Sprintf("listing Clerk users (offset %d)", offset), err)
			} else if len(list.Users) == 0 {
				return
			} else if err = checkUserPage(list, offset, previous); err != nil {
				page.err = fmt.Errorf("listing Clerk users (offset %d): %w; nothing of this page was applied, and nothing is pruned. Check CLERK_API_URL: it should be Clerk's Backend API", offset, err)
			} else {
				page.users, page.total = list.Users, int(list.TotalCount)
				page.usersJSON = usersJSON(list)
				previous = list.Users
			}
			select {
			case pages <- page:
			case <-ctx.Done():
				return
			}
			if err != nil || len(list.Users) < syncPageSize {
				return
			}
			offset += int64(len(list.Users))
		}
	}()
	return pages
}

// usersJSON splits a listing's body into its users' JSON, in order; nil
// when the body is not at hand.
func usersJSON(list *clerk.UserList) []json.RawMessage {
	var body struct {
		Data []json.RawMessage `json:"data"`
	}
	if json.Unmarshal(rawJSON(list.Response), &body) != nil || len(body.Data) != len(list.Users) {
		return nil
	}
	return body.Data
}

// rawJSON is the body of a Backend API response, or nil.
func rawJSON(r *clerk.APIResponse) json.RawMessage {
	if r == nil {
		return nil
	}
	return r.RawJSON
}

type syncer struct {
	app          core.App
	opts         syncOptions
	counts       *syncCounts
	firstFailure error
}

// syncTarget is the records of one Clerk object as the sync applies them.
type syncTarget struct {
	collection string
	noun       string // names a record in errors
	counts     *objectCounts
}

func (s *syncer) clients() syncTarget {
	return syncTarget{migrations.ClientsCollection, "client", &s.counts.objectCounts}
}

func (s *syncer) organizations() syncTarget {
	return syncTarget{migrations.OrganizationsCollection, migrations.OrganizationsCollection, &s.counts.Organizations}
}

func (s *syncer) memberships() syncTarget {
	return syncTarget{migrations.MembershipsCollection, migrations.MembershipsCollection, &s.counts.Memberships}
}

// apply applies Clerk's current state of users; usersJSON, when not nil,
// holds each user's JSON as Clerk sent it.
func (s *syncer) apply(users []*clerk.User, usersJSON []json.RawMessage) {
	changes := make([]change, len(users))
	for i, u := range users {
		ch := userChange{Type: eventUserUpdated, User: u}
		if len(usersJSON) == len(users) {
			ch.UserJSON = usersJSON[i]
		}
		changes[i] = ch
	}
	s.applyChanges(changes, s.clients(), time.Time{})
}

// applyChanges applies changes in transactions of syncBatchSize. When a
// batch fails (an owner's hook rejects one record, an email clash that
// cannot be resolved yet), its changes are applied one per transaction, so
// one bad record costs only itself. A non-zero pruneBefore marks deletions
// made by pruning, which skip records saved since then.
func (s *syncer) applyChanges(changes []change, to syncTarget, pruneBefore time.Time) {
	for start := 0; start < len(changes); start += syncBatchSize {
		batch := changes[start:min(start+syncBatchSize, len(changes))]
		done, err := s.commit(batch, to, pruneBefore)
		if err == nil {
			to.counts.merge(done)
			continue
		}
		for i := range batch {
			done, err := s.commit(batch[i:i+1], to, pruneBefore)
			if err != nil {
				s.fail(to, batch[i].clerkID(), err)
				continue
			}
			to.counts.merge(done)
		}
	}
}

// commit applies one batch in one transaction and returns its counts once
// committed (or rolled back, in a dry run).
func (s *syncer) commit(batch []change, to syncTarget, pruneBefore time.Time) (objectCounts, error) {
	var done objectCounts
	var pruned []prunedClient
	hookErr, err := runInTransaction(s.app, func(txApp core.App) error {
		done, pruned = objectCounts{}, nil
		for _, ch := range batch {
			var record *core.Record
			if !pruneBefore.IsZero() {
				var err error
				if record, err = prunable(txApp, to.collection, ch.clerkID(), pruneBefore); record == nil || err != nil {
					if err != nil {
						return err
					}
					continue
				}
			}
			o, err := ch.apply(txApp, s.opts.mapping)
			if err != nil {
				return fmt.Errorf("%s %s: %w", to.noun, ch.clerkID(), err)
			}
			done.add(o)
			if isClient(record) && (o == outcomeDeleted || o == outcomeAnonymized) {
				pruned = append(pruned, describePruned(&clientRecord{record}))
			}
		}
		if s.opts.DryRun {
			return errDryRun
		}
		return nil
	})
	if errors.Is(err, errDryRun) {
		err = nil
	}
	if hookErr != nil {
		s.counts.HookFailures++
		ids := make([]string, len(batch))
		for i, ch := range batch {
			ids[i] = ch.clerkID()
		}
		s.app.Logger().Error("Clerk sync stored a batch, but "+hookFailureReason(hookErr), "collection", to.collection, "clerkIds", ids)
	}
	if err == nil && len(pruned) > 0 && s.opts.pruned != nil {
		s.opts.pruned(pruned)
	}
	return done, err
}

func (s *syncer) fail(to syncTarget, clerkID string, err error) {
	to.counts.Failed++
	if s.firstFailure == nil {
		s.firstFailure = err
	}
	s.app.Logger().Warn("Clerk sync could not apply a record", "collection", to.collection, "clerkId", clerkID, "error", err.Error())
}

// prunable returns the record of collection that mirrors clerkID if it may
// still be pruned inside the transaction that deletes it (a webhook may have
// saved it since it was read), or nil.
func prunable(txApp core.App, collection, clerkID string, cutoff time.Time) (*core.Record, error) {
	record, err := findByClerkID(txApp, collection, clerkID)
	if record == nil || err != nil {
		return nil, err // deleted since, by a webhook, a cascade or by hand
	}
	if !record.GetDateTime("updated").Time().Before(cutoff) {
		return nil, nil
	}
	return record, nil
}
