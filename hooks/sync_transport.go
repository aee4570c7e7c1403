package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/clerk/clerk-sdk-go/v2"
)

// Clerk's Backend API allows 1000 requests per 10 s on production
// instances (secret keys sk_live_...) and 100 on development ones.
// The sync stays at 90% of that, leaving room for the server's own calls.
const (
	clerkRateWindow     = 10 * time.Second
	clerkLimitLive      = 1000
	clerkLimitDev       = 100
	clerkRateHeadroom   = 0.9
	clerkAttemptTimeout = 30 * time.Second
	clerkMaxAttempts    = 8
	clerkMaxRetryAfter  = 5 * time.Minute
	// clerkMaxAnswer bounds what one answer may hold in memory: a page of
	// 500 users with full metadata is a few MiB.
	clerkMaxAnswer = 32 << 20
)

// errAnswerTooLarge is final: asking again gets the same answer.
var errAnswerTooLarge = fmt.Errorf("the answer of Clerk's Backend API was larger than %d MiB; a page of users is far smaller: check CLERK_API_URL", clerkMaxAnswer>>20)

// clerkTransport makes the SDK's requests well-behaved for a long run:
// it spaces requests to stay inside the rate limit, waits out 429s as long
// as Retry-After asks, and retries 5xx and network errors with backoff.
// Only GET requests are retried: the sync reads, and reading twice is safe.
type clerkTransport struct {
	base     http.RoundTripper
	interval time.Duration // minimum spacing between requests
	backoff  time.Duration // first wait after a transient error; doubles

	// onRetry, when set, hears of each wait before a retry and its cause,
	// so that a long wait is never silent.
	onRetry func(attempt int, delay time.Duration, cause string)

	mu   sync.Mutex
	next time.Time // when the next request may start
}

func newClerkTransport(secretKey string, base http.RoundTripper) *clerkTransport {
	limit := clerkLimitDev
	if strings.HasPrefix(secretKey, "sk_live_") {
		limit = clerkLimitLive
	}
	if base == nil {
		base = http.DefaultTransport
	}
	return &clerkTransport{
		base:     base,
		interval: time.Duration(float64(clerkRateWindow) / (float64(limit) * clerkRateHeadroom)),
		backoff:  time.Second,
	}
}

// notClerkCode is the error code of an answer that is not Clerk's JSON,
// which the transport rewrites so that the SDK still returns a
// *clerk.APIErrorResponse with its status, and the operator learns where to
// look: most often CLERK_API_URL points at something else.
const notClerkCode = "not_clerk_backend_api"

func (t *clerkTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	ctx := req.Context()
	retryable := req.Method == http.MethodGet || req.Method == http.MethodHead
	wait := t.backoff
	for attempt := 1; ; attempt++ {
		if err := t.awaitTurn(ctx); err != nil {
			return nil, err
		}
		res, body, err := t.attempt(req)

		var delay time.Duration
		var cause string
		switch {
		case err != nil && (ctx.Err() != nil || errors.Is(err, errAnswerTooLarge)):
			return nil, err
		case err != nil: // network error or attempt timeout
			delay, cause = wait, "Clerk's Backend API is unreachable: "+err.Error()
		case res.StatusCode == http.StatusTooManyRequests:
			delay, cause = retryAfter(res.Header, wait), "Clerk's Backend API answered 429 Too Many Requests (rate limit)"
			t.pushBack(delay) // the limit is shared: nothing goes out before then
		case res.StatusCode >= 500:
			delay, cause = retryAfter(res.Header, wait), fmt.Sprintf("Clerk's Backend API answered %d %s", res.StatusCode, http.StatusText(res.StatusCode))
		default:
			return asClerkAnswer(res, body), nil
		}

		if !retryable || attempt == clerkMaxAttempts {
			if err != nil {
				return nil, err
			}
			return asClerkAnswer(res, body), nil
		}
		if t.onRetry != nil {
			t.onRetry(attempt, delay, cause)
		}
		if err := sleepCtx(ctx, delay); err != nil {
			return nil, err
		}
		wait = min(2*wait, 30*time.Second)
	}
}

// asClerkAnswer is res, unless it is an error answer whose body is not
// Clerk's JSON error: then the body becomes one, with code notClerkCode and
// the start of what was answered.
func asClerkAnswer(res *http.Response, body []byte) *http.Response {
	if res.StatusCode < 400 {
		return res
	}
	var clerkErr struct {
		Errors []clerk.Error `json:"errors"`
	}
	if json.Unmarshal(body, &clerkErr) == nil && len(clerkErr.Errors) > 0 {
		return res
	}
	answered := strings.TrimSpace(string(body))
	if len(answered) > 200 {
		answered = answered[:200] + "..."
	}
	body, _ = json.Marshal(map[string]any{"errors": []clerk.Error{{
		Code:        notClerkCode,
		Message:     "this is not Clerk's Backend API: check CLERK_API_URL (default https://api.clerk.com; requests go to CLERK_API_URL/v1/...)",
		LongMessage: answered,
	}}})
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	res.Header = res.Header.Clone()
	res.Header.Set("Content-Type", "application/json")
	res.Header.Del("Content-Length")
	return res
}

// attempt sends one request and reads the whole answer within
// clerkAttemptTimeout, so a stalled connection counts as a transient error.
func (t *clerkTransport) attempt(req *http.Request) (*http.Response, []byte, error) {
	ctx, cancel := context.WithTimeout(req.Context(), clerkAttemptTimeout)
	defer cancel()
	res, err := t.base.RoundTrip(req.Clone(ctx))
	if err != nil {
		return nil, nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, clerkMaxAnswer+1))
	if err != nil {
		return nil, nil, err
	}
	if len(body) > clerkMaxAnswer {
		return nil, nil, errAnswerTooLarge
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	return res, body, nil
}

