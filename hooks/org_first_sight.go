package hooks

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/user"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/pocketbase/dbx"
	"github.com/pocketbase/pocketbase/core"
	"golang.org/x/sync/singleflight"

	"github.com/pocketclerk/pocketclerk/migrations"
)

// orgFirstSight stores the active organization of a session token, and the
// user's membership of it, before their webhooks land: the first request
// after creating or joining an organization already passes its rules.
type orgFirstSight struct {
	p *plugin
	// fetches lets concurrent requests of one user share one fetch.
	fetches singleflight.Group
	// missing are the user/organization pairs that Clerk's answer lacked,
	// so that a token naming an organization the user just left costs no
	// fetch per request.
	missing *expirable.LRU[string, struct{}]
}

func newOrgFirstSight(p *plugin) *orgFirstSight {
	return &orgFirstSight{p: p, missing: expirable.NewLRU[string, struct{}](4096, nil, unknownUserTTL)}
}

// ensure makes sure that the membership of the token's user in the token's
// active organization (o.id) is stored, fetching the user's memberships from
// the Backend API when it is not. It costs one indexed query when it is.
// Failures are logged: the request goes on, signed in, without it.
func (s *orgFirstSight) ensure(ctx context.Context, app core.App, claims *clerk.SessionClaims) {
	orgID, userID := claims.ActiveOrganizationID, claims.Subject
	if orgID == "" || s.p.config.SecretKey == "" {
		return
	}
	known, err := hasMembership(app, userID, orgID)
	if known || err != nil {
		if err != nil {
			app.Logger().Error("Could not look up a signed-in user's membership of their active organization", "clerkId", userID, "organization", orgID, "error", err.Error())
		}
		return
	}
	if s.missing.Contains(userID + " " + orgID) {
		return
	}
	if gone, err := firstTombstone(app, orgID); gone != "" || err != nil {
		return // deleted: the token is older than the deletion
	}
	_, err, _ = s.fetches.Do(userID, func() (any, error) {
		// A request that arrived just after an earlier fetch finished finds it stored.
		if known, err := hasMembership(app, userID, orgID); known || err != nil {
			return nil, err
		}
		return nil, s.fetch(context.WithoutCancel(ctx), app, userID)
	})
	switch {
	case isOrganizationsNotEnabled(err):
		// A token issued before the feature was turned off: the request
		// goes on without the organization, and asks no more for a while.
		s.missing.Add(userID+" "+orgID, struct{}{})
		app.Logger().Warn("A session token names an active organization, but organizations are not enabled in this Clerk instance: the request goes on without it", "clerkId", userID, "organization", orgID)
		return
	case err != nil:
		app.Logger().Error("Fetching a signed-in user's organization memberships failed; the webhook will still bring them", "clerkId", userID, "organization", orgID, "error", explainClerkError("listing the user's memberships", err).Error())
		return
	}
	if known, _ := hasMembership(app, userID, orgID); !known {
		s.missing.Add(userID+" "+orgID, struct{}{})
	}
}

// fetch applies all of a user's memberships, with their organizations, as
// GET /v1/users/{id}/organization_memberships lists them.
func (s *orgFirstSight) fetch(ctx context.Context, app core.App, userID string) error {
	ctx, cancel := context.WithTimeout(ctx, firstSightTimeout)
	defer cancel()
	users := user.NewClient(s.p.clerkConfig())
	var members []*clerk.OrganizationMembership
	for offset := int64(0); ; {
		list, err := users.ListOrganizationMemberships(ctx, userID, &user.ListOrganizationMembershipsParams{
			ListParams: clerk.ListParams{Limit: clerk.Int64(syncPageSize), Offset: clerk.Int64(offset)},
		})
		if err != nil {
			return err
		}
		members = append(members, list.OrganizationMemberships...)
		if len(list.OrganizationMemberships) < syncPageSize {
			break
		}
		offset += int64(len(list.OrganizationMemberships))
	}

	// The same apply as a webhook's: ordering and tombstones hold.
	applied := 0
	hookErr, err := runInTransaction(app, func(txApp core.App) error {
		now := time.Now()
		for _, m := range members {
			if m.Organization == nil || m.Organization.ID == "" || membershipUserID(m) != userID {
				continue
			}
			if _, err := (membershipChange{Type: eventMembershipUpdated, Membership: m, At: now}).apply(txApp, s.p.mapping); err != nil {
				return fmt.Errorf("membership %s: %w", m.ID, err)
			}
			applied++
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("applying the fetched memberships: %w", err)
	}
	if hookErr != nil {
		app.Logger().Error("Clerk organization memberships synced on first sight, but "+hookFailureReason(hookErr), "clerkId", userID)
	}
	app.Logger().Info("Clerk organization memberships synced on first sight", "clerkId", userID, "memberships", applied)
	return nil
}

// hasMembership reports whether the membership of a user in an
// organization is stored.
func hasMembership(app core.App, clerkUserID, clerkOrgID string) (bool, error) {
	var id string
	err := app.DB().Select("id").From(migrations.MembershipsCollection).
		Where(dbx.HashExp{migrations.FieldClerkUserID: clerkUserID, migrations.FieldClerkOrganizationID: clerkOrgID}).
		Limit(1).Row(&id)
	if errors.Is(err, sql.ErrNoRows) {
		return false, nil
	}
	return err == nil, err
}
