// Package clerkfake is Clerk's Backend API as far as PocketClerk uses it,
// for tests and the bench: the users, organizations and memberships it
// lists and gets, Clerk Billing's plans, subscription items and payers'
// subscriptions (billing.go), the JWKS, and the answers Clerk gives beyond its spec
// (quirks.go). Spec (spec.go) checks requests and answers against Clerk's
// OpenAPI spec. NewUser, NewOrganization and NewMembership (objects.go)
// build the Clerk objects that tests hand to it and send by webhook.
package clerkfake

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/go-jose/go-jose/v3"
)

// BackendAPI serves, behind a bearer key:
//
//	GET /v1/users                                limit, offset, order_by=+created_at, user_id
//	GET /v1/users/count                          user_id
//	GET /v1/users/{id}
//	GET /v1/users/{id}/organization_memberships  limit, offset
//	GET /v1/organizations                        limit, offset, order_by=+created_at
//	GET /v1/organizations/{id}
//	GET /v1/organizations/{id}/memberships       limit, offset, user_id
//	GET /v1/organization_memberships             limit, offset, order_by=+created_at
//	GET /v1/billing/plans                        limit, offset, payer_type
//	GET /v1/billing/subscription_items           limit, offset, include_free
//	GET /v1/users/{id}/billing/subscription
//	GET /v1/organizations/{id}/billing/subscription
//	GET /v1/jwks
//
// Its fields are its state: change them under Edit once it serves.
type BackendAPI struct {
	Key string

	// OrganizationsDisabled is an instance without the organizations
	// feature: every organization endpoint answers 403.
	OrganizationsDisabled bool

	Users []*clerk.User // in created_at order
	// Orgs and Members are in created_at order; a member's Organization is
	// served as the current copy in Orgs.
	Orgs    []*clerk.Organization
	Members []*clerk.OrganizationMembership
	Keys    []jose.JSONWebKey

	// BillingDisabled is an instance without Clerk Billing: every billing
	// endpoint answers 403 (see errBillingDisabled).
	BillingDisabled bool
	// Plans and Items are Clerk Billing's plans and subscription items, in
	// created_at order, newest last.
	Plans []Plan
	Items []SubscriptionItem
	// SubscriptionDelay holds each payer's subscription answer back, so
	// that requests overlap.
	SubscriptionDelay time.Duration
	// BillingHits counts the payers' subscriptions asked for, and
	// PlanListings the pages of plans.
	BillingHits, PlanListings atomic.Int64
	// JWKSDown answers /v1/jwks 503.
	JWKSDown bool

	// OnList runs before a /v1/users page is answered, with its offset.
	OnList func(offset int)
	// UserDelay holds each /v1/users/{id} answer back, and MemberDelay each
	// /v1/users/{id}/organization_memberships one, so that requests overlap.
	UserDelay, MemberDelay time.Duration

	JWKSHits, UserHits, MemberHits atomic.Int64

	mu       sync.Mutex
	failures []Failure
	requests int
	mux      *http.ServeMux
}

// Failure answers one request instead of the API; the zero value lets one
// request through.
type Failure struct {
	Status     int
	RetryAfter string // seconds, as Clerk writes it
	Hangup     bool   // drop the connection: a network error
}

// New is an instance with organizations, no users and key.
func New(key string) *BackendAPI {
	f := &BackendAPI{Key: key, mux: http.NewServeMux()}
	f.mux.HandleFunc("GET /v1/users", f.listUsers)
	f.mux.HandleFunc("GET /v1/users/count", f.countUsers)
	f.mux.HandleFunc("GET /v1/users/{id}", f.getUser)
	f.mux.HandleFunc("GET /v1/users/{id}/organization_memberships", func(w http.ResponseWriter, r *http.Request) {
		f.MemberHits.Add(1)
		time.Sleep(f.knobs().memberDelay)
		f.organizationsOnly(f.listUserMemberships)(w, r)
	})
	f.mux.HandleFunc("GET /v1/organizations", f.organizationsOnly(f.listOrganizations))
	f.mux.HandleFunc("GET /v1/organizations/{id}", f.organizationsOnly(f.getOrganization))
	f.mux.HandleFunc("GET /v1/organizations/{id}/memberships", f.organizationsOnly(f.listOrganizationMembers))
	f.mux.HandleFunc("GET /v1/organization_memberships", f.organizationsOnly(f.listMemberships))
	f.mux.HandleFunc("GET /v1/billing/plans", f.billingOnly(f.listPlans))
	f.mux.HandleFunc("GET /v1/billing/subscription_items", f.billingOnly(f.listSubscriptionItems))
	f.mux.HandleFunc("GET /v1/users/{id}/billing/subscription", f.billingOnly(f.getSubscription))
	f.mux.HandleFunc("GET /v1/organizations/{id}/billing/subscription", f.billingOnly(f.getSubscription))
	f.mux.HandleFunc("GET /v1/jwks", f.jwks)
	f.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { writeError(w, errNotFound) })
	return f
}

