package proxy_test

import (
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// TestDepartedVersionKeptForRetainThenReleased pins the release rule: a
// version that left the route keeps its counts and window for Retain, so
// that the controller can read a rolled-back version's final numbers, and
// is released after that (before, the proxy kept every version it ever
// routed for its whole life).
func TestDepartedVersionKeptForRetainThenReleased(t *testing.T) {
	clk := newClock()
	p := &proxy.Proxy{Now: clk.Now, Retain: time.Minute, Logger: quiet()}
	t.Cleanup(p.Close)
	v1, v2 := backend(t, "v1"), backend(t, "v2")
	p.SetRoute(route("web", be("v1", 100, v1)))
	start := clk.Now()
	for range 3 {
		send(t, p, "x", "/")
	}
	p.SetRoute(route("web", be("v2", 100, v2)))

	want := metrics.Counts{Requests: 3}
	if got := requestsErrors(p.Counts("web", "v1")); got != want {
		t.Fatalf("Counts(v1) right after it left the route = %+v, want %+v", got, want)
	}
	if got := p.Window("web", "v1", start, clk.Now().Add(time.Second)); got.Requests != 3 {
		t.Fatalf("Window(v1) right after it left the route = %d requests, want 3", got.Requests)
	}
	clk.Add(time.Minute - time.Second)
	p.RemoveRoute("other") // a route change sweeps
	if got := requestsErrors(p.Counts("web", "v1")); got != want {
		t.Fatalf("Counts(v1) just before Retain passed = %+v, want %+v", got, want)
	}
	clk.Add(time.Second)
	p.RemoveRoute("other")
	if got := p.Counts("web", "v1"); got != (metrics.Counts{}) {
		t.Errorf("Counts(v1) Retain after it left the route = %+v, want it released (zero)", got)
	}
	if got := p.Window("web", "v1", start, clk.Now()); got.Requests != 0 {
		t.Errorf("Window(v1) Retain after it left the route = %d requests, want released", got.Requests)
	}
	for _, vs := range p.Stats() {
		if vs.Version == "v1" {
			t.Errorf("Stats still reports v1 after its release: %+v", vs)
		}
	}
	if got := requestsErrors(p.Counts("web", "v2")); got != (metrics.Counts{}) {
		t.Errorf("Counts(v2), routed and never asked = %+v, want zero", got)
	}
}

// TestBusyVersionKeptUntilDrainedThenRetain: a version that left the
// route with a request in flight is kept however long the request takes,
// and released Retain after it finished.
func TestBusyVersionKeptUntilDrainedThenRetain(t *testing.T) {
	clk := newClock()
	p := &proxy.Proxy{Now: clk.Now, Retain: time.Minute, Logger: quiet()}
	t.Cleanup(p.Close)
	slow := newBlocking(t, "v1")
	p.SetRoute(route("web", be("v1", 100, slow.addr)))
	done := make(chan int, 1)
	go func() {
		code, _ := send(t, p, "x", "/")
		done <- code
	}()
	<-slow.started
	p.SetRoute(route("web", be("v2", 100, backend(t, "v2"))))
	clk.Add(time.Hour)
	p.RemoveRoute("other")
	if got := p.Counts("web", "v1").Requests; got != 1 {
		t.Fatalf("Counts(v1) with its request still in flight, an hour after it left = %d requests, want 1", got)
	}
	slow.Release()
	if code := <-done; code != http.StatusOK {
		t.Fatalf("the held request got %d, want 200", code)
	}
	if got := p.Window("web", "v1", clk.Now().Add(-time.Second), clk.Now().Add(time.Second)); got.Requests != 1 {
		t.Errorf("Window(v1) after its last request finished = %d requests, want 1", got.Requests)
	}
	p.RemoveRoute("other") // finds it drained: Retain starts now
	clk.Add(time.Minute - time.Second)
	p.RemoveRoute("other")
	if got := p.Counts("web", "v1").Requests; got != 1 {
		t.Fatalf("Counts(v1) within Retain of its drain = %d requests, want 1", got)
	}
	clk.Add(time.Second)
	p.RemoveRoute("other")
	if got := p.Counts("web", "v1"); got != (metrics.Counts{}) {
		t.Errorf("Counts(v1) Retain after its drain = %+v, want released", got)
	}
	if got := p.InFlight(slow.addr); got != 0 {
		t.Errorf("InFlight(%s) = %d, want 0", slow.addr, got)
	}
}

// TestVersionBackAfterReleaseStartsAfresh: a version routed again after
// its release counts from zero; one routed again within Retain continues.
func TestVersionBackAfterReleaseStartsAfresh(t *testing.T) {
	clk := newClock()
	p := &proxy.Proxy{Now: clk.Now, Retain: time.Minute, Logger: quiet()}
	t.Cleanup(p.Close)
	v1, v2 := backend(t, "v1"), backend(t, "v2")
	p.SetRoute(route("web", be("v1", 100, v1)))
	send(t, p, "x", "/")
	p.SetRoute(route("web", be("v2", 100, v2)))
	clk.Add(30 * time.Second)
	p.SetRoute(route("web", be("v1", 100, v1))) // back within Retain
	send(t, p, "x", "/")
	if got := p.Counts("web", "v1").Requests; got != 2 {
		t.Fatalf("Counts(v1) back within Retain = %d requests, want 2 (continued)", got)
	}
	p.SetRoute(route("web", be("v2", 100, v2)))
	clk.Add(time.Minute)
	p.RemoveRoute("other")
	p.SetRoute(route("web", be("v1", 100, v1))) // back after its release
	if got := p.Counts("web", "v1"); got != (metrics.Counts{}) {
		t.Fatalf("Counts(v1) back after its release = %+v, want zero", got)
	}
	send(t, p, "x", "/")
	if got := requestsErrors(p.Counts("web", "v1")); got != (metrics.Counts{Requests: 1}) {
		t.Errorf("Counts(v1) after one request since it came back = %+v, want 1 request", got)
	}
	if got := p.Counts("web", "v1").Users; got != 1 {
		t.Errorf("Users(v1) since it came back = %d, want 1 (a fresh sketch)", got)
	}
}

// TestCloseStopsWorkers: Close stops the mirror workers and the janitor
// and waits for them (before, mirror workers never exited).
func TestCloseStopsWorkers(t *testing.T) {
	mirrored := make(chan struct{}, 10)
	v1 := backend(t, "v1")
	v2 := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(proxy.MirrorHeader) != "" {
			mirrored <- struct{}{}
		}
	}))
	before := runtime.NumGoroutine()

	p := &proxy.Proxy{Logger: quiet()}
	r := route("web", be("v1", 100, v1), be("v2", 0, v2))
	r.Mirror = &router.Mirror{Version: "v2", Percent: 100}
	p.SetRoute(r)
	send(t, p, "x", "/")
	<-mirrored
	if n := runtime.NumGoroutine(); n < before+5 {
		t.Fatalf("goroutines with mirroring and the janitor running = %d, want at least %d", n, before+5)
	}
	p.Close()
	deadline := time.Now().Add(10 * time.Second)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines after Close = %d, want at most %d as before the proxy:\n%s",
				runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		<-tick.C
	}
	// The proxy still forwards after Close, without copies.
	if code, body := send(t, p, "x", "/"); code != http.StatusOK || body != "v1" {
		t.Errorf("request after Close = %d %q, want 200 v1", code, body)
	}
	p.Close() // again: nothing
}

