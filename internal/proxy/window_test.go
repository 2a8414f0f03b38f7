package proxy_test

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

// clock is a fake clock for Proxy.Now, safe for concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

// newClock returns a clock at a time on a second boundary.
func newClock() *clock { return &clock{now: time.Unix(1_700_000_000, 0)} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// statusBackend answers /500 with 500 and anything else with 200.
func statusBackend(t *testing.T) string {
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/500" {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
}

// sendN sends n requests for path through p.
func sendN(t *testing.T, p *proxy.Proxy, n int, path string) {
	t.Helper()
	for range n {
		send(t, p, "example.com", path)
	}
}

func TestWindowPlacesRequestsInTheirSecond(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	p := &proxy.Proxy{Now: clk.Now}
	p.SetRoute(route("web", be("v1", 100, statusBackend(t))))

	sendN(t, p, 3, "/") // second 0
	sendN(t, p, 1, "/500")
	clk.Add(1500 * time.Millisecond) // second 1
	sendN(t, p, 5, "/")
	clk.Add(2 * time.Second) // second 3
	sendN(t, p, 2, "/500")

	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	tests := []struct {
		name           string
		from, to       time.Time
		requests, errs int64
	}{
		{"second 0", at(0), at(1), 4, 1},
		{"second 1", at(1), at(2), 5, 0},
		{"second 2 had none", at(2), at(3), 0, 0},
		{"second 3", at(3), at(4), 2, 2},
		{"all", at(0), at(4), 11, 3},
		{"a partial bucket counts whole", at(0.5), at(1.5), 9, 1},
		{"to is exclusive", at(0), at(3), 9, 1},
		{"from the zero time", time.Time{}, at(2), 9, 1},
		{"empty range", at(3), at(3), 0, 0},
		{"reversed range", at(4), at(0), 0, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := p.Window("web", "v1", tt.from, tt.to)
			if got.Requests != tt.requests || got.Errors != tt.errs {
				t.Errorf("Window = %d requests, %d errors; want %d, %d", got.Requests, got.Errors, tt.requests, tt.errs)
			}
			if int64(len(got.Latencies)) != got.Requests {
				t.Errorf("%d latencies sampled of %d requests, want all", len(got.Latencies), got.Requests)
			}
		})
	}
	if got := p.Window("web", "never", at(0), at(4)); got.Requests != 0 || got.Latencies != nil {
		t.Errorf("Window of an unknown version = %+v, want zero", got)
	}
}

// TestWindowLatencyFromClock measures latency with the proxy's clock: the
// backend moves the fake clock on by 30ms, so every request takes exactly
// 30ms.
func TestWindowLatencyFromClock(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	p := &proxy.Proxy{Now: clk.Now}
	p.SetRoute(route("web", be("v1", 100, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clk.Add(30 * time.Millisecond)
	})))))
	sendN(t, p, 10, "/")

	got := p.Window("web", "v1", t0, t0.Add(time.Second))
	if got.Requests != 10 || got.Mean != 30 {
		t.Errorf("%d requests, mean %.3f ms; want 10 of exactly 30", got.Requests, got.Mean)
	}
	for _, q := range []float64{got.P50, got.P90, got.P99} {
		if q < 30 || q > 30.3 {
			t.Errorf("quantiles %.3f %.3f %.3f, want 30 ms within 1%%", got.P50, got.P90, got.P99)
			break
		}
	}
	for _, l := range got.Latencies {
		if l != 30 {
			t.Errorf("latencies %v, want 30 each", got.Latencies)
			break
		}
	}
}

func TestWindowQuantilesOfASlowBackend(t *testing.T) {
	p := &proxy.Proxy{}
	p.SetRoute(route("web", be("v1", 100, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(20 * time.Millisecond)
	})))))
	start := time.Now()
	sendN(t, p, 20, "/")

	got := p.Window("web", "v1", start, time.Now().Add(time.Second))
	if got.Requests != 20 || len(got.Latencies) != 20 {
		t.Fatalf("%d requests, %d latencies; want 20 of each", got.Requests, len(got.Latencies))
	}
	if got.P50 < 20 || got.P50 >= 200 || got.P90 < got.P50 || got.P99 < got.P90 {
		t.Errorf("p50 %.2f, p90 %.2f, p99 %.2f ms; want 20 <= p50 < 200, ordered", got.P50, got.P90, got.P99)
	}
	if got.Mean < 20 || got.Mean >= 200 {
		t.Errorf("mean %.2f ms, want 20..200", got.Mean)
	}
}

