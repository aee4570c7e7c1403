package hooks

import (
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tools/hook"
	"golang.org/x/sync/singleflight"
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
// (invalid, expired, wrong party, banned, or tokens not configured).
const SessionStatusHeader = "PocketClerk-Session"

// waitingClerkUserKey marks a request, and then a realtime connection, made
// with a valid session token whose user has no client yet.
const waitingClerkUserKey = "clerkWaitingUserId"

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
}

// registerAuth makes a Clerk session token (Authorization: Bearer <token>)
// authenticate its user's client on every route, REST and realtime, so
// that rules such as "id = @request.auth.id" apply to Clerk users.
func (p *plugin) registerAuth() error {
	a := &sessionAuth{p: p, unknownUsers: expirable.NewLRU[string, struct{}](4096, nil, unknownUserTTL), orgs: newOrgFirstSight(p)}
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
			se.App.Logger().Warn("Clerk session tokens are not accepted: set CLERK_JWT_KEY (the PEM public key from Clerk's dashboard, API Keys) or CLERK_SECRET_KEY so that signed-in users can read their profile.")
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

	p.app.OnRealtimeSubscribeRequest().BindFunc(a.rememberWaitingSubscriber)
	p.app.OnModelAfterCreateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Priority: adoptBeforeBroadcastPriority,
		Func:     a.adoptWaitingSubscribers,
	})
	p.app.OnModelAfterUpdateSuccess().Bind(&hook.Handler[*core.ModelEvent]{
		Priority: dropAfterAuthRefreshPriority,
		Func:     dropBannedSubscribers,
	})
	return nil
}

// loadSession authenticates the client of a valid Clerk session token.
// Any other token is left to PocketBase: its own are HS256, Clerk's RS256.
// A token that fails verification, or whose user is unknown or banned,
// authenticates nobody.
func (a *sessionAuth) loadSession(e *core.RequestEvent) error {
	if e.Auth != nil {
		return e.Next()
	}
	token := bearerToken(e.Request.Header.Get("Authorization"))
	header, ok := parseTokenHeader(token)
	if !ok || header.Alg != "RS256" {
		return e.Next()
	}
	status := e.Response.Header()
	// Frontends on another origin (the usual Next.js set-up) may read it too.
	status.Add("Access-Control-Expose-Headers", SessionStatusHeader)
	if a.verifier == nil {
		e.App.Logger().Debug("Clerk session token ignored: neither CLERK_JWT_KEY nor CLERK_SECRET_KEY is set")
		status.Set(SessionStatusHeader, "refused")
		return e.Next()
	}

	ctx := e.Request.Context()
	claims, err := a.verifier.verify(ctx, token, header.Kid)
	if err != nil {
		e.App.Logger().Debug("Clerk session token refused", "error", err.Error())
		status.Set(SessionStatusHeader, "refused")
		return e.Next()
	}
	client, err := a.clientForUser(ctx, e.App, claims.Subject)
	switch {
	case errors.Is(err, errUserGone):
		e.App.Logger().Debug("Clerk session token of a deleted user refused", "clerkId", claims.Subject)
		status.Set(SessionStatusHeader, "refused")
	case err != nil:
		e.App.Logger().Error("Could not load the client of a signed-in Clerk user; the request goes on unauthenticated", "clerkId", claims.Subject, "error", err.Error())
		status.Set(SessionStatusHeader, "waiting")
	case client == nil:
		e.Set(waitingClerkUserKey, claims.Subject)
		status.Set(SessionStatusHeader, "waiting")
	case client.Banned():
		e.App.Logger().Debug("Clerk session token of a banned user refused", "clerkId", claims.Subject)
		status.Set(SessionStatusHeader, "refused")
	default:
		a.orgs.ensure(ctx, e.App, claims)
		e.Auth = client.Record
		status.Set(SessionStatusHeader, "signed-in")
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
