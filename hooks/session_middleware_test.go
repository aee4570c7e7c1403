package hooks

import (
	"encoding/base64"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
)

const (
	userA = "user_2aaaaaaaaaaaaaaaaaaaaaaaaaa"
	userB = "user_2bbbbbbbbbbbbbbbbbbbbbbbbbb"
)

// twoClients serves an app holding the clients of userA and userB, with
// session tokens verified by key's PEM (no network).
func twoClients(t *testing.T, key signingKey, edit func(*Config)) (url string, idA string) {
	t.Helper()
	app := newTestApp(t)
	cfg := Config{WebhookSecrets: []string{testSecret}, JWTKey: key.publicPEM(t)}
	if edit != nil {
		edit(&cfg)
	}
	srv := serve(t, app, cfg)
	for _, u := range []map[string]any{clerkfake.NewUser(userA, "Alice", 1000), clerkfake.NewUser(userB, "Bob", 1000)} {
		if r := deliver(t, srv.URL, "msg_"+u["id"].(string), clerkfake.Event(eventUserCreated, u)); r.Status != http.StatusOK {
			t.Fatalf("seeding %s: %+v", u["id"], r)
		}
	}
	return srv.URL, clientOf(t, app, userA).Id
}

func TestSessionTokenAuthenticatesOwnClientOnly(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	url, idA := twoClients(t, key, nil)
	token := key.token(t, userA)

	// With "Bearer " as any HTTP client sends it, and without, as the PocketBase JS SDK does.
	for _, auth := range []string{"Bearer " + token, token} {
		if ids := listClerkIDs(t, url, auth); !slices.Equal(ids, []string{userA}) {
			t.Fatalf("%.10s...: list shows %v, want only %s", auth, ids, userA)
		}
	}

	r := get(t, url+"/api/collections/clients/records/"+idA, "Bearer "+token)
	if r.Status != http.StatusOK || r.Body["firstName"] != "Alice" {
		t.Fatalf("view own client: %+v", r)
	}
	if _, ok := r.Body["privateMetadata"]; ok {
		t.Fatal("privateMetadata reached its owner")
	}
	r = get(t, url+"/api/collections/clients/records/"+idA+"?fields=privateMetadata,firstName", "Bearer "+token)
	if _, ok := r.Body["privateMetadata"]; ok || r.Status != http.StatusOK {
		t.Fatalf("privateMetadata asked for by name: %+v", r)
	}

	idB := ""
	r = get(t, url+"/api/collections/clients/records?filter="+`clerkId="`+userB+`"`, "Bearer "+key.token(t, userB))
	if items := r.Body["items"].([]any); len(items) == 1 {
		idB = items[0].(map[string]any)["id"].(string)
	}
	if idB == "" {
		t.Fatal("userB cannot see its own client")
	}
	if r := get(t, url+"/api/collections/clients/records/"+idB, "Bearer "+token); r.Status != http.StatusNotFound {
		t.Fatalf("userA viewing userB's client: %d %v", r.Status, r.Body)
	}
}

