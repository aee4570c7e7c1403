package hooks

import (
	"bytes"
	"context"
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
var errAnswerTooLarge = fmt.Errorf("Clerk's Backend API answered more than %d MiB; a page of users is far smaller: check CLERK_API_URL", clerkMaxAnswer>>20)

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

// clerkStatusError is a final non-2xx answer of the Backend API.
type clerkStatusError struct {
	Status int
	Body   string
}

func (e *clerkStatusError) Error() string {
	msg := fmt.Sprintf("Clerk's Backend API answered %d %s", e.Status, http.StatusText(e.Status))
	if body := strings.TrimSpace(e.Body); body != "" {
		if len(body) > 300 {
			body = body[:300] + "..."
		}
		msg += ": " + body
	}
	return msg
}

// hint tells an operator what to check for the answers a setting causes.
func (e *clerkStatusError) hint() string {
	switch e.Status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "check that CLERK_SECRET_KEY is this instance's secret key (sk_...) from Clerk's dashboard, API keys"
	case http.StatusNotFound:
		return "check CLERK_API_URL (default https://api.clerk.com; requests go to CLERK_API_URL/v1/...)"
	}
	return "try again later"
}

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
		case res.StatusCode >= 400:
			return nil, &clerkStatusError{Status: res.StatusCode, Body: string(body)}
		default:
			return res, nil
		}

		if !retryable || attempt == clerkMaxAttempts {
			if err != nil {
				return nil, err
			}
			return nil, &clerkStatusError{Status: res.StatusCode, Body: string(body)}
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
	var se *clerkStatusError
	if errors.As(err, &se) {
		return fmt.Errorf("%s: %s; %s", what, se.Error(), se.hint())
	}
	return fmt.Errorf("%s: %w", what, err)
}
