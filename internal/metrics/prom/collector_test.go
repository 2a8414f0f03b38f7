package prom_test

import (
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics/prom"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// clock is a fake clock for Proxy.Now that backends move forward, so that
// latencies are exact.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

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

// backend starts a real server that takes d on clk and answers status.
func backend(t *testing.T, clk *clock, d time.Duration, status int) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		clk.Add(d)
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// refused returns an address where nothing listens.
func refused(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// send serves n requests through p.
func send(p *proxy.Proxy, n int) {
	for range n {
		p.ServeHTTP(httptest.NewRecorder(), httptest.NewRequest(http.MethodGet, "http://example.com/", nil))
	}
}

// newProxy returns a proxy with web's v1 on an instance that answers 200
// in 30ms and one that answers 500 in 3ms, and v2 on an address that
// refuses connections, after 4 requests to v1 (two each) and 1 to v2.
func newProxy(t *testing.T) (p *proxy.Proxy, ok, failing, gone string) {
	t.Helper()
	clk := &clock{now: time.Unix(1_700_000_000, 0)}
	ok, failing, gone = backend(t, clk, 30*time.Millisecond, 200), backend(t, clk, 3*time.Millisecond, 500), refused(t)
	p = &proxy.Proxy{Now: clk.Now, Logger: slog.New(slog.DiscardHandler)}
	p.SetRoute(router.Route{Service: "web", Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{ok, failing}}}})
	send(p, 4)
	p.SetRoute(router.Route{Service: "web", Backends: []router.Backend{
		{Version: "v1", Weight: 0, Addrs: []string{ok, failing}}, {Version: "v2", Weight: 100, Addrs: []string{gone}}}})
	send(p, 1)
	return p, ok, failing, gone
}

// requests is the expected bluejay_requests_total of one instance: counts
// of the classes named, zero for the others.
func requests(version, addr string, counts map[string]int) string {
	var b strings.Builder
	for _, code := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "error", "canceled", "grpc"} {
		fmt.Fprintf(&b, "bluejay_requests_total{addr=%q,code=%q,service=\"web\",version=%q} %d\n", addr, code, version, counts[code])
	}
	return b.String()
}

func TestCollectorRequestsByInstanceAndClass(t *testing.T) {
	p, ok, failing, gone := newProxy(t)
	want := `# HELP bluejay_requests_total Requests the proxy forwarded to an instance that finished, by the class of the answer: 1xx to 5xx from the instance, error for the proxy's own 502 and 504, canceled for a client that went away (499), grpc for a gRPC call that ended with one of its service's error codes.
# TYPE bluejay_requests_total counter
` + requests("v1", ok, map[string]int{"2xx": 2}) + requests("v1", failing, map[string]int{"5xx": 2}) +
		requests("v2", gone, map[string]int{"error": 1}) + `# HELP bluejay_inflight_requests Requests forwarded to the instance's address that have not finished.
# TYPE bluejay_inflight_requests gauge
bluejay_inflight_requests{addr="` + ok + `",service="web",version="v1"} 0
bluejay_inflight_requests{addr="` + failing + `",service="web",version="v1"} 0
bluejay_inflight_requests{addr="` + gone + `",service="web",version="v2"} 0
`
	c := &prom.Collector{Proxy: p}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "bluejay_requests_total", "bluejay_inflight_requests"); err != nil {
		t.Error(err)
	}
}

func TestCollectorLatencyHistogram(t *testing.T) {
	p, _, _, _ := newProxy(t)
	// v1: two requests of 30ms and two of 3ms. v2: a refused connection,
	// which takes no time on the fake clock.
	want := `# HELP bluejay_request_duration_seconds Time from the proxy taking a request to the instance's response headers, or to its failure; a gRPC call's to its end.
# TYPE bluejay_request_duration_seconds histogram
` + histogram("v1", []int{0, 0, 2, 2, 2, 4, 4, 4, 4, 4, 4, 4, 4}, 4, 0.066) +
		histogram("v2", []int{1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1}, 1, 0)
	c := &prom.Collector{Proxy: p}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "bluejay_request_duration_seconds"); err != nil {
		t.Error(err)
	}
}

// histogram is the expected bluejay_request_duration_seconds of a version
// with the cumulative counts of proxy.LatencyBounds.
func histogram(version string, cum []int, count int, sum float64) string {
	var b strings.Builder
	for i, le := range proxy.LatencyBounds() {
		fmt.Fprintf(&b, "bluejay_request_duration_seconds_bucket{service=\"web\",version=%q,le=\"%g\"} %d\n", version, le, cum[i])
	}
	fmt.Fprintf(&b, "bluejay_request_duration_seconds_bucket{service=\"web\",version=%q,le=\"+Inf\"} %d\n", version, count)
	fmt.Fprintf(&b, "bluejay_request_duration_seconds_sum{service=\"web\",version=%q} %g\n", version, sum)
	fmt.Fprintf(&b, "bluejay_request_duration_seconds_count{service=\"web\",version=%q} %d\n", version, count)
	return b.String()
}

