package hooks

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"github.com/clerk/clerk-sdk-go/v2/jwt"
	"golang.org/x/sync/singleflight"
)

const (
	// sessionLeeway absorbs clock skew between Clerk and this server when
	// checking exp, nbf and iat; Clerk's own SDKs allow 5 seconds.
	sessionLeeway = 5 * time.Second

	// jwksRefetchInterval is the least time between two JWKS fetches, so
	// tokens with made-up key ids cannot make the server hammer Clerk.
	jwksRefetchInterval = 10 * time.Second

	// jwksMaxAge is how long a fetched key set is trusted before it is
	// fetched again, so a key that Clerk withdrew stops verifying.
	jwksMaxAge = time.Hour

	// jwksFetchTimeout bounds one JWKS request.
	jwksFetchTimeout = 5 * time.Second
)

var errUnknownKey = errors.New("no Clerk signing key has this token's key id")

// sessionVerifier checks Clerk session tokens.
type sessionVerifier struct {
	// pemKey is the key from CLERK_JWT_KEY; when set, no JWKS is fetched.
	pemKey *clerk.JSONWebKey
	// keys caches the Backend API's JWKS otherwise.
	keys *jwksCache
	// parties are the accepted azp values; empty accepts any.
	parties map[string]bool
	now     func() time.Time
}

// verify returns the claims of a valid session token.
func (v *sessionVerifier) verify(ctx context.Context, token, kid string) (*clerk.SessionClaims, error) {
	key := v.pemKey
	if key == nil {
		var err error
		if key, err = v.keys.key(ctx, kid); err != nil {
			return nil, err
		}
	}
	var wrongParty bool
	claims, err := jwt.Verify(ctx, &jwt.VerifyParams{
		Token:  token,
		JWK:    key,
		Leeway: sessionLeeway,
		Clock:  clockFunc(v.now),
		AuthorizedPartyHandler: func(azp string) bool {
			// Like Clerk's SDKs: a token minted outside a browser has no azp.
			wrongParty = azp != "" && len(v.parties) > 0 && !v.parties[azp]
			return !wrongParty
		},
		CustomClaimsConstructor: func(context.Context) any { return &tokenClaims{} },
	})
	if wrongParty {
		return nil, errWrongParty
	}
	if err != nil {
		return nil, err
	}
	// Only session tokens: a JWT template's token is signed with the same
	// key but may live for years and outlives a sign-out.
	if claims.Subject == "" || claims.SessionID == "" || claims.Expiry == nil {
		return nil, errNotSession
	}
	// Clerk treats a pending session as signed out unless told otherwise.
	if c, _ := claims.Custom.(*tokenClaims); c != nil && c.Status == "pending" {
		return nil, errPending
	}
	return claims, nil
}

// tokenHeader is the part of a JWT header that tells Clerk's session tokens
// (RS256, with a key id) from PocketBase's own (HS256).
type tokenHeader struct {
	Alg string `json:"alg"`
	Kid string `json:"kid"`
}

// parseTokenHeader reads a JWT's header without verifying anything.
func parseTokenHeader(token string) (tokenHeader, bool) {
	var h tokenHeader
	head, _, ok := strings.Cut(token, ".")
	if !ok {
		return h, false
	}
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil || json.Unmarshal(raw, &h) != nil {
		return h, false
	}
	return h, true
}

// jwksCache holds Clerk's signing keys by key id.
type jwksCache struct {
	client *jwks.Client
	now    func() time.Time

	mu        sync.RWMutex
	keys      map[string]*clerk.JSONWebKey
	fetchedAt time.Time // last attempt, successful or not
	loadedAt  time.Time // last success

	fetches singleflight.Group
	onError func(error)
}

// key returns the signing key with this id. The set is fetched on first
// use, when it is older than jwksMaxAge, and when a token names a key it
// lacks (Clerk rotated its keys), at most once per jwksRefetchInterval.
func (c *jwksCache) key(ctx context.Context, kid string) (*clerk.JSONWebKey, error) {
	if kid == "" {
		return nil, errors.New("the token has no key id")
	}
	c.mu.RLock()
	key, fresh, mayFetch := c.keys[kid], c.now().Sub(c.loadedAt) < jwksMaxAge, c.now().Sub(c.fetchedAt) >= jwksRefetchInterval
	c.mu.RUnlock()
	if key != nil && (fresh || !mayFetch) {
		return key, nil
	}
	if !mayFetch {
		return nil, errUnknownKey
	}

	// Concurrent callers share one fetch; it outlives any one request.
	_, _, _ = c.fetches.Do("jwks", func() (any, error) {
		c.refresh(context.WithoutCancel(ctx))
		return nil, nil
	})

	c.mu.RLock()
	defer c.mu.RUnlock()
	if key := c.keys[kid]; key != nil {
		return key, nil
	}
	return nil, errUnknownKey
}

func (c *jwksCache) refresh(ctx context.Context) {
	c.mu.RLock()
	recent := c.now().Sub(c.fetchedAt) < jwksRefetchInterval
	c.mu.RUnlock()
	if recent { // another caller fetched while this one waited
		return
	}

	ctx, cancel := context.WithTimeout(ctx, jwksFetchTimeout)
	defer cancel()
	set, err := c.client.Get(ctx, &jwks.GetParams{})

	c.mu.Lock()
	defer c.mu.Unlock()
	c.fetchedAt = c.now()
	if err != nil {
		// Keep the keys we have: a passing outage must not sign everyone out.
		c.onError(err)
		return
	}
	keys := make(map[string]*clerk.JSONWebKey, len(set.Keys))
	for _, k := range set.Keys {
		if k != nil && k.KeyID != "" && k.Key != nil {
			keys[k.KeyID] = k
		}
	}
	c.keys = keys
	c.loadedAt = c.fetchedAt
}

// pemPublicKey parses CLERK_JWT_KEY. The Clerk dashboard shows it as PEM;
// it is also accepted on one line, with literal \n, or without the
// BEGIN/END lines, as env files tend to mangle it.
func pemPublicKey(s string) (*clerk.JSONWebKey, error) {
	body := strings.NewReplacer(
		"-----BEGIN PUBLIC KEY-----", "",
		"-----END PUBLIC KEY-----", "",
		`\n`, "",
		"\n", "", "\r", "", " ", "", "\t", "",
	).Replace(s)
	var b strings.Builder
	b.WriteString("-----BEGIN PUBLIC KEY-----\n")
	for len(body) > 64 {
		b.WriteString(body[:64] + "\n")
		body = body[64:]
	}
	b.WriteString(body + "\n-----END PUBLIC KEY-----\n")
	key, err := clerk.JSONWebKeyFromPEM(b.String())
	if err != nil {
		return nil, fmt.Errorf("CLERK_JWT_KEY is not a PEM public key (%w): copy it from Clerk's dashboard, API Keys → Show JWT public key → PEM Public Key", err)
	}
	return key, nil
}

// clockFunc adapts a time source to clerk.Clock.
type clockFunc func() time.Time

func (f clockFunc) Now() time.Time { return f() }