// Edit changes the state under the fake's lock.
func (f *BackendAPI) Edit(fn func(f *BackendAPI)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// Fail queues answers for the next requests.
func (f *BackendAPI) Fail(failures ...Failure) {
	f.Edit(func(f *BackendAPI) { f.failures = append(f.failures, failures...) })
}

// RequestCount is how many requests arrived.
func (f *BackendAPI) RequestCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// User returns the user by id, for editing under Edit.
func (f *BackendAPI) User(id string) *clerk.User {
	for _, u := range f.Users {
		if u.ID == id {
			return u
		}
	}
	return nil
}

// Org returns the organization by id, for editing under Edit.
func (f *BackendAPI) Org(id string) *clerk.Organization {
	for _, o := range f.Orgs {
		if o.ID == id {
			return o
		}
	}
	return nil
}

// PutUser adds the user, or replaces the one with its id; call under Edit.
func (f *BackendAPI) PutUser(u *clerk.User) {
	f.RemoveUser(u.ID)
	f.Users = append(f.Users, u)
}

// RemoveUser deletes a user; call under Edit.
func (f *BackendAPI) RemoveUser(id string) {
	f.Users = slices.DeleteFunc(f.Users, func(u *clerk.User) bool { return u.ID == id })
}

// RemoveOrg deletes an organization and its memberships; call under Edit.
func (f *BackendAPI) RemoveOrg(id string) {
	f.Orgs = slices.DeleteFunc(f.Orgs, func(o *clerk.Organization) bool { return o.ID == id })
	f.Members = slices.DeleteFunc(f.Members, func(m *clerk.OrganizationMembership) bool { return m.Organization.ID == id })
}

// RemoveMember deletes a membership; call under Edit.
func (f *BackendAPI) RemoveMember(id string) {
	f.Members = slices.DeleteFunc(f.Members, func(m *clerk.OrganizationMembership) bool { return m.ID == id })
}

func (f *BackendAPI) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	f.requests++
	var failure *Failure
	if len(f.failures) > 0 {
		failure = &f.failures[0]
		f.failures = f.failures[1:]
	}
	f.mu.Unlock()

	switch {
	case failure != nil && failure.Hangup:
		conn, _, _ := w.(http.Hijacker).Hijack()
		conn.Close()
	case failure != nil && failure.Status != 0:
		if failure.RetryAfter != "" {
			w.Header().Set("Retry-After", failure.RetryAfter)
		}
		e := errServer
		if failure.Status == http.StatusTooManyRequests {
			e = errRateLimited
		}
		e.Status = failure.Status
		writeError(w, e)
	case r.Header.Get("Authorization") != "Bearer "+f.Key:
		writeError(w, errKeyInvalid)
	default:
		f.mux.ServeHTTP(w, r)
	}
}

// knobs reads what tests set to shape the answers, under the lock: a test
// may change them (under Edit) while requests are answered.
func (f *BackendAPI) knobs() (k struct {
	onList                 func(int)
	userDelay, memberDelay time.Duration
}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	k.onList, k.userDelay, k.memberDelay = f.OnList, f.UserDelay, f.MemberDelay
	return k
}

func (f *BackendAPI) organizationsOnly(next http.HandlerFunc) http.HandlerFunc {
	return f.unless(&f.OrganizationsDisabled, errOrganizationsDisabled, next)
}

func (f *BackendAPI) billingOnly(next http.HandlerFunc) http.HandlerFunc {
	return f.unless(&f.BillingDisabled, errBillingDisabled, next)
}

// unless answers refusal, as Clerk does an instance without the feature,
// while *disabled is set (read under f.mu), and next otherwise.
func (f *BackendAPI) unless(disabled *bool, refusal apiError, next http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		off := *disabled
		f.mu.Unlock()
		if off {
			writeError(w, refusal)
			return
		}
		next(w, r)
	}
}

func (f *BackendAPI) listUsers(w http.ResponseWriter, r *http.Request) {
	if !supportedOrder(w, r) {
		return
	}
	if onList := f.knobs().onList; onList != nil {
		offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
		onList(offset)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	users, _ := page(r, f.filterUsers(r))
	writeJSON(w, users) // Clerk lists users as a bare array
}

func (f *BackendAPI) countUsers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	writeJSON(w, map[string]any{"object": "total_count", "total_count": len(f.filterUsers(r))})
}

func (f *BackendAPI) getUser(w http.ResponseWriter, r *http.Request) {
	f.UserHits.Add(1)
	time.Sleep(f.knobs().userDelay)
	f.mu.Lock()
	defer f.mu.Unlock()
	if u := f.User(r.PathValue("id")); u != nil {
		writeJSON(w, u)
		return
	}
	writeError(w, errNotFound)
}

func (f *BackendAPI) listUserMemberships(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	userID := r.PathValue("id")
	if f.User(userID) == nil {
		writeError(w, errNotFound)
		return
	}
	writeList(w, r, f.servedMembers(func(m *clerk.OrganizationMembership) bool { return memberUserID(m) == userID }))
}

