package hooks

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
	"github.com/clerk/clerk-sdk-go/v2/jwks"
	"github.com/go-jose/go-jose/v3"
)

func TestJWKSCacheFollowsClerkKeyRotation(t *testing.T) {
	t.Parallel()
	k1, k2 := newSigningKey(t, 0, "ins_k1"), newSigningKey(t, 1, "ins_k2")
	clerkAPI := newFakeClerk(t, 0, k1)
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var fetchErr error
	c := &jwksCache{
		client: jwks.NewClient(&clerk.ClientConfig{BackendConfig: clerk.BackendConfig{
			Key: clerk.String(fakeSecretKey), URL: clerk.String(clerkAPI.URL + "/v1"),
		}}),
		now:     func() time.Time { return now },
		onError: func(err error) { fetchErr = err },
	}
	ctx := context.Background()
	mustKey := func(kid string) {
		t.Helper()
		if k, err := c.key(ctx, kid); err != nil || k.KeyID != kid {
			t.Fatalf("key %s: %v", kid, err)
		}
	}
	hits := func(want int64) {
		t.Helper()
		if n := clerkAPI.JWKSHits.Load(); n != want {
			t.Fatalf("JWKS fetched %d times, want %d", n, want)
		}
	}

	mustKey("ins_k1")
	mustKey("ins_k1")
	hits(1)

	// Clerk rotates: the new key is fetched on its first token, but no
	// more often than jwksRefetchInterval.
	clerkAPI.addKey(k2)
	if _, err := c.key(ctx, "ins_k2"); !errors.Is(err, errUnknownKey) {
		t.Fatalf("within the refetch interval: %v", err)
	}
	hits(1)
	now = now.Add(jwksRefetchInterval)
	mustKey("ins_k2")
	mustKey("ins_k1")
	hits(2)

	// An outage keeps the known keys working.
	now = now.Add(jwksMaxAge)
	clerkAPI.edit(func(f *fakeClerk) { f.JWKSDown = true })
	mustKey("ins_k1")
	hits(3)
	if fetchErr == nil {
		t.Fatal("a failed fetch was not reported")
	}

	// A key that Clerk withdrew stops verifying once the set is refreshed.
	now = now.Add(jwksMaxAge)
	clerkAPI.edit(func(f *fakeClerk) { f.JWKSDown, f.Keys = false, []jose.JSONWebKey{k2.jwk()} })
	if _, err := c.key(ctx, "ins_k1"); !errors.Is(err, errUnknownKey) {
		t.Fatalf("withdrawn key: %v", err)
	}
	mustKey("ins_k2")
	hits(4)
}
