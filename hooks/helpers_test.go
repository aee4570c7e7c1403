package hooks

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	"github.com/pocketbase/pocketbase/tools/subscriptions"
	svix "github.com/svix/svix-webhooks/go"

	"github.com/pocketclerk/pocketclerk/hooks/clerkfake"
	"github.com/pocketclerk/pocketclerk/hooks/internal/realtimeindex"
	_ "github.com/pocketclerk/pocketclerk/migrations"
)

// testSecret is Svix's published test vector secret.
const testSecret = "whsec_plJ3nmyCDGBKInavdOK15jsl"

// TestMain removes the migrated data dir that newTestApp clones.
func TestMain(m *testing.M) {
	code := m.Run()
	if migratedDir != "" {
		os.RemoveAll(migratedDir)
	}
	os.Exit(code)
}

var (
	migrateOnce sync.Once
	migratedDir string
	migrateErr  error
)

// newTestApp is a clean app with our migrations (PocketBase's own fixtures
// already hold a "clients" collection), connected as the served app is
// (DBConnect). Each app is a copy of one data dir migrated once per run:
// migrating a new app costs a quarter of a second.
func newTestApp(t testing.TB) *tests.TestApp {
	t.Helper()
	migrateOnce.Do(func() {
		empty, err := os.MkdirTemp("", "pocketclerk-test-*")
		if err != nil {
			migrateErr = err
			return
		}
		defer os.RemoveAll(empty)
		app, err := tests.NewTestApp(empty) // migrates a copy of empty
		if err != nil {
			migrateErr = err
			return
		}
		// Closing the databases writes their WAL back: the copy is the template.
		migrateErr = app.ClearBootstrap()
		migratedDir = app.DataDir()
	})
	if migrateErr != nil {
		t.Fatal(migrateErr)
	}
	app, err := tests.NewTestAppWithConfig(core.BaseAppConfig{DataDir: migratedDir, EncryptionEnv: "pb_test_env", DBConnect: DBConnect})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Cleanup)
	return app
}

// serve registers the plugin with config and serves the app's router.
func serve(t testing.TB, app core.App, config Config) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(routerHandler(t, app, config))
	t.Cleanup(srv.Close)
	served(t, srv.URL, app)
	return srv
}

// servedApps maps the URL of a test server to the app it serves, so that
// deliver can wait for the work after a delivery's commit.
var servedApps sync.Map

// served records that url serves app, until the test ends.
func served(t testing.TB, url string, app core.App) {
	servedApps.Store(url, app)
	t.Cleanup(func() { servedApps.Delete(url) })
}

// afterCommits waits until the work after every commit of the webhook
// served at url (realtime messages, hooks, session sign-outs) is done: a
// delivery is answered before it.
func afterCommits(t testing.TB, url string) {
	t.Helper()
	if app, ok := servedApps.Load(url); ok && !waitFanOut(app.(core.App), 30*time.Second) {
		t.Fatal("the work after the webhook's commits was not done within 30 s")
	}
}

// clerkServer is an app served with a webhook secret (testSecret) and a
// Clerk key (key): the set-up of every test of signed-in connections.
type clerkServer struct {
	*httptest.Server
	app    core.App
	key    signingKey
	config Config // as served, secret and key included
}

// serveWithClerk serves app with config, to which it adds testSecret and
// the public key of newSigningKey(t, 0, "ins_key1").
func serveWithClerk(t *testing.T, app core.App, config Config) *clerkServer {
	t.Helper()
	key := newSigningKey(t, 0, "ins_key1")
	config.WebhookSecrets, config.JWTKey = []string{testSecret}, key.publicPEM(t)
	return &clerkServer{Server: serve(t, app, config), app: app, key: key, config: config}
}

// signIn opens a realtime connection and subscribes it to topics with a
// session token of the Clerk user clerkID.
func (s *clerkServer) signIn(t *testing.T, clerkID string, topics ...string) *realtimeConn {
	t.Helper()
	conn := connectRealtime(t, s.URL)
	conn.subscribe(t, "Bearer "+s.key.token(t, clerkID), topics...)
	return conn
}

// registeredPlugins maps an app to the plugin routerHandler registered on
// it, until the test ends.
var registeredPlugins sync.Map

// realtimeIndexOf is the realtime index of the plugin served on app (nil
// with CLERK_REALTIME_INDEX=off).
func realtimeIndexOf(app core.App) *realtimeindex.Index {
	p, _ := registeredPlugins.Load(app)
	return p.(*plugin).realtimeIndex
}

// realtimeClients is every realtime connection of the plugin served on app.
func realtimeClients(app core.App) []subscriptions.Client {
	p, _ := registeredPlugins.Load(app)
	return p.(*plugin).realtimeClients(app)
}

