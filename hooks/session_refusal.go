package hooks

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/hashicorp/golang-lru/v2/expirable"
	"github.com/pocketbase/pocketbase/core"
)

// SessionReasonHeader says why a Clerk session token was refused
// (PocketClerk-Session: refused), so that a frontend can tell the user
// what to do: one of the refusal reasons below.
const SessionReasonHeader = "PocketClerk-Session-Reason"

// Why a session token authenticates nobody, as SessionReasonHeader names it.
const (
	refusedNotConfigured = "not-configured" // neither CLERK_JWT_KEY nor CLERK_SECRET_KEY
	refusedUnknownKey    = "unknown-key"    // no known signing key has the token's key id
	refusedBadSignature  = "bad-signature"  // signed with another key than CLERK_JWT_KEY
	refusedExpired       = "expired"
	refusedNotYetValid   = "not-yet-valid"
	refusedWrongParty    = "wrong-party" // azp not in CLERK_AUTHORIZED_PARTIES
	refusedNotASession   = "not-a-session"
	refusedPending       = "pending"
	refusedInvalid       = "invalid" // malformed, or an issuer that is not Clerk's
	refusedBanned        = "banned"
	refusedDeleted       = "deleted"
	refusedSignedOut     = "signed-out" // the session was ended or revoked
)

// refusalHints tell an operator reading the Logs what a refusal means.
var refusalHints = map[string]string{
	refusedNotConfigured: "set CLERK_JWT_KEY (Clerk dashboard, API Keys, JWT public key) or CLERK_SECRET_KEY and restart",
	refusedUnknownKey:    "no signing key of this instance has the token's key id: CLERK_SECRET_KEY may belong to another Clerk instance (development vs production)",
	refusedBadSignature:  "the signature does not match CLERK_JWT_KEY: the key likely belongs to another Clerk instance (development vs production)",
	refusedExpired:       "the frontend sent an old token (it should get a fresh one per request), or the server clock is off: enable NTP",
	refusedNotYetValid:   "the server clock is behind Clerk's: enable NTP",
	refusedWrongParty:    "the token comes from an origin not listed in CLERK_AUTHORIZED_PARTIES: add it if it is yours",
	refusedNotASession:   "not a session token (a JWT template's token, or no sid, sub or exp): send the token of getToken() without a template",
	refusedPending:       "the session has a task pending in Clerk (for example choosing an organization)",
	refusedInvalid:       "the token is malformed or not issued by Clerk",
	refusedBanned:        "the user is banned in Clerk",
	refusedDeleted:       "the user was deleted in Clerk",
	refusedSignedOut:     "the session was ended or revoked in Clerk (session.ended, session.revoked or session.removed)",
}

var (
	errWrongParty = errors.New("the token's authorized party (azp) is not in CLERK_AUTHORIZED_PARTIES")
	errNotSession = errors.New("not a session token (no sid, sub or exp)")
	errPending    = errors.New("the session is pending")
)

// refusalReason classifies an error of sessionVerifier.verify.
func refusalReason(err error) string {
	switch {
	case errors.Is(err, errUnknownKey):
		return refusedUnknownKey
	case errors.Is(err, jose.ErrCryptoFailure):
		return refusedBadSignature
	case errors.Is(err, josejwt.ErrExpired):
		return refusedExpired
	case errors.Is(err, josejwt.ErrNotValidYet), errors.Is(err, josejwt.ErrIssuedInTheFuture):
		return refusedNotYetValid
	case errors.Is(err, errWrongParty):
		return refusedWrongParty
	case errors.Is(err, errNotSession):
		return refusedNotASession
	case errors.Is(err, errPending):
		return refusedPending
	}
	return refusedInvalid
}

const (
	// refusalLogEvery is how often one user's refusals for one reason reach
	// the Logs: a refused frontend retries with every request.
	refusalLogEvery = time.Minute
	// refusalLogMax caps the refusals logged per refusalLogEvery over all
	// users, so that made-up tokens cannot flood the Logs.
	refusalLogMax = 60
)

// refusalLog logs session-token refusals at info level, which the
// dashboard's Logs keep, at most once a minute per user and reason.
type refusalLog struct {
	recent *expirable.LRU[string, struct{}]

	mu          sync.Mutex
	windowStart time.Time
	logged      int
	suppressed  int
}

func newRefusalLog() *refusalLog {
	return &refusalLog{recent: expirable.NewLRU[string, struct{}](4096, nil, refusalLogEvery)}
}

// log records a refusal. clerkID may be unverified (the token's claimed
// subject): it only keys the rate limit and helps find the user.
func (l *refusalLog) log(app core.App, reason, clerkID string, err error) {
	key := reason + " " + clerkID
	if l.recent.Contains(key) {
		return
	}
	l.mu.Lock()
	now := time.Now()
	if now.Sub(l.windowStart) >= refusalLogEvery {
		if l.suppressed > 0 {
			app.Logger().Warn("Clerk session token refusals not logged: too many in a minute", "count", l.suppressed)
		}
		l.windowStart, l.logged, l.suppressed = now, 0, 0
	}
	full := l.logged >= refusalLogMax
	if full {
		l.suppressed++
	} else {
		l.logged++
	}
	l.mu.Unlock()
	if full {
		return
	}
	l.recent.Add(key, struct{}{})
	attrs := []any{"reason", reason, "clerkId", clerkID, "hint", refusalHints[reason]}
	if err != nil {
		attrs = append(attrs, "error", err.Error())
	}
	app.Logger().Info("Clerk session token refused; the request goes on unauthenticated", attrs...)
}

// claimedSubject reads a JWT's sub without verifying anything: for the
// refusal log only.
func claimedSubject(token string) string {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return ""
	}
	var c struct {
		Sub string `json:"sub"`
	}
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil || json.Unmarshal(raw, &c) != nil || len(c.Sub) > 64 {
		return ""
	}
	return c.Sub
}
