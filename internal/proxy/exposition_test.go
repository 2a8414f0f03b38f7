package proxy_test

import (
	"context"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

// codes builds an InstanceStats.Codes from class counts.
func codes(counts map[proxy.Class]int64) [proxy.NumClasses]int64 {
	var out [proxy.NumClasses]int64
	for c, n := range counts {
		out[c] = n
	}
	return out
}

// answering starts a backend that answers every request with status.
func answering(t *testing.T, status int) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if status/100 == 3 {
			w.Header().Set("Location", "/elsewhere")
		}
		w.WriteHeader(status)
	}))
}

// findVersion returns the stats of the service's version, failing the
// test if Stats has none.
func findVersion(t *testing.T, stats []proxy.VersionStats, service, version string) proxy.VersionStats {
	t.Helper()
	for _, vs := range stats {
		if vs.Service == service && vs.Version == version {
			return vs
		}
	}
	t.Fatalf("Stats has no %s/%s: %+v", service, version, stats)
	return proxy.VersionStats{}
}

func TestStatsCountsEachInstanceByClass(t *testing.T) {
	p := &proxy.Proxy{Logger: quiet()}
	ok, moved, missing, broken := answering(t, 200), answering(t, 302), answering(t, 404), answering(t, 500)
	refused := closedAddr(t)
	addrs := []string{ok, moved, missing, broken, refused}
	p.SetRoute(route("web", be("v1", 100, addrs...)))

	// Round-robin: each instance takes two requests, in turn.
	for range 2 * len(addrs) {
		send(t, p, "example.com", "/")
	}

	vs := findVersion(t, p.Stats(), "web", "v1")
	want := []proxy.InstanceStats{
		{Addr: ok, Codes: codes(map[proxy.Class]int64{proxy.Class2xx: 2})},
		{Addr: moved, Codes: codes(map[proxy.Class]int64{proxy.Class3xx: 2})},
		{Addr: missing, Codes: codes(map[proxy.Class]int64{proxy.Class4xx: 2})},
		{Addr: broken, Codes: codes(map[proxy.Class]int64{proxy.Class5xx: 2})},
		{Addr: refused, Codes: codes(map[proxy.Class]int64{proxy.ClassError: 2})},
	}
	slices.SortFunc(want, func(a, b proxy.InstanceStats) int { return strings.Compare(a.Addr, b.Addr) })
	if !slices.Equal(vs.Instances, want) {
		t.Errorf("instances:\n got %+v\nwant %+v", vs.Instances, want)
	}
	if vs.Latency.Count != uint64(2*len(addrs)) {
		t.Errorf("latency count = %d, want %d: every finished request", vs.Latency.Count, 2*len(addrs))
	}
	if vs.Ejections != 0 || vs.MirrorDrops != 0 || vs.ShieldRetries != 0 {
		t.Errorf("hooks = %d, %d, %d, want zero until their features exist", vs.Ejections, vs.MirrorDrops, vs.ShieldRetries)
	}
}

func TestStatsTimeoutIsErrorClass(t *testing.T) {
	p := &proxy.Proxy{Logger: quiet(), Timeout: 20 * time.Millisecond}
	slow := newBlocking(t, "slow")
	p.SetRoute(route("web", be("v1", 100, slow.addr)))
	if code, _ := send(t, p, "example.com", "/"); code != http.StatusGatewayTimeout {
		t.Fatalf("got %d, want 504", code)
	}
	got := findVersion(t, p.Stats(), "web", "v1").Instances[0].Codes
	if want := codes(map[proxy.Class]int64{proxy.ClassError: 1}); got != want {
		t.Errorf("codes = %v, want %v: a 504 of the proxy is an error", got, want)
	}
}

func TestStatsClientGoneIsCanceledAndInFlightCounts(t *testing.T) {
	netHTTPOnly(t, "fasthttp does not see a client leave while the upstream is silent: the request is "+
		"counted when the upstream answers, not as 499")
	p := &proxy.Proxy{Logger: quiet()}
	slow := newBlocking(t, "slow")
	p.SetRoute(route("web", be("v1", 100, slow.addr)))
	url, client := newServer(t, p)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		res, err := client.Do(req)
		if err == nil {
			res.Body.Close()
		}
		done <- err
	}()
	<-slow.started
	if in := findVersion(t, p.Stats(), "web", "v1").Instances[0]; in.InFlight != 1 {
		t.Errorf("in flight = %d while the request is held, want 1", in.InFlight)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the canceled request succeeded")
	}

	want := codes(map[proxy.Class]int64{proxy.ClassCanceled: 1})
	waitFor(t, "the canceled request to count", func() bool {
		in := findVersion(t, p.Stats(), "web", "v1").Instances[0]
		return in.Codes == want && in.InFlight == 0
	})
}