func TestWindowDropsBucketsOlderThanTheRing(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	p := &proxy.Proxy{Now: clk.Now, WindowBucket: 100 * time.Millisecond, WindowBuckets: 4}
	p.SetRoute(route("web", be("v1", 100, statusBackend(t))))
	all := func() int64 { return p.Window("web", "v1", t0, clk.Now().Add(time.Second)).Requests }

	sendN(t, p, 3, "/") // bucket 0
	clk.Add(300 * time.Millisecond)
	if n := all(); n != 3 {
		t.Errorf("bucket 0 with bucket 3 current: %d requests, want 3", n)
	}
	clk.Add(100 * time.Millisecond) // bucket 4: bucket 0 left the ring, unused
	if n := all(); n != 0 {
		t.Errorf("bucket 0 with bucket 4 current: %d requests, want 0", n)
	}
	sendN(t, p, 2, "/") // bucket 4 takes bucket 0's slot
	clk.Add(time.Minute)
	sendN(t, p, 1, "/")
	if n := all(); n != 1 {
		t.Errorf("a minute later: %d requests, want only the last 1", n)
	}
}

func TestWindowCountsFailures(t *testing.T) {
	var onError sync.Map // version → *atomic.Int64
	p := &proxy.Proxy{
		Logger:  slog.New(slog.DiscardHandler),
		Timeout: 50 * time.Millisecond,
		OnError: func(service, version string) {
			n, _ := onError.LoadOrStore(service+"/"+version, new(atomic.Int64))
			n.(*atomic.Int64).Add(1)
		},
	}
	slow := newBlocking(t, "slow")
	p.SetRoute(route("web",
		be("ok", 100, statusBackend(t)),
		be("refused", 0, closedAddr(t)),
		be("slow", 0, slow.addr)))
	start := time.Now()
	sendN(t, p, 2, "/500")
	sendN(t, p, 3, "/")
	p.SetRoute(route("web", be("refused", 100, closedAddr(t))))
	sendN(t, p, 2, "/")
	p.SetRoute(route("web", be("slow", 100, slow.addr)))
	send(t, p, "example.com", "/") // 504
	<-slow.started
	ctx, cancel := context.WithCancel(context.Background())
	go func() { <-slow.started; cancel() }()
	serveAborting(p, httptest.NewRecorder(), httptest.NewRequestWithContext(ctx, http.MethodGet, "/", nil)) // 499

	end := time.Now().Add(time.Second)
	for _, tt := range []struct {
		version        string
		requests, errs int64
	}{{"ok", 5, 2}, {"refused", 2, 2}, {"slow", 2, 1}} {
		got := p.Window("web", tt.version, start, end)
		if got.Requests != tt.requests || got.Errors != tt.errs {
			t.Errorf("%s: Window = %d requests, %d errors; want %d, %d", tt.version, got.Requests, got.Errors, tt.requests, tt.errs)
		}
		if c := requestsErrors(p.Counts("web", tt.version)); c != (metrics.Counts{Requests: tt.requests, Errors: tt.errs}) {
			t.Errorf("%s: Counts = %+v, want what Window says", tt.version, c)
		}
		var calls int64
		if n, ok := onError.Load("web/" + tt.version); ok {
			calls = n.(*atomic.Int64).Load()
		}
		if calls != tt.errs {
			t.Errorf("%s: OnError called %d times, want once per error, %d", tt.version, calls, tt.errs)
		}
	}
	if got := p.Window("web", "slow", start, end); got.P99 < 50 {
		t.Errorf("slow: p99 %.1f ms, want the 504's latency, at least the 50ms timeout", got.P99)
	}
}

