package hooks

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"golang.org/x/sync/singleflight"

	"github.com/pocketclerk/pocketclerk/hooks/internal/realtimeindex"
	"github.com/pocketclerk/pocketclerk/migrations"
)

// ClerkConfigPath hands the profile page in pb_public what it needs to
// load Clerk's browser SDK.
const ClerkConfigPath = "/api/clerk/config"

// The middleware that authenticates Clerk session tokens, named as apis
// names its own: an app can unbind it (e.Router.Unbind) or bind its own
// middleware before or after it.
const (
	DefaultClerkSessionMiddlewareId = "clerkSessionAuth"
	// Just before PocketBase's own token loader, which then has nothing to do.
	DefaultClerkSessionMiddlewarePriority = apis.DefaultLoadAuthTokenMiddlewarePriority - 1
)

// SessionStatusHeader tells a frontend what became of its Clerk session
// token, so that it can tell "waiting for the sync" from "refused":
// signed-in, waiting (valid, but the user has no client yet) or refused
// (SessionReasonHeader says why).
const SessionStatusHeader = "PocketClerk-Session"

// waitingClerkUserKey marks a request, and then a realtime connection, made
// with a valid session token whose user has no client yet.
const waitingClerkUserKey = "clerkWaitingUserId"

// clerkSessionIDKey marks a request, and then a realtime connection,
// authenticated by a Clerk session token: it holds the token's session id
// (sid).
const clerkSessionIDKey = "clerkSessionId"

// sessionAuth signs Clerk users in as their own client.
type sessionAuth struct {
	p *plugin
	// verifier is nil when neither CLERK_JWT_KEY nor CLERK_SECRET_KEY is set.
	verifier *sessionVerifier
	// firstSight lets concurrent first requests of one user share one fetch.
	firstSight singleflight.Group
	// unknownUsers are the users Clerk's Backend API recently said it does
	// not know, so that their tokens do not cost a fetch per request.
	unknownUsers *expirable.LRU[string, struct{}]
	// orgs stores the token's active organization on first sight.
	orgs *orgFirstSight
	// billing stores the subscription of a plan the token names on first sight.
	billing *billingFirstSight
	// refusals logs refused tokens, rate-limited.
	refusals *refusalLog
}

// registerAuth makes a Clerk session token (Authorization: Bearer <token>)
// authenticate its user's client on every route, REST and realtime, so
// that rules such as `@request.auth.collectionName = "clients" && id =
// @request.auth.id` apply to Clerk users.
func (p *plugin) registerAuth() error {
	a := &sessionAuth{p: p, unknownUsers: expirable.NewLRU[string, struct{}](4096, nil, unknownUserTTL), orgs: newOrgFirstSight(p), billing: newBillingFirstSight(p), refusals: newRefusalLog()}
	parties := map[string]bool{}
	for _, origin := range p.config.AuthorizedParties {
		parties[strings.TrimRight(origin, "/")] = true
	}
	switch {
	case p.config.JWTKey != "":
		key, err := pemPublicKey(p.config.JWTKey)
		if err != nil {
			return err
		}
		a.verifier = &sessionVerifier{pemKey: key, parties: parties, now: time.Now}
	case p.config.SecretKey != "":
		a.verifier = &sessionVerifier{parties: parties, now: time.Now, keys: &jwksCache{
			client: jwks.NewClient(p.clerkConfig()),
			now:    time.Now,
			onError: func(err error) {
				p.app.Logger().Error("Fetching Clerk's signing keys (JWKS) failed: session tokens signed with a key not yet known are refused until a fetch succeeds. Check CLERK_SECRET_KEY and that CLERK_API_URL is reachable, or set CLERK_JWT_KEY to verify without the network.",
					"url", p.config.APIURL+"/v1/jwks", "error", err)
			},
		}}
	}

	p.app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		switch {
		case a.verifier == nil:
			msg := "Clerk session tokens are not accepted: set CLERK_JWT_KEY (the PEM public key from Clerk's dashboard, API Keys) or CLERK_SECRET_KEY so that signed-in users can read their profile."
			se.App.Logger().Warn(msg)
			fmt.Fprintln(os.Stderr, "Warning: "+msg)
		case p.config.SecretKey == "":
			se.App.Logger().Info("CLERK_SECRET_KEY is not set: a signed-in user whose client does not exist yet waits for Clerk's webhook instead of being fetched on first sight.")
		}
		se.Router.Bind(&hook.Handler[*core.RequestEvent]{
			Id:       DefaultClerkSessionMiddlewareId,
			Priority: DefaultClerkSessionMiddlewarePriority,
			Func:     a.loadSession,
		})
		se.Router.GET(ClerkConfigPath, a.handleConfig)
		return se.Next()
	})

	p.app.OnRecordAuthRefreshRequest(migrations.ClientsCollection).BindFunc(refuseClerkSessionRefresh)
	p.app.OnBatchRequest().BindFunc(stripBatchClerkHeaders)
	bindSessionSubscriptions(p.app)
	// Outermost, so that it sees what rememberWaitingSubscriber decided.
	p.app.OnRealtimeSubscribeRequest().BindFunc(rememberSubscriberSession)
	p.app.OnRealtimeSubscribeRequest().BindFunc(a.rememberWaitingSubscriber)
	p.app.OnModelAfterCreateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		// Before the broadcast of a client's create, so that the waiting
		// user hears of it.
		Priority: realtimeindex.BeforeRealtimePriority,
		Func:     a.adoptWaitingSubscribers,
	})
	p.app.OnModelAfterUpdateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		// Before PocketBase refreshes the subscribers' auth with the
		// updated client.
		Priority: realtimeindex.BeforeRealtimePriority,
		Func:     p.keepClerkSubscribersSignedIn,
	})
	p.app.OnModelAfterUpdateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		// After PocketBase refreshed the subscribers' auth with the
		// updated client.
		Priority: realtimeindex.AfterRealtimePriority,
		Func:     p.dropBannedSubscribers,
	})
	return nil
}