func TestRefusedSessionTokensAuthenticateNobody(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	url, idA := twoClients(t, key, func(c *Config) { c.AuthorizedParties = []string{testOrigin} })
	now := time.Now()

	with := func(edit func(claims)) string {
		c := validClaims(userA)
		edit(c)
		return key.sign(t, c)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	hs256, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.MapClaims(validClaims(userA))).SignedString([]byte("guessed"))
	if err != nil {
		t.Fatal(err)
	}

	refused := map[string]string{
		"expired": with(func(c claims) {
			c["iat"], c["nbf"], c["exp"] = now.Add(-2*time.Minute).Unix(), now.Add(-2*time.Minute).Unix(), now.Add(-30*time.Second).Unix()
		}),
		"not yet valid":           with(func(c claims) { c["nbf"] = now.Add(time.Minute).Unix() }),
		"wrong key":               newSigningKey(t, 1, "ins_key1").token(t, userA),
		"wrong azp":               with(func(c claims) { c["azp"] = "https://evil.example" }),
		"wrong issuer":            with(func(c claims) { c["iss"] = "https://evil.example" }),
		"no subject":              with(func(c claims) { delete(c, "sub") }),
		"pending session":         with(func(c claims) { c["sts"] = "pending" }),
		"no session (template)":   with(func(c claims) { delete(c, "sid") }),
		"no expiry":               with(func(c claims) { delete(c, "exp") }),
		"unknown user":            key.token(t, "user_2nobodyyyyyyyyyyyyyyyyyyyy"),
		"HS256 with Clerk claims": hs256,
		"alg none":                b64([]byte(`{"alg":"none"}`)) + "." + b64([]byte(`{"sub":"`+userA+`"}`)) + ".",
		"garbage":                 "garbage",
		"three dots":              "a.b.c",
		"RS256 junk":              b64([]byte(`{"alg":"RS256","kid":"ins_key1"}`)) + ".e30.c2lnbmF0dXJl",
		"tampered":                tamper(key.token(t, userB), userA),
	}
	for name, token := range refused {
		t.Run(name, func(t *testing.T) {
			if ids := listClerkIDs(t, url, "Bearer "+token); len(ids) != 0 {
				t.Fatalf("list shows %v to a refused token", ids)
			}
			if r := get(t, url+"/api/collections/clients/records/"+idA, "Bearer "+token); r.Status != http.StatusNotFound {
				t.Fatalf("view with a refused token: %d", r.Status)
			}
		})
	}

	// The same checks pass a good token, and a few seconds of clock skew.
	accepted := map[string]string{
		"valid":            key.token(t, userA),
		"expired 2s ago":   with(func(c claims) { c["exp"] = now.Add(-2 * time.Second).Unix() }),
		"no azp (backend)": with(func(c claims) { delete(c, "azp") }),
	}
	for name, token := range accepted {
		if ids := listClerkIDs(t, url, "Bearer "+token); !slices.Equal(ids, []string{userA}) {
			t.Fatalf("%s: list shows %v, want only %s", name, ids, userA)
		}
	}
}

// tamper swaps the subject of a signed token, keeping its signature.
func tamper(token, sub string) string {
	parts := strings.Split(token, ".")
	payload, _ := base64.RawURLEncoding.DecodeString(parts[1])
	payload = []byte(strings.Replace(string(payload), userB, sub, 1))
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}

func TestBannedClientAuthenticatesNobody(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	u := clerkfake.NewUser(userA, "Alice", 1000)
	deliver(t, srv.URL, "msg_1", clerkfake.Event(eventUserCreated, u))
	if ids := listClerkIDs(t, srv.URL, "Bearer "+srv.key.token(t, userA)); len(ids) != 1 {
		t.Fatalf("before the ban: %v", ids)
	}
	u["banned"], u["updated_at"] = true, 2000
	deliver(t, srv.URL, "msg_2", clerkfake.Event(eventUserUpdated, u))
	if ids := listClerkIDs(t, srv.URL, "Bearer "+srv.key.token(t, userA)); len(ids) != 0 {
		t.Fatalf("a banned client still reads %v", ids)
	}
}

func TestSuperuserTokensStillWork(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	deliver(t, srv.URL, "msg_b", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userB, "Bob", 1000)))
	token := newSuperuserToken(t, app)

	r := get(t, srv.URL+"/api/collections/clients/records?sort=clerkId", token)
	items, _ := r.Body["items"].([]any)
	if r.Status != http.StatusOK || len(items) != 2 {
		t.Fatalf("superuser list: %+v", r)
	}
	private, _ := items[0].(map[string]any)["privateMetadata"].(map[string]any)
	if private["secret"] != "private-of-"+userA {
		t.Fatalf("superuser does not see privateMetadata: %v", items[0])
	}
	if r := get(t, srv.URL+"/api/collections/clerk_events/records", "Bearer "+token); r.Status != http.StatusOK {
		t.Fatalf("superuser reading the delivery log: %d", r.Status)
	}
}

