package hooks

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-jose/go-jose/v3"
	josejwt "github.com/go-jose/go-jose/v3/jwt"
	"github.com/pocketbase/pocketbase/core"
)

// testIssuer passes clerk-sdk-go's issuer check (https://clerk.*).
const testIssuer = "https://clerk.pocketclerk.test"

// testOrigin is the azp of the test tokens.
const testOrigin = "http://localhost:3000"

// signingKey is an RSA key as Clerk signs session tokens with.
type signingKey struct {
	kid string
	key *rsa.PrivateKey
}

var (
	testKeysOnce sync.Once
	testKeys     [2]*rsa.PrivateKey
)

// newSigningKey returns one of two RSA keys generated once per test run
// (2048-bit generation is slow); index 1 is "another" key.
func newSigningKey(t testing.TB, index int, kid string) signingKey {
	t.Helper()
	testKeysOnce.Do(func() {
		for i := range testKeys {
			k, err := rsa.GenerateKey(rand.Reader, 2048)
			if err != nil {
				panic(err)
			}
			testKeys[i] = k
		}
	})
	return signingKey{kid: kid, key: testKeys[index]}
}

// publicPEM is the key as CLERK_JWT_KEY holds it.
func (k signingKey) publicPEM(t testing.TB) string {
	t.Helper()
	der, err := x509.MarshalPKIXPublicKey(&k.key.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	return string(pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}))
}

func (k signingKey) jwk() jose.JSONWebKey {
	return jose.JSONWebKey{Key: &k.key.PublicKey, KeyID: k.kid, Algorithm: "RS256", Use: "sig"}
}

// claims of a Clerk session token; edit them to make a bad one.
type claims map[string]any

func validClaims(sub string) claims {
	now := time.Now()
	return claims{
		"iss": testIssuer,
		"sub": sub,
		"sid": "sess_" + sub,
		"azp": testOrigin,
		"iat": now.Add(-time.Second).Unix(),
		"nbf": now.Add(-time.Second).Unix(),
		"exp": now.Add(time.Minute).Unix(),
		"v":   2,
	}
}

// sign makes a compact RS256 JWT with this key's kid.
func (k signingKey) sign(t testing.TB, c claims) string {
	t.Helper()
	opts := (&jose.SignerOptions{}).WithType("JWT")
	if k.kid != "" {
		opts = opts.WithHeader("kid", k.kid)
	}
	signer, err := jose.NewSigner(jose.SigningKey{Algorithm: jose.RS256, Key: k.key}, opts)
	if err != nil {
		t.Fatal(err)
	}
	token, err := josejwt.Signed(signer).Claims(map[string]any(c)).CompactSerialize()
	if err != nil {
		t.Fatal(err)
	}
	return token
}

// token is a valid session token of sub.
func (k signingKey) token(t testing.TB, sub string) string {
	return k.sign(t, validClaims(sub))
}

// get sends GET url with an Authorization header (none when empty).
func get(t testing.TB, url, authorization string) reply {
	t.Helper()
	return send(t, http.MethodGet, url, authorization, "")
}

func send(t testing.TB, method, url, authorization, body string) reply {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	return do(t, req)
}

// listClerkIDs lists the clients that authorization may see.
func listClerkIDs(t testing.TB, baseURL, authorization string) []string {
	t.Helper()
	r := get(t, baseURL+"/api/collections/clients/records", authorization)
	if r.Status != http.StatusOK {
		t.Fatalf("list clients: %d %v", r.Status, r.Body)
	}
	var ids []string
	for _, item := range r.Body["items"].([]any) {
		ids = append(ids, item.(map[string]any)["clerkId"].(string))
	}
	return ids
}

// newSuperuserToken creates a superuser and returns a PocketBase token of it.
func newSuperuserToken(t testing.TB, app core.App) string {
	t.Helper()
	col, err := app.FindCollectionByNameOrId(core.CollectionNameSuperusers)
	if err != nil {
		t.Fatal(err)
	}
	su := core.NewRecord(col)
	su.SetEmail("admin@pocketclerk.test")
	su.SetPassword("correct horse battery staple")
	if err := app.Save(su); err != nil {
		t.Fatal(err)
	}
	return authToken(t, su)
}

// authToken is a PocketBase token of record, as the session middleware
// would authenticate it.
func authToken(t testing.TB, record *core.Record) string {
	t.Helper()
	token, err := record.NewAuthToken()
	if err != nil {
		t.Fatal(err)
	}
	return token
}