// loadSession authenticates the client of a valid Clerk session token.
// Any other token is left to PocketBase: its own are HS256, Clerk's RS256.
// A token that fails verification, or whose user is unknown or banned,
// authenticates nobody.
func (a *sessionAuth) loadSession(e *core.RequestEvent) error {
	// Whoever the request is from, the x_clerk_… headers that rules read
	// are the server's alone.
	stripClerkHeaders(e.Request.Header)
	if e.Auth != nil {
		return e.Next()
	}
	token := bearerToken(e.Request.Header.Get("Authorization"))
	header, ok := parseTokenHeader(token)
	if !ok || header.Alg != "RS256" {
		return e.Next()
	}
	status := e.Response.Header()
	// Frontends on another origin (the usual Next.js set-up) may read them too.
	status.Add("Access-Control-Expose-Headers", SessionStatusHeader+", "+SessionReasonHeader)
	refuse := func(reason, clerkID string, err error) error {
		a.refusals.log(e.App, reason, clerkID, err)
		status.Set(SessionStatusHeader, "refused")
		status.Set(SessionReasonHeader, reason)
		return e.Next()
	}
	if a.verifier == nil {
		return refuse(refusedNotConfigured, claimedSubject(token), nil)
	}

	ctx := e.Request.Context()
	claims, err := a.verifier.verify(ctx, token, header.Kid)
	if err != nil {
		return refuse(refusalReason(err), claimedSubject(token), err)
	}
	if a.p.endedSessions.Contains(claims.SessionID) {
		return refuse(refusedSignedOut, claims.Subject, nil)
	}
	e.Set(clerkSessionIDKey, claims.SessionID)
	headers := headersOf(claims)
	e.Set(clerkSessionHeadersKey, headers)
	client, err := a.clientForUser(ctx, e.App, claims.Subject)
	switch {
	case errors.Is(err, errUserGone):
		return refuse(refusedDeleted, claims.Subject, nil)
	case err != nil:
		e.App.Logger().Error("Could not load the client of a signed-in Clerk user; the request goes on unauthenticated", "clerkId", claims.Subject, "error", err.Error())
		status.Set(SessionStatusHeader, "waiting")
	case client == nil:
		e.Set(waitingClerkUserKey, claims.Subject)
		status.Set(SessionStatusHeader, "waiting")
	case client.Banned():
		return refuse(refusedBanned, claims.Subject, nil)
	default:
		a.orgs.ensure(ctx, e.App, claims)
		a.billing.ensure(ctx, e.App, claims)
		e.Auth = client.Record
		headers.setOn(e.Request.Header)
		status.Set(SessionStatusHeader, "signed-in")
	}
	return e.Next()
}

// refuseClerkSessionRefresh keeps PocketBase from exchanging a Clerk session
// token for a PocketBase token: a token carrying "refreshable": true (a
// session-token customisation can add one) would become a renewable
// PocketBase token that outlives the session, a sign-out and a ban.
func refuseClerkSessionRefresh(e *core.RecordAuthRefreshRequestEvent) error {
	if sid, _ := e.Get(clerkSessionIDKey).(string); sid != "" {
		return e.ForbiddenError("A Clerk session token is renewed by Clerk, not by PocketBase: get a fresh one from Clerk (getToken()) and send it with each request.", nil)
	}
	return e.Next()
}

// handleConfig answers the profile page: an empty publishableKey means
// that CLERK_PUBLISHABLE_KEY is not set.
func (a *sessionAuth) handleConfig(e *core.RequestEvent) error {
	return e.JSON(http.StatusOK, map[string]string{"publishableKey": a.p.config.PublishableKey})
}

// bearerToken reads the Authorization header as PocketBase does (a copy of
// getAuthTokenFromRequest in apis/middlewares.go, v0.40.4): the "Bearer "
// prefix is optional, and the PocketBase JS SDK omits it.
func bearerToken(header string) string {
	if len(header) > 7 && strings.EqualFold(header[:7], "Bearer ") {
		return header[7:]
	}
	return header
}
