package hooks

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/organization"
	"github.com/clerk/clerk-sdk-go/v2/organizationmembership"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/types"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// orgSync is the organizations' part of a sync: it lists every organization
// and every membership of the instance, applies them through the webhook's
// mappings, and remembers what it saw for pruning.
type orgSync struct {
	*syncer
	backend     clerk.Backend
	orgs        *organization.Client
	members     *organizationmembership.Client
	progress    io.Writer
	seenOrgs    map[string]struct{}
	seenMembers map[string]struct{}
}

func newOrgSync(s *syncer, cfg *clerk.ClientConfig, progress io.Writer) *orgSync {
	return &orgSync{
		syncer:      s,
		backend:     clerk.NewBackend(&cfg.BackendConfig),
		orgs:        organization.NewClient(cfg),
		members:     organizationmembership.NewClient(cfg),
		progress:    progress,
		seenOrgs:    map[string]struct{}{},
		seenMembers: map[string]struct{}{},
	}
}

// organizationsNotEnabled is what a sync reports of an instance without
// the organizations feature.
const organizationsNotEnabled = "not enabled in this Clerk instance: skipped"

// list applies every organization, then every membership, of the instance.
// Users come first (syncClients), so that memberships find their clients.
// An instance without the organizations feature refuses both listings:
// the sync goes on without them and says so.
func (o *orgSync) list(ctx context.Context) error {
	bar := newProgressBar(o.progress)
	bar.noun = "organizations"
	counts := &o.counts.Organizations
	for page := range listPages(ctx, "listing Clerk organizations", o.listOrganizations) {
		if page.err != nil {
			return o.refused(page.err)
		}
		counts.Listed += len(page.items)
		changes := make([]objectChange, len(page.items))
		for i, org := range page.items {
			o.seenOrgs[org.ID] = struct{}{}
			changes[i] = organizationUpsert(org)
		}
		o.applyObjects(changes, counts, migrations.OrganizationsCollection, time.Time{})
		bar.update(counts.Listed, page.total)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	bar.finish(counts.Listed)

	bar = newProgressBar(o.progress)
	bar.noun = "memberships"
	counts = &o.counts.Memberships
	for page := range listPages(ctx, "listing Clerk organization memberships", o.listMemberships) {
		if page.err != nil {
			return o.refused(page.err)
		}
		counts.Listed += len(page.items)
		changes := make([]objectChange, 0, len(page.items))
		for _, m := range page.items {
			if m.Organization == nil || m.Organization.ID == "" || membershipUserID(m) == "" {
				o.failObject(counts, migrations.MembershipsCollection, m.ID, errors.New("a membership from Clerk's Backend API has no organization or user"))
				continue
			}
			o.seenMembers[m.ID] = struct{}{}
			changes = append(changes, membershipUpsert(m))
		}
		o.applyObjects(changes, counts, migrations.MembershipsCollection, time.Time{})
		bar.update(counts.Listed, page.total)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	bar.finish(counts.Listed)
	return nil
}

// refused is nil, with the organizations marked skipped, when err says that
// the instance has no organizations; else err.
func (o *orgSync) refused(err error) error {
	if !errors.Is(err, errOrganizationsNotEnabled) {
		return err
	}
	o.counts.OrganizationsSkipped = organizationsNotEnabled
	o.counts.Organizations, o.counts.Memberships = objectCounts{}, objectCounts{}
	o.app.Logger().Info("Clerk sync: organizations are " + organizationsNotEnabled + " (Clerk answered 403 organization_not_enabled_in_instance; enable them in Clerk's dashboard → Organizations)")
	return nil
}

// keepUnlisted says, in place of a prune, that the stored organizations and
// memberships are kept: a refused listing proves nothing about them.
func (o *orgSync) keepUnlisted() error {
	orgs, err := o.app.CountRecords(migrations.OrganizationsCollection)
	if err != nil {
		return err
	}
	members, err := o.app.CountRecords(migrations.MembershipsCollection)
	if err != nil {
		return err
	}
	if orgs+members == 0 {
		return nil
	}
	o.counts.NotPruned = fmt.Sprintf("organizations not pruned: Clerk refused to list them (organizations are not enabled in this instance; turned off since the last sync?), so the %d organizations and %d memberships stored are kept; delete them in the dashboard if they are gone for good", orgs, members)
	o.app.Logger().Warn("Clerk sync: " + o.counts.NotPruned)
	return nil
}

func (o *orgSync) listOrganizations(ctx context.Context, offset int64) ([]*clerk.Organization, int64, error) {
	list, err := o.orgs.List(ctx, &organization.ListParams{
		ListParams: clerk.ListParams{Limit: clerk.Int64(syncPageSize), Offset: clerk.Int64(offset)},
		OrderBy:    clerk.String("+created_at"),
	})
	if err != nil {
		return nil, 0, err
	}
	return list.Organizations, list.TotalCount, nil
}

// listMemberships pages GET /v1/organization_memberships, the instance's
// memberships, for which clerk-sdk-go has no client: the SDK's request,
// parameters and types go through its backend.
func (o *orgSync) listMemberships(ctx context.Context, offset int64) ([]*clerk.OrganizationMembership, int64, error) {
	req := clerk.NewAPIRequest(http.MethodGet, "/organization_memberships")
	req.SetParams(&organizationmembership.ListParams{
		ListParams: clerk.ListParams{Limit: clerk.Int64(syncPageSize), Offset: clerk.Int64(offset)},
		OrderBy:    clerk.String("+created_at"),
	})
	list := &clerk.OrganizationMembershipList{}
	if err := o.backend.Call(ctx, req, list); err != nil {
		return nil, 0, err
	}
	return list.OrganizationMemberships, list.TotalCount, nil
}

// listPage is one page of a listing, or the error that ended it.
type listPage[T any] struct {
	items []T
	total int
	err   error
}

// listPages pages through a listing one page ahead of the caller, as
// listUsers does: no transaction waits for the network.
func listPages[T any](ctx context.Context, what string, fetch func(ctx context.Context, offset int64) ([]T, int64, error)) <-chan listPage[T] {
	pages := make(chan listPage[T])
	go func() {
		defer close(pages)
		for offset := int64(0); ; {
			items, total, err := fetch(ctx, offset)
			page := listPage[T]{items: items, total: int(total)}
			if isOrganizationsNotEnabled(err) {
				page.err = errOrganizationsNotEnabled
			} else if err != nil {
				page.err = explainClerkError(fmt.Sprintf("%s (offset %d)", what, offset), err)
			} else if len(items) == 0 {
				return
			}
			select {
			case pages <- page:
			case <-ctx.Done():
				return
			}
			if err != nil || len(items) < syncPageSize {
				return
			}
			offset += int64(len(items))
		}
	}()
	return pages
}

// objectChange is one organization or membership change of a sync.
type objectChange struct {
	clerkID string
	apply   func(txApp core.App, at time.Time) (outcome, error)
}

func organizationUpsert(org *clerk.Organization) objectChange {
	return objectChange{clerkID: org.ID, apply: func(txApp core.App, at time.Time) (outcome, error) {
		return applyOrganizationEvent(txApp, organizationChange{Type: eventOrganizationUpdated, Organization: org, At: at})
	}}
}

func organizationDeletion(id string) objectChange {
	return objectChange{clerkID: id, apply: func(txApp core.App, at time.Time) (outcome, error) {
		return applyOrganizationEvent(txApp, organizationChange{Type: eventOrganizationDeleted, Organization: &clerk.Organization{ID: id}, At: at})
	}}
}

func membershipUpsert(m *clerk.OrganizationMembership) objectChange {
	return objectChange{clerkID: m.ID, apply: func(txApp core.App, at time.Time) (outcome, error) {
		return applyMembershipEvent(txApp, membershipChange{Type: eventMembershipUpdated, Membership: m, At: at})
	}}
}

func membershipDeletion(member *core.Record) objectChange {
	m := &clerk.OrganizationMembership{
		ID:             member.GetString(migrations.FieldClerkID),
		Organization:   &clerk.Organization{ID: member.GetString(migrations.FieldClerkOrganizationID)},
		PublicUserData: &clerk.OrganizationMembershipPublicUserData{UserID: member.GetString(migrations.FieldClerkUserID)},
	}
	return objectChange{clerkID: m.ID, apply: func(txApp core.App, at time.Time) (outcome, error) {
		return applyMembershipEvent(txApp, membershipChange{Type: eventMembershipDeleted, Membership: m, At: at})
	}}
}

// applyObjects applies changes as applyChanges does for users: batches of
// syncBatchSize, one per transaction, and one at a time when a batch fails.
// A non-zero pruneBefore marks prunes, which skip records of collection
// saved since then.
func (s *syncer) applyObjects(changes []objectChange, counts *objectCounts, collection string, pruneBefore time.Time) {
	for start := 0; start < len(changes); start += syncBatchSize {
		batch := changes[start:min(start+syncBatchSize, len(changes))]
		done, err := s.commitObjects(batch, collection, pruneBefore)
		if err == nil {
			counts.merge(done)
			continue
		}
		for i := range batch {
			done, err := s.commitObjects(batch[i:i+1], collection, pruneBefore)
			if err != nil {
				s.failObject(counts, collection, batch[i].clerkID, err)
				continue
			}
			counts.merge(done)
		}
	}
}

func (s *syncer) commitObjects(batch []objectChange, collection string, pruneBefore time.Time) (objectCounts, error) {
	var done objectCounts
	now := time.Now()
	hookErr, err := runInTransaction(s.app, func(txApp core.App) error {
		for _, ch := range batch {
			if !pruneBefore.IsZero() {
				ok, err := savedBefore(txApp, collection, ch.clerkID, pruneBefore)
				if err != nil {
					return err
				}
				if !ok {
					continue
				}
			}
			o, err := ch.apply(txApp, now)
			if err != nil {
				return fmt.Errorf("%s %s: %w", collection, ch.clerkID, err)
			}
			done.add(o)
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
		s.app.Logger().Error("Clerk sync stored a batch, but "+hookFailureReason(hookErr), "collection", collection)
	}
	return done, err
}

func (s *syncer) failObject(counts *objectCounts, collection, clerkID string, err error) {
	counts.Failed++
	if s.firstFailure == nil {
		s.firstFailure = err
	}
	s.app.Logger().Warn("Clerk sync could not apply a record", "collection", collection, "clerkId", clerkID, "error", err.Error())
}

// savedBefore reports whether a record may still be pruned inside the
// transaction that deletes it: a webhook may have saved it since it was read.
func savedBefore(txApp core.App, collection, clerkID string, cutoff time.Time) (bool, error) {
	record, err := findByClerkID(txApp, collection, clerkID)
	if record == nil || err != nil {
		return false, err // deleted since, by a webhook, a cascade or by hand
	}
	return record.GetDateTime("updated").Time().Before(cutoff), nil
}

// prune deletes and tombstones the organizations, then the memberships,
// that Clerk no longer has, under the guards of the clients' prune: absent
// from the listing, saved before cutoff, confirmed gone by a request made
// after the listing, and no more than the share guard allows.
func (o *orgSync) prune(ctx context.Context, cutoff time.Time) error {
	// Organizations: each one confirmed by GET /v1/organizations/{id}.
	unseen, err := o.unseen(migrations.OrganizationsCollection, o.seenOrgs, cutoff, func(r *core.Record) bool {
		return !r.GetDateTime(migrations.FieldDeletedAt).IsZero() // deleted already, kept for a relation
	})
	if err != nil {
		return err
	}
	var gone []objectChange
	prunedOrgs := map[string]bool{}
	for _, record := range unseen {
		id := record.GetString(migrations.FieldClerkID)
		org, err := o.orgs.Get(ctx, id)
		switch {
		case isClerkNotFound(err):
			gone = append(gone, organizationDeletion(id))
			prunedOrgs[id] = true
		case err != nil:
			return explainClerkError("checking organization "+id+" before pruning", err)
		default: // the listing missed it
			o.counts.Organizations.Listed++
			o.applyObjects([]objectChange{organizationUpsert(org)}, &o.counts.Organizations, migrations.OrganizationsCollection, time.Time{})
		}
	}
	o.applyObjects(gone, &o.counts.Organizations, migrations.OrganizationsCollection, cutoff)

	// Memberships: checked per organization, by listing its members among
	// the unseen users. A pruned organization took its memberships along.
	// (Read again: the deletions cascaded, except in a dry run.)
	unseen, err = o.unseen(migrations.MembershipsCollection, o.seenMembers, cutoff, func(r *core.Record) bool {
		return prunedOrgs[r.GetString(migrations.FieldClerkOrganizationID)]
	})
	if err != nil {
		return err
	}
	byOrg := map[string][]*core.Record{}
	for _, record := range unseen {
		org := record.GetString(migrations.FieldClerkOrganizationID)
		byOrg[org] = append(byOrg[org], record)
	}
	gone = nil
	for orgID, records := range byOrg {
		for start := 0; start < len(records); start += pruneCheckSize {
			chunk := records[start:min(start+pruneCheckSize, len(records))]
			users := make([]string, len(chunk))
			for i, r := range chunk {
				users[i] = r.GetString(migrations.FieldClerkUserID)
			}
			found, err := o.members.List(ctx, &organizationmembership.ListParams{
				OrganizationID: orgID,
				ListParams:     clerk.ListParams{Limit: clerk.Int64(pruneCheckSize)},
				UserIDs:        users,
			})
			if err != nil && !isClerkNotFound(err) {
				return explainClerkError("checking the memberships of organization "+orgID+" before pruning", err)
			}
			exists := map[string]bool{}
			if err == nil {
				var listed []objectChange
				for _, m := range found.OrganizationMemberships {
					exists[m.ID] = true
					if m.Organization != nil && membershipUserID(m) != "" {
						listed = append(listed, membershipUpsert(m))
					}
				}
				o.counts.Memberships.Listed += len(listed)
				o.applyObjects(listed, &o.counts.Memberships, migrations.MembershipsCollection, time.Time{})
			}
			for _, r := range chunk {
				if !exists[r.GetString(migrations.FieldClerkID)] {
					gone = append(gone, membershipDeletion(r))
				}
			}
		}
	}
	o.applyObjects(gone, &o.counts.Memberships, migrations.MembershipsCollection, cutoff)
	return nil
}

// unseen returns the records of collection saved before cutoff that the
// listing did not see, other than those skip says are accounted for, or an error when pruning them all would delete more
// than the share guard allows.
func (o *orgSync) unseen(collection string, seen map[string]struct{}, cutoff time.Time, skip func(*core.Record) bool) ([]*core.Record, error) {
	before, err := types.ParseDateTime(cutoff)
	if err != nil {
		return nil, err
	}
	local, err := o.app.FindAllRecords(collection, dbx.NewExp("[[updated]] < {:cutoff}", dbx.Params{"cutoff": before.String()}))
	if err != nil {
		return nil, fmt.Errorf("reading %s to prune: %w", collection, err)
	}
	var unseen []*core.Record
	for _, r := range local {
		if skip != nil && skip(r) {
			continue
		}
		if _, ok := seen[r.GetString(migrations.FieldClerkID)]; !ok {
			unseen = append(unseen, r)
		}
	}
	total, err := o.app.CountRecords(collection)
	if err != nil {
		return nil, err
	}
	if !o.opts.Force && !pruneAllowed(len(unseen), int(total)) && o.opts.DryRun {
		// The dry run goes on, to list all that the real run would do.
		o.counts.guardWouldStop(len(unseen), int(total), collection)
	} else if !o.opts.Force && !pruneAllowed(len(unseen), int(total)) {
		return nil, fmt.Errorf("not pruning: %d of %d %s are not in this Clerk instance, more than a prune deletes without --force (a tenth, at least 1, never all), which more often means that CLERK_SECRET_KEY belongs to another instance than that they were deleted; check the key, and if the deletions are real, run \"clerk sync --prune --force\"", len(unseen), total, collection)
	}
	return unseen, nil
}