// TestReleaseRacesRequests routes a stable version and a new label every
// round while requests run, with the clock jumping past Retain at each
// change, so that sweeps release the departed labels under load (run
// with -race). The stable version's record is never lost or made twice:
// its count matches the answers it gave.
func TestReleaseRacesRequests(t *testing.T) {
	clk := newClock()
	p := &proxy.Proxy{Now: clk.Now, Retain: time.Second, Logger: quiet()}
	t.Cleanup(p.Close)
	stable, churn := backend(t, "stable"), backend(t, "churn")
	url, client := newServer(t, p)
	p.SetRoute(route("web", be("stable", 50, stable), be("c0", 50, churn)))

	var fromStable atomic.Int64
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body, err := get(client, url)
				if err != nil || code != http.StatusOK {
					t.Errorf("request: %d %v", code, err)
					return
				}
				if body == "stable" {
					fromStable.Add(1)
				}
			}
		})
	}
	rounds := 200
	for i := 1; i <= rounds; i++ {
		p.SetRoute(route("web", be("stable", 50, stable), be("c"+strconv.Itoa(i), 50, churn)))
		clk.Add(time.Second)
	}
	close(stop)
	wg.Wait()
	if got, want := p.Counts("web", "stable").Requests, fromStable.Load(); got != want {
		t.Errorf("Counts(stable) = %d requests, want %d: its record was lost or made twice under the sweeps", got, want)
	}
	clk.Add(time.Second)
	p.RemoveRoute("other")
	clk.Add(time.Second)
	p.RemoveRoute("other")
	var kept []string
	for _, vs := range p.Stats() {
		kept = append(kept, vs.Version)
	}
	if len(kept) != 2 || kept[0] != "c"+strconv.Itoa(rounds) || kept[1] != "stable" {
		t.Errorf("versions kept after the churn drained = %v, want [c%d stable]", kept, rounds)
	}
}