func TestOwnersCannotWriteAndGuestsReadNothing(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	url, idA := twoClients(t, key, nil)
	auth := "Bearer " + key.token(t, userA)
	records := url + "/api/collections/clients/records"

	writes := []struct {
		method, url, body string
		status            int
	}{
		{http.MethodPost, records, `{"clerkId":"user_2forged","email":"forged@example.org"}`, http.StatusForbidden},
		// The update rule lets a client edit its own record, but not Clerk's fields.
		{http.MethodPatch, records + "/" + idA, `{"firstName":"Mallory","banned":false}`, http.StatusBadRequest},
		{http.MethodDelete, records + "/" + idA, "", http.StatusForbidden},
	}
	for _, w := range writes {
		if r := send(t, w.method, w.url, auth, w.body); r.Status != w.status {
			t.Errorf("owner %s: %d %v, want %d", w.method, r.Status, r.Body, w.status)
		}
	}
	if r := get(t, records+"/"+idA, auth); r.Body["firstName"] != "Alice" {
		t.Fatalf("the owner's client changed: %+v", r)
	}
	if ids := listClerkIDs(t, url, ""); len(ids) != 0 {
		t.Fatalf("a guest lists %v", ids)
	}
	if r := get(t, records+"/"+idA, ""); r.Status != http.StatusNotFound {
		t.Fatalf("a guest views a client: %d", r.Status)
	}
	for _, col := range []string{"clerk_events", "clerk_tombstones"} {
		if r := get(t, url+"/api/collections/"+col+"/records", auth); r.Status == http.StatusOK {
			t.Fatalf("an owner reads %s", col)
		}
	}
}

// Clerk owns the email and its verification: PocketBase's own flows that
// would change them are closed.
func TestClerkOwnsEmailAndVerification(t *testing.T) {
	t.Parallel()
	app := newTestApp(t)
	srv := serveWithClerk(t, app, Config{})
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))
	url, auth := srv.URL, "Bearer "+srv.key.token(t, userA)

	client := clientOf(t, app, userA)
	client.SetVerified(false)
	if err := app.Save(client); err != nil {
		t.Fatal(err)
	}
	verifyToken, err := client.NewVerificationToken()
	if err != nil {
		t.Fatal(err)
	}
	for _, flow := range []struct {
		path, body string
		status     int // a verification request answers as for an unknown email
	}{
		{"request-verification", `{"email":"` + client.Email() + `"}`, http.StatusNoContent},
		{"confirm-verification", `{"token":"` + verifyToken + `"}`, http.StatusForbidden},
		{"request-email-change", `{"newEmail":"new@example.org"}`, http.StatusForbidden},
	} {
		if r := send(t, http.MethodPost, url+"/api/collections/clients/"+flow.path, auth, flow.body); r.Status != flow.status {
			t.Errorf("%s: %d %v, want %d", flow.path, r.Status, r.Body, flow.status)
		}
	}
	if n := app.TestMailer.TotalSend(); n != 0 {
		t.Fatalf("%d mails sent", n)
	}
	if clientOf(t, app, userA).Verified() {
		t.Fatal("PocketBase's verification flow marked a client verified")
	}
}

func TestConfigRouteHandsOutThePublishableKey(t *testing.T) {
	t.Parallel()
	srv := serve(t, newTestApp(t), Config{PublishableKey: "pk_test_cG9ja2V0Y2xlcmsuY2xlcmsuYWNjb3VudHMuZGV2JA"})
	r := get(t, srv.URL+ClerkConfigPath, "")
	if r.Status != http.StatusOK || r.Body["publishableKey"] != "pk_test_cG9ja2V0Y2xlcmsuY2xlcmsuYWNjb3VudHMuZGV2JA" {
		t.Fatalf("config route: %+v", r)
	}
}

