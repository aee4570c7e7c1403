package hooks

import (
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
)

// serveOrganizations answers the organizations' endpoints of the fake
// Backend API and reports whether r was one of them:
//
//	GET /v1/organizations                        limit, offset, order_by=+created_at
//	GET /v1/organizations/{id}
//	GET /v1/organizations/{id}/memberships       limit, offset, user_id filters
//	GET /v1/organization_memberships             limit, offset, order_by=+created_at
//	GET /v1/users/{id}/organization_memberships  limit, offset
func (f *fakeClerk) serveOrganizations(w http.ResponseWriter, r *http.Request) bool {
	path := r.URL.Path
	q := r.URL.Query()
	if o := q.Get("order_by"); o != "" && o != "+created_at" && (path == "/v1/organizations" || path == "/v1/organization_memberships") {
		clerkError(w, http.StatusUnprocessableEntity, "unsupported order_by "+o)
		return true
	}
	isUserMemberships := strings.HasPrefix(path, "/v1/users/") && strings.HasSuffix(path, "/organization_memberships")
	if isUserMemberships {
		f.memberHits.Add(1)
		time.Sleep(f.memberDelay)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	switch {
	case path == "/v1/organizations":
		writeFakeList(w, r, f.orgs)
	case path == "/v1/organization_memberships":
		writeFakeList(w, r, f.servedMembers(nil))
	case isUserMemberships:
		userID := strings.TrimSuffix(strings.TrimPrefix(path, "/v1/users/"), "/organization_memberships")
		if f.user(userID) == nil {
			clerkError(w, http.StatusNotFound, "resource_not_found")
			return true
		}
		writeFakeList(w, r, f.servedMembers(func(m *clerk.OrganizationMembership) bool { return membershipUserID(m) == userID }))
	case strings.HasPrefix(path, "/v1/organizations/"):
		id, rest, _ := strings.Cut(strings.TrimPrefix(path, "/v1/organizations/"), "/")
		org := f.org(id)
		switch {
		case org == nil:
			clerkError(w, http.StatusNotFound, "resource_not_found")
		case rest == "":
			writeFakeJSON(w, org)
		case rest == "memberships":
			users := q["user_id"]
			writeFakeList(w, r, f.servedMembers(func(m *clerk.OrganizationMembership) bool {
				return m.Organization.ID == id && (len(users) == 0 || slices.Contains(users, membershipUserID(m)))
			}))
		default:
			clerkError(w, http.StatusNotFound, "resource_not_found")
		}
	default:
		return false
	}
	return true
}

// servedMembers are the memberships that keep, each embedding the current
// copy of its organization; call under the lock.
func (f *fakeClerk) servedMembers(keep func(*clerk.OrganizationMembership) bool) []*clerk.OrganizationMembership {
	var out []*clerk.OrganizationMembership
	for _, m := range f.members {
		if keep != nil && !keep(m) {
			continue
		}
		served := *m
		if org := f.org(m.Organization.ID); org != nil {
			served.Organization = org
		}
		out = append(out, &served)
	}
	return out
}

// org returns the stored organization by id; call under the lock.
func (f *fakeClerk) org(id string) *clerk.Organization {
	for _, o := range f.orgs {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// removeOrg deletes an organization and its memberships; call under edit.
func (f *fakeClerk) removeOrg(id string) {
	f.orgs = slices.DeleteFunc(f.orgs, func(o *clerk.Organization) bool { return o.ID == id })
	f.members = slices.DeleteFunc(f.members, func(m *clerk.OrganizationMembership) bool { return m.Organization.ID == id })
}

// removeMember deletes a membership; call under edit.
func (f *fakeClerk) removeMember(id string) {
	f.members = slices.DeleteFunc(f.members, func(m *clerk.OrganizationMembership) bool { return m.ID == id })
}

// fakeOrg is an organization created at ms.
func fakeOrg(id string, ms int64) *clerk.Organization {
	return &clerk.Organization{
		Object: "organization", ID: id, Name: "Org " + id, Slug: strings.ReplaceAll(id, "_", "-"),
		MaxAllowedMemberships: 5, PublicMetadata: json.RawMessage(`{}`), PrivateMetadata: json.RawMessage(`{}`),
		CreatedBy: "user_fake000000", CreatedAt: ms, UpdatedAt: ms,
	}
}

// fakeMember is a membership of userID in orgID with role, created at ms.
func fakeMember(id, orgID, userID, role string, ms int64) *clerk.OrganizationMembership {
	return &clerk.OrganizationMembership{
		Object: "organization_membership", ID: id, Role: role, RoleName: strings.TrimPrefix(role, "org:"),
		Permissions: []string{}, PublicMetadata: json.RawMessage(`{}`), PrivateMetadata: json.RawMessage(`{}`),
		Organization:   &clerk.Organization{ID: orgID},
		PublicUserData: &clerk.OrganizationMembershipPublicUserData{UserID: userID, Identifier: userID + "@example.com"},
		CreatedAt:      ms, UpdatedAt: ms,
	}
}

// writeFakeList answers a page of items as Clerk's paginated lists do.
func writeFakeList[T any](w http.ResponseWriter, r *http.Request, items []T) {
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	if limit <= 0 || limit > 500 {
		limit = 10
	}
	page := []T{}
	if offset < len(items) {
		page = items[offset:min(offset+limit, len(items))]
	}
	writeFakeJSON(w, map[string]any{"data": page, "total_count": len(items)})
}

func writeFakeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		clerkError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}
