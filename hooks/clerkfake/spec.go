package clerkfake

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/getkin/kin-openapi/openapi3filter"
	"github.com/getkin/kin-openapi/routers"
	"github.com/getkin/kin-openapi/routers/gorillamux"
)

// SpecFile is Clerk's Backend API spec, from github.com/clerk/openapi-specs
// (bapi/2026-05-12.yml at commit 7987d1b, 2026-08-14), relative to the
// repository's root.
const SpecFile = "testdata/clerk/bapi-2026-05-12.yml"

// Spec is Clerk's Backend API spec, loaded to check requests and answers.
type Spec struct {
	router routers.Router
}

var (
	specOnce   sync.Once
	loadedSpec *Spec
	specErr    error
)

// LoadSpec reads the spec at path once per process.
func LoadSpec(path string) (*Spec, error) {
	specOnce.Do(func() {
		doc, err := openapi3.NewLoader().LoadFromFile(path)
		if err != nil {
			specErr = fmt.Errorf("reading Clerk's Backend API spec: %w", err)
			return
		}
		router, err := gorillamux.NewRouter(doc)
		if err != nil {
			specErr = fmt.Errorf("routing Clerk's Backend API spec: %w", err)
			return
		}
		loadedSpec = &Spec{router: router}
	})
	return loadedSpec, specErr
}

// Check serves next and reports, through violation, each request that is
// not an operation of the spec with valid parameters and each answer that
// does not validate against that operation's response schema. seen, when
// set, hears each operation id served.
func (s *Spec) Check(next http.Handler, violation func(string), seen func(operationID string)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// The spec's server is https://api.clerk.com/v1.
		asClerk := r.Clone(r.Context())
		asClerk.URL = &url.URL{Scheme: "https", Host: "api.clerk.com", Path: r.URL.Path, RawQuery: r.URL.RawQuery}
		route, params, err := s.router.FindRoute(asClerk)
		if err != nil && !strings.HasPrefix(r.URL.Path, "/v1/") {
			// Not a request for Clerk's Backend API at all (a test of a
			// CLERK_API_URL that points elsewhere): answered as Clerk would.
			next.ServeHTTP(w, r)
			return
		}
		if err != nil {
			violation(fmt.Sprintf("%s %s is not an operation of Clerk's Backend API: %v", r.Method, r.URL.Path, err))
			next.ServeHTTP(w, r)
			return
		}
		if seen != nil {
			seen(route.Operation.OperationID)
		}
		in := &openapi3filter.RequestValidationInput{
			Request: asClerk, PathParams: params, Route: route,
			Options: &openapi3filter.Options{AuthenticationFunc: openapi3filter.NoopAuthenticationFunc},
		}
		if err := openapi3filter.ValidateRequest(context.Background(), in); err != nil {
			violation(fmt.Sprintf("%s %s (%s): %v", r.Method, r.URL, route.Operation.OperationID, err))
		}

		rec := &recorder{ResponseRecorder: httptest.NewRecorder(), conn: w}
		next.ServeHTTP(rec, r)
		if rec.hungUp {
			return
		}
		out := &openapi3filter.ResponseValidationInput{
			RequestValidationInput: in, Status: rec.Code, Header: rec.Header(),
			Body:    io.NopCloser(bytes.NewReader(rec.Body.Bytes())),
			Options: &openapi3filter.Options{MultiError: true},
		}
		if route.Operation.Responses.Status(rec.Code) == nil && route.Operation.Responses.Default() == nil {
			// A status the operation does not list (a 5xx or 429 of
			// Clerk's infrastructure) still carries Clerk's error envelope.
			out.Status = http.StatusBadRequest
		}
		if err := openapi3filter.ValidateResponse(context.Background(), out); err != nil {
			violation(fmt.Sprintf("the answer %d to %s %s (%s) is not Clerk's: %v", rec.Code, r.Method, r.URL, route.Operation.OperationID, err))
		}
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		w.Write(rec.Body.Bytes())
	})
}

// recorder records an answer, and lets a Failure hang up the real
// connection.
type recorder struct {
	*httptest.ResponseRecorder
	conn   http.ResponseWriter
	hungUp bool
}

func (r *recorder) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	r.hungUp = true
	return r.conn.(http.Hijacker).Hijack()
}
