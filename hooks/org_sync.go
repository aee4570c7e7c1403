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
		changes := make([]change, len(page.items))
		for i, org := range page.items {
			o.seenOrgs[org.ID] = struct{}{}
			changes[i] = organizationChange{Type: eventOrganizationUpdated, Organization: org}
		}
		o.applyChanges(changes, o.organizations(), time.Time{})
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
		changes := make([]change, 0, len(page.items))
		for _, m := range page.items {
			if m.Organization == nil || m.Organization.ID == "" || membershipUserID(m) == "" {
				o.fail(o.memberships(), m.ID, errors.New("a membership from Clerk's Backend API has no organization or user"))
				continue
			}
			o.seenMembers[m.ID] = struct{}{}
			changes = append(changes, membershipChange{Type: eventMembershipUpdated, Membership: m})
		}
		o.applyChanges(changes, o.memberships(), time.Time{})
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
			// A listing that answers past its total (one that ignores the
			// offset) ends rather than loops.
			if total > 0 && offset >= total {
				return
			}
		}
	}()
	return pages
}

// prune deletes and tombstones the organizations, then the memberships,
// that Clerk no longer has, under the guards of the clients' prune: absent
// from the listing, saved before cutoff, confirmed gone by a request made
// after the listing, and no more than the share guard allows.
func (o *orgSync) prune(ctx context.Context, cutoff time.Time) error {
	prunedOrgs, err := o.pruneOrganizations(ctx, cutoff)
	if err != nil {
		return err
	}
	return o.pruneMemberships(ctx, cutoff, prunedOrgs)
}

// pruneOrganizations prunes the organizations, each one confirmed gone by
// GET /v1/organizations/{id}, and returns the ids of those pruned.
func (o *orgSync) pruneOrganizations(ctx context.Context, cutoff time.Time) (map[string]bool, error) {
	unseen, err := o.unseen(migrations.OrganizationsCollection, o.seenOrgs, cutoff, func(r *core.Record) bool {
		return !r.GetDateTime(migrations.FieldDeletedAt).IsZero() // deleted already, kept for a relation
	})
	if err != nil {
		return nil, err
	}
	var gone []change
	prunedOrgs := map[string]bool{}
	for _, record := range unseen {
		id := record.GetString(migrations.FieldClerkID)
		org, err := o.orgs.Get(ctx, id)
		switch {
		case isClerkNotFound(err):
			gone = append(gone, organizationChange{Type: eventOrganizationDeleted, Organization: &clerk.Organization{ID: id}})
			prunedOrgs[id] = true
		case err != nil:
			return nil, explainClerkError("checking organization "+id+" before pruning", err)
		default: // the listing missed it
			o.counts.Organizations.Listed++
			o.applyChanges([]change{organizationChange{Type: eventOrganizationUpdated, Organization: org}}, o.organizations(), time.Time{})
		}
	}
	o.applyChanges(gone, o.organizations(), cutoff)
	return prunedOrgs, nil
}

// pruneMemberships prunes the memberships, checked per organization by
// listing its members among the unseen users. A pruned organization took
// its memberships along. (Read again: the deletions cascaded, except in a
// dry run.)
func (o *orgSync) pruneMemberships(ctx context.Context, cutoff time.Time, prunedOrgs map[string]bool) error {
	unseen, err := o.unseen(migrations.MembershipsCollection, o.seenMembers, cutoff, func(r *core.Record) bool {
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
	var gone []change
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
				var listed []change
				for _, m := range found.OrganizationMemberships {
					exists[m.ID] = true
					if m.Organization != nil && membershipUserID(m) != "" {
						listed = append(listed, membershipChange{Type: eventMembershipUpdated, Membership: m})
					}
				}
				o.counts.Memberships.Listed += len(listed)
				o.applyChanges(listed, o.memberships(), time.Time{})
			}
			for _, r := range chunk {
				if !exists[r.GetString(migrations.FieldClerkID)] {
					gone = append(gone, membershipDeletion(r))
				}
			}
		}
	}
	o.applyChanges(gone, o.memberships(), cutoff)
	return nil
}

// membershipDeletion is the deletion of a stored membership.
func membershipDeletion(member *core.Record) change {
	return membershipChange{Type: eventMembershipDeleted, Membership: &clerk.OrganizationMembership{
		ID:             member.GetString(migrations.FieldClerkID),
		Organization:   &clerk.Organization{ID: member.GetString(migrations.FieldClerkOrganizationID)},
		PublicUserData: &clerk.OrganizationMembershipPublicUserData{UserID: member.GetString(migrations.FieldClerkUserID)},
	}}
}

// unseen returns the records of collection saved before cutoff that the
// listing did not see, other than those skip says are accounted for, or an error when pruning them all would delete more
// than the share guard allows.
func (o *syncer) unseen(collection string, seen map[string]struct{}, cutoff time.Time, skip func(*core.Record) bool) ([]*core.Record, error) {
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