func TestStatsLatencyHistogram(t *testing.T) {
	// The backend takes as long as the path says, on the proxy's clock,
	// so that each latency is exact.
	clock := newClock()
	p := &proxy.Proxy{Logger: quiet(), Now: clock.Now}
	p.SetRoute(route("web", be("v1", 100, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d, err := time.ParseDuration(strings.TrimPrefix(r.URL.Path, "/"))
		if err != nil {
			t.Errorf("backend: %v", err)
		}
		clock.Add(d)
	})))))
	// 1ms is a bound: a bucket holds the latencies up to and including it.
	for _, d := range []string{"500us", "1ms", "3ms", "30ms", "2s", "20s"} {
		if code, _ := send(t, p, "example.com", "/"+d); code != http.StatusOK {
			t.Fatalf("%s: status %d", d, code)
		}
	}

	h := findVersion(t, p.Stats(), "web", "v1").Latency
	if want := []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10}; !slices.Equal(h.Bounds, want) {
		t.Errorf("bounds = %v, want %v", h.Bounds, want)
	}
	if want := []uint64{2, 2, 3, 3, 3, 4, 4, 4, 4, 4, 5, 5, 5}; !slices.Equal(h.Counts, want) {
		t.Errorf("cumulative counts = %v, want %v", h.Counts, want)
	}
	if h.Count != 6 {
		t.Errorf("count = %d, want 6 (20s is above every bound)", h.Count)
	}
	if want := 22.0345; math.Abs(h.Sum-want) > 1e-9 {
		t.Errorf("sum = %v, want %v", h.Sum, want)
	}
}

func TestStatsLatencyOfARealDelay(t *testing.T) {
	p := &proxy.Proxy{Logger: quiet()}
	p.SetRoute(route("web", be("v1", 100, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(30 * time.Millisecond) // the delay under test, not a wait for a condition
	})))))
	send(t, p, "example.com", "/")

	h := findVersion(t, p.Stats(), "web", "v1").Latency
	// Only the lower bound is certain: the request took at least 30ms.
	if i := slices.Index(h.Bounds, .025); h.Counts[i] != 0 {
		t.Errorf("%d requests at most 25ms, want 0: the backend took 30ms (%v)", h.Counts[i], h.Counts)
	}
	if h.Count != 1 || h.Sum < .030 {
		t.Errorf("count %d, sum %vs; want 1 request of at least 0.03s", h.Count, h.Sum)
	}
}

func TestStatsForgetsInstancesThatLeft(t *testing.T) {
	clock := newClock()
	p := &proxy.Proxy{Logger: quiet(), Now: clock.Now}
	a, b := backend(t, "a"), backend(t, "b")
	p.SetRoute(route("web", be("v1", 100, a)))
	send(t, p, "example.com", "/")
	p.SetRoute(route("web", be("v2", 100, b)))
	send(t, p, "example.com", "/")

	versions := func() []string {
		var out []string
		for _, vs := range p.Stats() {
			for _, in := range vs.Instances {
				out = append(out, vs.Version+"@"+in.Addr)
			}
		}
		return out
	}
	if got, want := versions(), []string{"v1@" + a, "v2@" + b}; !slices.Equal(got, want) {
		t.Errorf("right after v1 left: %v, want %v: a scraper still reads its last counts", got, want)
	}
	clock.Add(11 * time.Minute)
	if got, want := versions(), []string{"v2@" + b}; !slices.Equal(got, want) {
		t.Errorf("11 minutes after v1 left: %v, want %v", got, want)
	}

	// Back in the route, the instance continues its counts.
	p.SetRoute(route("web", be("v1", 100, a)))
	send(t, p, "example.com", "/")
	in := findVersion(t, p.Stats(), "web", "v1").Instances
	if want := codes(map[proxy.Class]int64{proxy.Class2xx: 2}); len(in) != 1 || in[0].Codes != want {
		t.Errorf("v1 back: %+v, want %s with 2 2xx", in, a)
	}
}

func TestClassString(t *testing.T) {
	var got []string
	for c := range proxy.NumClasses {
		got = append(got, proxy.Class(c).String())
	}
	if want := []string{"1xx", "2xx", "3xx", "4xx", "5xx", "error", "canceled", "grpc"}; !slices.Equal(got, want) {
		t.Errorf("classes = %v, want %v", got, want)
	}
}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// TestStatsUpgradeFailureCountsBothAnswers pins the one request that
// counts in two classes: the upstream's 101 reaches modifyResponse, then
// the proxy fails the switch and answers 502.
func TestStatsUpgradeFailureCountsBothAnswers(t *testing.T) {
	p := &proxy.Proxy{Logger: quiet()}
	p.SetRoute(route("web", be("v1", 100, serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "Upgrade")
		w.Header().Set("Upgrade", "other")
		w.WriteHeader(http.StatusSwitchingProtocols)
	})))))
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("Connection", "Upgrade")
	req.Header.Set("Upgrade", "websocket")
	p.ServeHTTP(httptest.NewRecorder(), req)

	vs := findVersion(t, p.Stats(), "web", "v1")
	if want := codes(map[proxy.Class]int64{proxy.Class1xx: 1, proxy.ClassError: 1}); vs.Instances[0].Codes != want {
		t.Errorf("codes = %v, want %v", vs.Instances[0].Codes, want)
	}
	if vs.Latency.Count != 1 {
		t.Errorf("latency count = %d, want 1: one request", vs.Latency.Count)
	}
}