func (f *BackendAPI) listOrganizations(w http.ResponseWriter, r *http.Request) {
	if !supportedOrder(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	writeList(w, r, f.Orgs)
}

func (f *BackendAPI) getOrganization(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if org := f.Org(r.PathValue("id")); org != nil {
		writeJSON(w, org)
		return
	}
	writeError(w, errNotFound)
}

func (f *BackendAPI) listOrganizationMembers(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	id := r.PathValue("id")
	if f.Org(id) == nil {
		writeError(w, errNotFound)
		return
	}
	users := r.URL.Query()["user_id"]
	writeList(w, r, f.servedMembers(func(m *clerk.OrganizationMembership) bool {
		return m.Organization.ID == id && (len(users) == 0 || slices.Contains(users, memberUserID(m)))
	}))
}

func (f *BackendAPI) listMemberships(w http.ResponseWriter, r *http.Request) {
	if !supportedOrder(w, r) {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	writeList(w, r, f.servedMembers(nil))
}

func (f *BackendAPI) jwks(w http.ResponseWriter, r *http.Request) {
	f.JWKSHits.Add(1)
	f.mu.Lock()
	down, keys := f.JWKSDown, jose.JSONWebKeySet{Keys: f.Keys}
	f.mu.Unlock()
	if down {
		e := errServer
		e.Status = http.StatusServiceUnavailable
		writeError(w, e)
		return
	}
	writeJSON(w, keys)
}

// filterUsers applies the user_id filter; call under the lock.
func (f *BackendAPI) filterUsers(r *http.Request) []*clerk.User {
	ids := r.URL.Query()["user_id"]
	if len(ids) == 0 {
		return f.Users
	}
	var out []*clerk.User
	for _, u := range f.Users {
		if slices.Contains(ids, u.ID) {
			out = append(out, u)
		}
	}
	return out
}

// servedMembers are the memberships that keep, each embedding the current
// copy of its organization; call under the lock.
func (f *BackendAPI) servedMembers(keep func(*clerk.OrganizationMembership) bool) []servedMember {
	out := []servedMember{}
	for _, m := range f.Members {
		if keep != nil && !keep(m) {
			continue
		}
		served := servedMember{OrganizationMembership: *m}
		if org := f.Org(m.Organization.ID); org != nil {
			served.Organization = org
		}
		if m.PublicUserData != nil {
			served.PublicUserData = &servedUserData{*m.PublicUserData, m.PublicUserData.ImageURL}
		}
		out = append(out, served)
	}
	return out
}

// servedMember is a membership as Clerk writes it: its public user data
// also carries profile_image_url (deprecated, the same as image_url), which
// clerk-sdk-go does not model.
type servedMember struct {
	clerk.OrganizationMembership
	PublicUserData *servedUserData `json:"public_user_data,omitempty"`
}

type servedUserData struct {
	clerk.OrganizationMembershipPublicUserData
	ProfileImageURL *string `json:"profile_image_url"`
}

func memberUserID(m *clerk.OrganizationMembership) string {
	if m.PublicUserData == nil {
		return ""
	}
	return m.PublicUserData.UserID
}

// supportedOrder refuses an order the fake does not keep.
func supportedOrder(w http.ResponseWriter, r *http.Request) bool {
	if o := r.URL.Query().Get("order_by"); o != "" && o != "+created_at" {
		writeError(w, apiError{Status: 422, Code: "form_param_value_invalid", Message: "is invalid",
			LongMessage: "order_by " + o + " is not kept by this stand-in of Clerk's Backend API"})
		return false
	}
	return true
}

// page is the items of r's limit and offset, and their total.
func page[T any](r *http.Request, items []T) ([]T, int) {
	offset, _ := strconv.Atoi(r.URL.Query().Get("offset"))
	limit, err := strconv.Atoi(r.URL.Query().Get("limit"))
	if err != nil {
		limit = defaultPageSize
	}
	out := []T{}
	if offset >= 0 && limit > 0 && offset < len(items) {
		out = items[offset:min(offset+limit, len(items))]
	}
	return out, len(items)
}

// writeList answers a page of items as Clerk's paginated lists do.
func writeList[T any](w http.ResponseWriter, r *http.Request, items []T) {
	data, total := page(r, items)
	writeJSON(w, map[string]any{"data": data, "total_count": total})
}

func writeJSON(w http.ResponseWriter, v any) {
	body, err := json.Marshal(v)
	if err != nil {
		e := errServer
		e.LongMessage = err.Error()
		writeError(w, e)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Write(body)
}

// apiError is one of Clerk's error answers.
type apiError struct {
	Status                     int
	Code, Message, LongMessage string
}

// traceIDs numbers the answers' clerk_trace_id.
var traceIDs atomic.Int64

func writeError(w http.ResponseWriter, e apiError) {
	body, _ := json.Marshal(map[string]any{
		"errors": []map[string]any{{
			"message": e.Message, "long_message": e.LongMessage, "code": e.Code, "meta": map[string]any{},
		}},
		"clerk_trace_id": fmt.Sprintf("fake%024d", traceIDs.Add(1)),
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(e.Status)
	w.Write(body)
}
