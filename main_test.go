package main

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/pocketbase/pocketbase/apis"
	"github.com/pocketbase/pocketbase/core"
	"github.com/pocketbase/pocketbase/tests"
)

// get serves app's router as "serve" builds it and answers GET path.
func get(t *testing.T, app core.App, path string) string {
	t.Helper()
	r, err := apis.NewRouter(app)
	if err != nil {
		t.Fatal(err)
	}
	var mux http.Handler
	err = app.OnServe().Trigger(&core.ServeEvent{App: app, Router: r}, func(e *core.ServeEvent) error {
		mux, err = e.Router.BuildMux()
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	rec := httptest.NewRecorder()
	mux.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, path, nil))
	body, _ := io.ReadAll(rec.Body)
	return string(body)
}

func newApp(t *testing.T) core.App {
	t.Helper()
	app, err := tests.NewTestApp(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(app.Cleanup)
	return app
}

func TestEmbeddedPagesServeTheProfilePage(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	servePublicFiles(app)
	if body := get(t, app, "/"); !strings.Contains(body, "<html") {
		t.Fatalf("GET / is not the profile page: %.200s", body)
	}
}

// An owner's own route at "/{path...}", bound after the embedded pages in
// main.go, replaces them.
func TestOwnersRouteOverridesTheEmbeddedPages(t *testing.T) {
	t.Parallel()
	app := newApp(t)
	servePublicFiles(app)
	app.OnServe().BindFunc(func(se *core.ServeEvent) error {
		se.Router.GET("/{path...}", func(e *core.RequestEvent) error { return e.String(http.StatusOK, "the owner's page") })
		return se.Next()
	})
	if body := get(t, app, "/"); body != "the owner's page" {
		t.Fatalf("GET / answered %.200s, want the owner's route", body)
	}
}
