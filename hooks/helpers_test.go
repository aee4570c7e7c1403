package hooks

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
	svix "github.com/svix/svix-webhooks/go"

	_ "github.com/pocketclerk/pocketclerk/migrations"
)

// testSecret is Svix's published test vector secret.
const testSecret = "whsec_plJ3nmyCDGBKInavdOK15jsl"

// newTestApp is a clean app with our migrations (PocketBase's own fixtures
// already hold a "clients" collection), connected as the served app is.
func newTestApp(t testing.TB) *tests.TestApp {
	t.Helper()
	app, err := tests.NewTestAppWithConfig(core.BaseAppConfig{DataDir: t.TempDir(), EncryptionEnv: "pb_test_env", DBConnect: DBConnect})
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
	return srv
}

// routerHandler registers the plugin with config and builds the app's
// router as serving does, without the middlewares named in unbind.
func routerHandler(t testing.TB, app core.App, config Config, unbind ...string) http.Handler {
	t.Helper()
	if err := Register(app, nil, config); err != nil {
		t.Fatal(err)
	}
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

// signedRequest is a delivery as Svix sends it.
func signedRequest(t testing.TB, url, secret, svixID string, at time.Time, body []byte) *http.Request {
	t.Helper()
	wh, err := svix.NewWebhook(secret)
	if err != nil {
		t.Fatal(err)
	}
	sig, err := wh.Sign(svixID, at, body)
	if err != nil {
		t.Fatal(err)
	}
	req, err := http.NewRequest(http.MethodPost, url+WebhookPath, bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("svix-id", svixID)
	req.Header.Set("svix-timestamp", fmt.Sprint(at.Unix()))
	req.Header.Set("svix-signature", sig)
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

// deliver signs body with testSecret and posts it.
func deliver(t testing.TB, url, svixID string, body []byte) reply {
	t.Helper()
	return do(t, signedRequest(t, url, testSecret, svixID, time.Now(), body))
}

// userEventBody builds a Clerk envelope from the user.created fixture.
func userEventBody(t testing.TB, typ string, edit func(user map[string]any)) []byte {
	t.Helper()
	var env map[string]any
	if err := json.Unmarshal(readFixture(t, "user.created.json"), &env); err != nil {
		t.Fatal(err)
	}
	env["type"] = typ
	user := env["data"].(map[string]any)
	if edit != nil {
		edit(user)
	}
	if ts, ok := user["updated_at"].(float64); ok {
		env["timestamp"] = ts
	}
	b, _ := json.Marshal(env)
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
