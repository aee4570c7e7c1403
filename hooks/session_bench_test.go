package hooks

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

// BenchmarkVerifySessionToken is the cost that a Clerk session token adds
// to a request once the key is known: one RS256 verification.
func BenchmarkVerifySessionToken(b *testing.B) {
	key, v := pemVerifier(b)
	token := key.token(b, userA)
	ctx := context.Background()
	for b.Loop() {
		if _, err := v.verify(ctx, token, "ins_key1"); err != nil {
			b.Fatal(err)
		}
	}
}

// pemVerifier verifies the tokens of the test key, as with CLERK_JWT_KEY.
func pemVerifier(tb testing.TB) (signingKey, *sessionVerifier) {
	tb.Helper()
	key := newSigningKey(tb, 0, "ins_key1")
	jwk, err := pemPublicKey(key.publicPEM(tb))
	if err != nil {
		tb.Fatal(err)
	}
	return key, &sessionVerifier{pemKey: jwk, now: time.Now}
}

// BenchmarkReadOwnClient reads one's own client over REST, signed in with
// a Clerk session token and, for comparison, with a PocketBase token.
func BenchmarkReadOwnClient(b *testing.B) {
	key := newSigningKey(b, 0, "ins_key1")
	app := newTestApp(b)
	srv := serve(b, app, Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(b)})
	deliver(b, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	pbToken := authToken(b, clientOf(b, app, userA))
	for name, authorization := range map[string]string{
		"clerk token":      "Bearer " + key.token(b, userA),
		"pocketbase token": pbToken,
	} {
		b.Run(name, func(b *testing.B) {
			for b.Loop() {
				if r := get(b, srv.URL+"/api/collections/clients/records", authorization); r.Status != http.StatusOK || len(r.Body["items"].([]any)) != 1 {
					b.Fatalf("%+v", r)
				}
			}
		})
	}
}

// BenchmarkSessionClaimHeaders is what the session's headers add to a
// request signed in with a Clerk token: the forged ones removed from a
// browser's usual headers, the claims read and the headers set.
func BenchmarkSessionClaimHeaders(b *testing.B) {
	key, v := pemVerifier(b)
	c := validClaims(userA)
	c["fea"] = "o:posts,u:beta"
	c["o"] = map[string]any{"id": "org_1", "slg": "acme", "rol": "admin", "per": "edit,read,delete", "fpm": "7"}
	c["fva"] = []int64{3, 7}
	claims, err := v.verify(context.Background(), key.sign(b, c), key.kid)
	if err != nil {
		b.Fatal(err)
	}
	browser := http.Header{}
	for _, name := range []string{"Accept", "Accept-Encoding", "Accept-Language", "Authorization", "Connection", "Origin", "Referer", "Sec-Fetch-Mode", "Sec-Fetch-Site", "User-Agent"} {
		browser.Set(name, "value")
	}
	for b.Loop() {
		h := browser.Clone()
		stripClerkHeaders(h)
		headersOf(claims).setOn(h)
	}
}