// routerHandler registers the plugin with config and builds the app's
// router as serving does, without the middlewares named in unbind.
func routerHandler(t testing.TB, app core.App, config Config, unbind ...string) http.Handler {
	t.Helper()
	p, err := register(app, nil, config)
	if err != nil {
		t.Fatal(err)
	}
	registeredPlugins.Store(app, p)
	t.Cleanup(func() { registeredPlugins.Delete(app) })
	r, err := apis.NewRouter(app)
	if err != nil {
		t.Fatal(err)
	}
	r.Unbind(unbind...)
	var h http.Handler
	err = app.OnServe().Trigger(&core.ServeEvent{App: app, Router: r}, func(e *core.ServeEvent) error {
		h, err = e.Router.BuildMux()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func readFixture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// signedRequest is a delivery as Svix sends it, built as "clerk send" builds it.
func signedRequest(t testing.TB, url, secret, svixID string, at time.Time, body []byte) *http.Request {
	t.Helper()
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	req, err := NewWebhookRequest(context.Background(), wh, url+WebhookPath, svixID, at, body)
	if err != nil {
		t.Fatal(err)
	}
	return req
}

type reply struct {
	Status int
	Body   map[string]any
}

func do(t testing.TB, req *http.Request) reply {
	t.Helper()
	r, err := tryDo(req)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// tryDo is do for goroutines other than the test's, where t.Fatal is not allowed.
func tryDo(req *http.Request) (reply, error) {
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		return reply{}, err
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(res.Body)
	r := reply{Status: res.StatusCode}
	_ = json.Unmarshal(raw, &r.Body)
	return r, err
}

// deliver signs body with testSecret, posts it and waits for the work
// after its commit (afterCommits).
func deliver(t testing.TB, url, svixID string, body []byte) reply {
	t.Helper()
	r := do(t, signedRequest(t, url, testSecret, svixID, time.Now(), body))
	afterCommits(t, url)
	return r
}

// userEventBody is a Clerk webhook body of type typ carrying Clerk's
// example user, changed by edit.
func userEventBody(typ string, edit func(user map[string]any)) []byte {
	u := clerkfake.ExampleUser()
	if edit != nil {
		edit(u)
	}
	return clerkfake.Event(typ, u)
}

// userDeletedEvent is Clerk's user.deleted event for id, emitted at the
// given Unix milliseconds, as "clerk send" builds it.
func userDeletedEvent(id string, at int64) []byte {
	b, _ := json.Marshal(clerkEvent(eventUserDeleted, id, time.UnixMilli(at)))
	return b
}

// clientOf is the client of a Clerk user, or nil.
func clientOf(t testing.TB, app core.App, clerkID string) *core.Record {
	t.Helper()
	client, err := findClient(app, clerkID)
	if err != nil {
		t.Fatal(err)
	}
	if client == nil {
		return nil
	}
	return client.Record
}

func count(t testing.TB, app core.App, collection, filter string) int {
	t.Helper()
	n, err := app.CountRecords(collection)
	if filter != "" {
		var records []*core.Record
		records, err = app.FindRecordsByFilter(collection, filter, "", 0, 0)
		n = int64(len(records))
	}
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

func mustContain(t testing.TB, got any, want string) {
	t.Helper()
	if !strings.Contains(fmt.Sprint(got), want) {
		t.Fatalf("%q does not contain %q", got, want)
	}
}

// rewriteRules replaces from with to in every rule of collection for the
// rest of f, then puts the rules back; the test fails when no rule has from.
func rewriteRules(t *testing.T, app core.App, collection, from, to string, f func()) {
	t.Helper()
	col, err := app.FindCollectionByNameOrId(collection)
	if err != nil {
		t.Fatal(err)
	}
	rules := []**string{&col.ListRule, &col.ViewRule, &col.CreateRule, &col.UpdateRule, &col.DeleteRule}
	saved := make([]*string, len(rules))
	found := false
	for i, rule := range rules {
		saved[i] = *rule
		if *rule != nil && strings.Contains(**rule, from) {
			rewritten := strings.ReplaceAll(**rule, from, to)
			*rule, found = &rewritten, true
		}
	}
	if !found {
		t.Fatalf("no rule of %s has %q", collection, from)
	}
	if err := app.Save(col); err != nil {
		t.Fatal(err)
	}
	defer func() {
		col, _ := app.FindCollectionByNameOrId(collection)
		col.ListRule, col.ViewRule, col.CreateRule, col.UpdateRule, col.DeleteRule = saved[0], saved[1], saved[2], saved[3], saved[4]
		if err := app.Save(col); err != nil {
			t.Fatal(err)
		}
	}()
	f()
}