func TestCollectorFeatureHooksStartAtZero(t *testing.T) {
	p, _, _, _ := newProxy(t)
	c := &prom.Collector{Proxy: p}
	for _, name := range []string{"bluejay_ejections_total", "bluejay_mirror_dropped_total", "bluejay_shield_retries_total"} {
		if n := testutil.CollectAndCount(c, name); n != 2 {
			t.Errorf("%s: %d series, want one per version (2)", name, n)
		}
	}
	want := `# HELP bluejay_shield_retries_total Requests that failed on the version and that the shield retried on stable.
# TYPE bluejay_shield_retries_total counter
bluejay_shield_retries_total{service="web",version="v1"} 0
bluejay_shield_retries_total{service="web",version="v2"} 0
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "bluejay_shield_retries_total"); err != nil {
		t.Error(err)
	}
}

func TestCollectorRollouts(t *testing.T) {
	c := &prom.Collector{Rollouts: prom.RolloutsFunc(func() []prom.RolloutState {
		return []prom.RolloutState{
			{Service: "api", ID: 7, Phase: engine.PhaseProgressing, Weights: map[string]int{"v1": 80, "v2": 20}},
			{Service: "web"}, // never deployed
		}
	})}
	var phases strings.Builder
	for _, p := range []string{"Aborted", "Completed", "Deploying", "Failed", "Paused", "Preview", "Progressing", "RolledBack", "Smoke", "Watching"} {
		fmt.Fprintf(&phases, "bluejay_rollout_phase{phase=%q,service=\"api\"} %d\n", p, map[bool]int{true: 1}[p == "Progressing"])
		fmt.Fprintf(&phases, "bluejay_rollout_phase{phase=%q,service=\"web\"} 0\n", p)
	}
	want := `# HELP bluejay_rollout_phase 1 for the phase of the service's latest rollout, 0 for the other phases.
# TYPE bluejay_rollout_phase gauge
` + phases.String() + `# HELP bluejay_rollout_id ID of the service's latest rollout; 0 before its first.
# TYPE bluejay_rollout_id gauge
bluejay_rollout_id{service="api"} 7
bluejay_rollout_id{service="web"} 0
# HELP bluejay_traffic_weight Live share of the service's new requests that goes to the version, in percent.
# TYPE bluejay_traffic_weight gauge
bluejay_traffic_weight{service="api",version="v1"} 80
bluejay_traffic_weight{service="api",version="v2"} 20
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "bluejay_rollout_phase", "bluejay_rollout_id", "bluejay_traffic_weight"); err != nil {
		t.Error(err)
	}
}

func TestCollectorReportsAPhaseItDoesNotKnow(t *testing.T) {
	c := &prom.Collector{Rollouts: prom.RolloutsFunc(func() []prom.RolloutState {
		return []prom.RolloutState{{Service: "web", ID: 1, Phase: "Mirroring"}}
	})}
	if n := testutil.CollectAndCount(c, "bluejay_rollout_phase"); n != 11 {
		t.Errorf("%d phase series, want the 10 known and the current one", n)
	}
}

func TestCollectorLint(t *testing.T) {
	p, _, _, _ := newProxy(t)
	c := &prom.Collector{Proxy: p, Rollouts: prom.RolloutsFunc(func() []prom.RolloutState {
		return []prom.RolloutState{{Service: "web", ID: 1, Phase: engine.PhaseCompleted, Weights: map[string]int{"v2": 100}}}
	})}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}

// badSource reports a version whose label is not UTF-8.
type badSource struct{}

func (badSource) Stats() []proxy.VersionStats {
	return []proxy.VersionStats{
		{Service: "web", Version: "v\xff", Latency: proxy.Histogram{Bounds: []float64{1}, Counts: []uint64{0}}},
		{Service: "web", Version: "v2", Latency: proxy.Histogram{Bounds: []float64{1}, Counts: []uint64{0}}},
	}
}

func TestHandlerServesRegistry(t *testing.T) {
	p, ok, _, _ := newProxy(t)
	srv := httptest.NewServer(prom.Handler(prom.NewRegistry(&prom.Collector{Proxy: p})))
	defer srv.Close()
	body := scrape(t, srv.URL)
	for _, s := range []string{
		`bluejay_requests_total{addr="` + ok + `",code="2xx",service="web",version="v1"} 2`,
		`bluejay_request_duration_seconds_count{service="web",version="v1"} 4`,
		"go_goroutines ", "process_cpu_seconds_total ",
	} {
		if !strings.Contains(body, s) {
			t.Errorf("scrape lacks %s", s)
		}
	}
}

// TestHandlerSurvivesABadLabel pins that a label the exposition cannot
// carry fails its series, not the scrape or the process (the Must
// constructors panic in the registry's goroutine).
func TestHandlerSurvivesABadLabel(t *testing.T) {
	srv := httptest.NewServer(prom.Handler(prom.NewRegistry(&prom.Collector{Proxy: badSource{}})))
	defer srv.Close()
	if body := scrape(t, srv.URL); !strings.Contains(body, `bluejay_shield_retries_total{service="web",version="v2"} 0`) {
		t.Errorf("the good version's series are missing:\n%s", body)
	}
}

func scrape(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusOK {
		t.Fatalf("scrape: %s\n%s", res.Status, b)
	}
	return string(b)
}

// restarts is a Watch that restarted n times.
type restarts int64

func (n restarts) WatchRestarts() int64 { return int64(n) }

func TestCollectorWatchRestarts(t *testing.T) {
	if n := testutil.CollectAndCount(&prom.Collector{}, "bluejay_proxy_watch_restarts_total"); n != 0 {
		t.Errorf("without a watch: %d series, want none", n)
	}
	c := &prom.Collector{Watch: restarts(3)}
	want := `# HELP bluejay_proxy_watch_restarts_total Times the proxy started its watch of the store's routing table again after the watch ended (etcd ends it when its member loses the leader); while it is down, route changes arrive by the 5s poll.
# TYPE bluejay_proxy_watch_restarts_total counter
bluejay_proxy_watch_restarts_total 3
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "bluejay_proxy_watch_restarts_total"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(c)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Errorf("lint: %s: %s", p.Metric, p.Text)
	}
}
