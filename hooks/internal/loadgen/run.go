package loadgen

import (
	"context"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// NewClient is an HTTP client that keeps a connection per sender alive, as
// Svix's delivery workers do.
func NewClient(senders int) *http.Client {
	return &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        2 * senders,
			MaxIdleConnsPerHost: 2 * senders,
			IdleConnTimeout:     30 * time.Second,
			DisableCompression:  true,
		},
	}
}

// Answer is what one request got.
type Answer struct {
	Index   int
	Status  int // 0 when the request failed
	Body    []byte
	Err     error
	Latency time.Duration // until the answer, or the failure
}

// OK reports a 2xx.
func (a Answer) OK() bool { return a.Status >= 200 && a.Status < 300 }

// Result sums up one run.
type Result struct {
	Requests  int
	Failed    int // transport errors and non-2xx answers
	Elapsed   time.Duration
	Latencies []time.Duration // of 2xx answers
}

// Rate is 2xx answers per second.
func (r Result) Rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(len(r.Latencies)) / r.Elapsed.Seconds()
}

// Percentile is the p-th percentile (0..100) of the 2xx latencies.
func (r Result) Percentile(p float64) time.Duration {
	return Percentile(r.Latencies, p)
}

// Percentile is the nearest-rank p-th percentile (0..100) of ds.
func Percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	i := int(float64(len(s))*p/100+0.5) - 1
	return s[max(0, min(i, len(s)-1))]
}

// Merge pools several runs of the same kind.
func Merge(rs ...Result) Result {
	var out Result
	for _, r := range rs {
		out.Requests += r.Requests
		out.Failed += r.Failed
		out.Elapsed += r.Elapsed
		out.Latencies = append(out.Latencies, r.Latencies...)
	}
	return out
}

// Run sends n requests from the given number of concurrent senders; build
// makes request i. Each answer goes to onAnswer (when not nil) from the
// sender's goroutine. Run stops early when ctx ends.
func Run(ctx context.Context, client *http.Client, senders, n int, build func(i int) (*http.Request, error), onAnswer func(Answer)) Result {
	var (
		next    atomic.Int64
		mu      sync.Mutex
		res     = Result{Latencies: make([]time.Duration, 0, n)}
		wg      sync.WaitGroup
		started = time.Now()
	)
	for range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var local []time.Duration
			failed, sent := 0, 0
			for ctx.Err() == nil {
				i := int(next.Add(1) - 1)
				if i >= n {
					break
				}
				a := send(ctx, client, i, build)
				sent++
				if a.OK() {
					local = append(local, a.Latency)
				} else {
					failed++
				}
				if onAnswer != nil {
					onAnswer(a)
				}
			}
			mu.Lock()
			res.Requests += sent
			res.Failed += failed
			res.Latencies = append(res.Latencies, local...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.Elapsed = time.Since(started)
	return res
}

func send(ctx context.Context, client *http.Client, i int, build func(int) (*http.Request, error)) Answer {
	a := Answer{Index: i}
	req, err := build(i)
	if err != nil {
		a.Err = err
		return a
	}
	start := time.Now()
	res, err := client.Do(req.WithContext(ctx))
	if err != nil {
		a.Err, a.Latency = err, time.Since(start)
		return a
	}
	a.Body, a.Err = io.ReadAll(res.Body)
	res.Body.Close()
	a.Latency = time.Since(start)
	if a.Err == nil {
		a.Status = res.StatusCode
	}
	return a
}