// TestWindowConcurrent records from several goroutines, which also move
// the clock, while others read windows; run with -race. Once the writers are done,
// the windows over the whole ring add up to Counts.
func TestWindowConcurrent(t *testing.T) {
	clk := newClock()
	t0 := clk.Now()
	p := &proxy.Proxy{Now: clk.Now, Logger: slog.New(slog.DiscardHandler)}
	p.SetRoute(route("web", be("v1", 50, statusBackend(t)), be("v2", 50, statusBackend(t))))

	var writers, readers sync.WaitGroup
	stop := make(chan struct{})
	for w := range 4 {
		writers.Go(func() {
			for i := range 100 {
				path := "/"
				if (i+w)%10 == 0 {
					path = "/500"
					clk.Add(100 * time.Millisecond) // 4s in all
				}
				send(t, p, "example.com", path)
			}
		})
	}
	for range 2 {
		readers.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				for _, v := range []string{"v1", "v2"} {
					if s := p.Window("web", v, t0, clk.Now().Add(time.Second)); s.Errors > s.Requests {
						t.Errorf("%s: %d errors of %d requests", v, s.Errors, s.Requests)
					}
				}
			}
		})
	}
	writers.Wait()
	close(stop)
	readers.Wait()

	var total int64
	for _, v := range []string{"v1", "v2"} {
		got := p.Window("web", v, t0, clk.Now().Add(time.Second))
		c := p.Counts("web", v)
		if got.Requests != c.Requests || got.Errors != c.Errors {
			t.Errorf("%s: Window %d requests, %d errors; Counts %+v", v, got.Requests, got.Errors, c)
		}
		total += got.Requests
	}
	if total != 400 {
		t.Errorf("%d requests in the windows, want 400", total)
	}
}

// TestUpgradeFailureCountsOnce pins a request with two outcomes: the
// upstream's 101 reaches modifyResponse, then the proxy fails the switch
// (the upstream chose another protocol) and answers 502. It is one
// request, and one error.
func TestUpgradeFailureCountsOnce(t *testing.T) {
	var errs atomic.Int64
	p := &proxy.Proxy{Logger: slog.New(slog.DiscardHandler), OnError: func(string, string) { errs.Add(1) }}
	p.SetRoute(route("web", be("v1", 100, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "other")
		w.WriteHeader(http.StatusSwitchingProtocols)
	})))))
	start := time.Now()
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)

	if rec.Code != http.StatusBadGateway {
		t.Fatalf("got %d, want 502", rec.Code)
	}
	got := p.Window("web", "v1", start, time.Now().Add(time.Second))
	if got.Requests != 1 || got.Errors != 1 || len(got.Latencies) != 1 {
		t.Errorf("Window = %d requests, %d errors, %d latencies; want 1 of each", got.Requests, got.Errors, len(got.Latencies))
	}
	if c := requestsErrors(p.Counts("web", "v1")); c != (metrics.Counts{Requests: 1, Errors: 1}) {
		t.Errorf("Counts = %+v, want 1 request, 1 error", c)
	}
	if n := errs.Load(); n != 1 {
		t.Errorf("OnError called %d times, want 1", n)
	}
}

// bareTransport answers every request with status, in a response that
// does not carry its request, as a custom Transport may.
type bareTransport int

func (status bareTransport) RoundTrip(*http.Request) (*http.Response, error) {
	return &http.Response{StatusCode: int(status), Header: http.Header{}, Body: http.NoBody}, nil
}

func TestWindowWithoutTheResponsesRequest(t *testing.T) {
	p := &proxy.Proxy{Transport: bareTransport(http.StatusServiceUnavailable)}
	p.SetRoute(route("web", be("v1", 100, "127.0.0.1:1")))
	start := time.Now()
	send(t, p, "example.com", "/")
	got := p.Window("web", "v1", start, time.Now().Add(time.Second))
	if got.Requests != 1 || got.Errors != 1 || len(got.Latencies) != 0 || got.P50 != 0 {
		t.Errorf("Window = %+v; want 1 request, 1 error and no latency, which is unknown", got)
	}
}