func TestJWTKeyAcceptsHowEnvFilesMangleIt(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "")
	pemText := key.publicPEM(t)
	body := strings.NewReplacer("-----BEGIN PUBLIC KEY-----", "", "-----END PUBLIC KEY-----", "", "\n", "").Replace(pemText)
	for name, v := range map[string]string{
		"PEM":             pemText,
		"literal \\n":     strings.ReplaceAll(strings.TrimSpace(pemText), "\n", `\n`),
		"bare base64":     body,
		"one line w/ hdr": strings.ReplaceAll(pemText, "\n", " "),
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := pemPublicKey(v); err != nil {
				t.Fatal(err)
			}
		})
	}
	err := Register(newTestApp(t), nil, Config{JWTKey: "not a key"})
	if err == nil || !strings.Contains(err.Error(), "CLERK_JWT_KEY") {
		t.Fatalf("a bad CLERK_JWT_KEY: %v", err)
	}
}

func TestJWKSFetchedOnceForManyRequests(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	clerkAPI := newFakeClerk(t, 0, key)
	app := newTestApp(t)
	srv := serve(t, app, clerkAPI.config())
	deliver(t, srv.URL, "msg_a", clerkfake.Event(eventUserCreated, clerkfake.NewUser(userA, "Alice", 1000)))

	for range 10 {
		if ids := listClerkIDs(t, srv.URL, "Bearer "+key.token(t, userA)); !slices.Equal(ids, []string{userA}) {
			t.Fatalf("list shows %v", ids)
		}
	}
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			if ids := listClerkIDs(t, srv.URL, "Bearer "+key.token(t, userA)); !slices.Equal(ids, []string{userA}) {
				t.Errorf("concurrent list shows %v", ids)
			}
		})
	}
	wg.Wait()
	if n := clerkAPI.JWKSHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times for 30 requests, want 1", n)
	}

	// A token naming a key Clerk never published is refused, and many of
	// them cost no fetch each: here, within 10 s of the last, none at all.
	stranger := newSigningKey(t, 1, "ins_unknown")
	for range 10 {
		if ids := listClerkIDs(t, srv.URL, "Bearer "+stranger.token(t, userA)); len(ids) != 0 {
			t.Fatalf("unknown kid authenticated: %v", ids)
		}
	}
	if n := clerkAPI.JWKSHits.Load(); n != 1 {
		t.Fatalf("JWKS fetched %d times, want no more than the first", n)
	}
	if n := clerkAPI.UserHits.Load(); n != 0 {
		t.Fatalf("users fetched %d times for a user with a client", n)
	}
}

func TestSessionStatusHeaderTellsWaitingFromRefused(t *testing.T) {
	t.Parallel()
	key := newSigningKey(t, 0, "ins_key1")
	url, _ := twoClients(t, key, nil)
	status := func(authorization string) string {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, url+"/api/collections/clients/records", nil)
		req.Header.Set("Authorization", authorization)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.Header.Get(SessionStatusHeader)
	}
	deliver(t, url, "msg_del", userDeletedEvent(userB, 0))
	for auth, want := range map[string]string{
		"Bearer " + key.token(t, userA):                             "signed-in",
		"Bearer " + key.token(t, userB):                             "refused", // deleted
		"Bearer " + key.token(t, newcomer):                          "waiting",
		"Bearer " + newSigningKey(t, 1, "ins_key1").token(t, userA): "refused",
		"Bearer not-a-jwt":                                          "", // not a Clerk token: PocketBase's business
	} {
		t.Run(want, func(t *testing.T) {
			if got := status(auth); got != want {
				t.Fatalf("%.30s...: %s %q, want %q", auth, SessionStatusHeader, got, want)
			}
		})
	}
}