// awaitTurn blocks until the rate limit allows the next request.
func (t *clerkTransport) awaitTurn(ctx context.Context) error {
	t.mu.Lock()
	now := time.Now()
	start := now
	if t.next.After(now) {
		start = t.next
	}
	t.next = start.Add(t.interval)
	t.mu.Unlock()
	return sleepCtx(ctx, start.Sub(now))
}

func (t *clerkTransport) pushBack(d time.Duration) {
	t.mu.Lock()
	if until := time.Now().Add(d); until.After(t.next) {
		t.next = until
	}
	t.mu.Unlock()
}

// retryAfter reads Retry-After (seconds or an HTTP date); without one, the
// backoff applies.
func retryAfter(h http.Header, fallback time.Duration) time.Duration {
	v := strings.TrimSpace(h.Get("Retry-After"))
	if v == "" {
		return fallback
	}
	d := fallback
	if secs, err := strconv.Atoi(v); err == nil && secs >= 0 {
		d = time.Duration(secs) * time.Second
	} else if at, err := http.ParseTime(v); err == nil {
		d = time.Until(at)
	}
	return min(max(d, 0), clerkMaxRetryAfter)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-timer.C:
		return nil
	}
}

// withClerkTransport copies cfg with an HTTP client that uses clerkTransport
// over cfg's own client, if any; onRetry (may be nil) hears of each retry.
func withClerkTransport(cfg *clerk.ClientConfig, onRetry func(attempt int, delay time.Duration, cause string)) *clerk.ClientConfig {
	out := *cfg
	var base http.RoundTripper
	if cfg.HTTPClient != nil {
		base = cfg.HTTPClient.Transport
	}
	t := newClerkTransport(clerkKey(cfg), base)
	t.onRetry = onRetry
	out.HTTPClient = &http.Client{Transport: t}
	return &out
}

func clerkKey(cfg *clerk.ClientConfig) string {
	if cfg.Key == nil {
		return ""
	}
	return *cfg.Key
}

// explainClerkError turns a Backend API failure into a message that says
// what to check.
func explainClerkError(what string, err error) error {
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) {
		return fmt.Errorf("%s: %w", what, err)
	}
	status := fmt.Sprintf("%d %s", apiErr.HTTPStatusCode, http.StatusText(apiErr.HTTPStatusCode))
	if isNotClerk(apiErr) {
		e := apiErr.Errors[0]
		return fmt.Errorf("%s: CLERK_API_URL answered %s, and %s; it answered: %s", what, status, e.Message, e.LongMessage)
	}
	var details []string
	for _, e := range apiErr.Errors {
		d := e.Code + ": " + e.Message
		if e.LongMessage != "" && e.LongMessage != e.Message {
			d += " (" + e.LongMessage + ")"
		}
		details = append(details, d)
	}
	hint := "try again later"
	switch {
	case apiErr.HTTPStatusCode == http.StatusUnauthorized || isKeyRefused(apiErr):
		hint = "check that CLERK_SECRET_KEY is this instance's secret key (sk_...) from Clerk's dashboard, API keys"
	case apiErr.HTTPStatusCode == http.StatusForbidden:
		hint = "Clerk refused for the reason above, not for the key"
	case apiErr.HTTPStatusCode == http.StatusNotFound:
		hint = "check CLERK_API_URL (default https://api.clerk.com; requests go to CLERK_API_URL/v1/...)"
	}
	return fmt.Errorf("%s: Clerk's Backend API answered %s (%s, trace %s); %s", what, status, strings.Join(details, "; "), apiErr.TraceID, hint)
}

// errOrganizationsNotEnabled is Clerk's answer to every organization
// endpoint of an instance without the organizations feature (the default).
var errOrganizationsNotEnabled = errors.New("organizations are not enabled in this Clerk instance")

// isOrganizationsNotEnabled reports whether Clerk refused a request because
// the instance has no organizations.
func isOrganizationsNotEnabled(err error) bool {
	return hasClerkCode(err, "organization_not_enabled_in_instance")
}

// isKeyRefused reports whether Clerk refused the secret key itself.
func isKeyRefused(apiErr *clerk.APIErrorResponse) bool {
	for _, e := range apiErr.Errors {
		switch e.Code {
		case "clerk_key_invalid", "authentication_invalid", "authorization_invalid", "authorization_header_format_invalid":
			return true
		}
	}
	return false
}

// hasClerkCode reports whether err is an answer of Clerk's Backend API with
// an error of that code.
func hasClerkCode(err error, code string) bool {
	var apiErr *clerk.APIErrorResponse
	if !errors.As(err, &apiErr) {
		return false
	}
	for _, e := range apiErr.Errors {
		if e.Code == code {
			return true
		}
	}
	return false
}

// isNotClerk reports whether the answer was not Clerk's (see asClerkAnswer).
func isNotClerk(apiErr *clerk.APIErrorResponse) bool {
	return len(apiErr.Errors) == 1 && apiErr.Errors[0].Code == notClerkCode
}

// isClerkNotFound reports whether Clerk's Backend API answered 404: the
// object does not exist. A 404 from something else is not an answer about
// the object.
func isClerkNotFound(err error) bool {
	var apiErr *clerk.APIErrorResponse
	return errors.As(err, &apiErr) && apiErr.HTTPStatusCode == http.StatusNotFound && !isNotClerk(apiErr)
}
