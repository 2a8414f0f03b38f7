package proxy

import (
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"runtime"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// TestMemoryReturnsAfterVersionsComeAndGo routes 1000 versions in turn,
// each taking requests from a few users over a few seconds of its window,
// then moves the route on and lets the clock pass Retain. The proxy's
// maps end empty and the heap returns near where it started; before, it
// kept every version it ever routed (here ~100 KiB each: window buckets,
// user sketches) for its whole life.
func TestMemoryReturnsAfterVersionsComeAndGo(t *testing.T) {
	if testing.Short() {
		t.Skip("routes 1000 versions")
	}
	var addrs [2]string
	for i := range addrs {
		srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
		t.Cleanup(srv.Close)
		addrs[i] = srv.Listener.Addr().String()
	}
	var mu sync.Mutex
	now := time.Unix(1_700_000_000, 0)
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	p := &Proxy{Now: clock, Retain: time.Minute, Logger: slog.New(slog.DiscardHandler)}
	t.Cleanup(p.Close)

	const versions, requests = 1000, 3
	serveOne := func(i int) {
		p.SetRoute(router.Route{Service: "web", Backends: []router.Backend{
			{Version: fmt.Sprintf("v%d", i), Weight: 100, Addrs: []string{addrs[i%2]}}, // addresses leave and come back
		}})
		for k := range requests {
			req := httptest.NewRequest(http.MethodGet, "/", nil)
			req.RemoteAddr = fmt.Sprintf("10.0.%d.%d:1234", i%256, k)
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK {
				t.Fatalf("v%d: request got %d", i, rec.Code)
			}
			advance(time.Second)
		}
	}
	serveOne(versions) // the transport's connections and the janitor, before measuring
	p.RemoveRoute("web")
	advance(2 * p.retain())
	p.RemoveRoute("web")
	p.getShared().transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	start := heap()

	var peak uint64
	for i := range versions {
		serveOne(i)
		if i == versions/2 {
			peak = heap()
		}
	}
	kept := 0
	p.counters.Range(func(any, any) bool { kept++; return true })
	t.Logf("%d versions routed; %d kept within Retain at the end", versions, kept)

	p.RemoveRoute("web") // the last version leaves; all drained
	advance(p.retain())
	p.RemoveRoute("web")
	advance(p.retain())
	p.RemoveRoute("web")
	for name, m := range map[string]*sync.Map{"counters": &p.counters, "inflight": &p.inflight} {
		m.Range(func(k, _ any) bool {
			t.Errorf("%s still holds %v after every version left and drained", name, k)
			return true
		})
	}
	p.getShared().transport.(interface{ CloseIdleConnections() }).CloseIdleConnections()
	end := heap()
	runtime.KeepAlive(p) // measured with the proxy alive, as in a long-lived process
	t.Logf("heap in use: %d bytes at the start, %d half way (the last ~%d versions kept), %d at the end",
		start, peak, kept, end)
	// What 1000 versions would hold if kept: at least 1000 × 3 window
	// buckets of ~24 KiB. The end must be nowhere near.
	if limit := start + 4<<20; end > limit {
		t.Errorf("heap in use after 1000 versions came and went = %d bytes, started at %d: want at most %d", end, start, limit)
	}
}

// heap returns the bytes of heap in use after a full collection.
func heap() uint64 {
	runtime.GC()
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapInuse
}

// TestSweepKeepsSharedAddress: the sweep after a change looks only at the
// changed route's addresses, and keeps one another route still names (its
// count of naming backends), releasing it once the last route leaves it.
func TestSweepKeepsSharedAddress(t *testing.T) {
	p := &Proxy{Logger: slog.New(slog.DiscardHandler)}
	t.Cleanup(p.Close)
	shared, own := "127.0.0.1:1", "127.0.0.1:2"
	p.SetRoutes([]router.Route{
		{Service: "a", Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{shared}}}},
		{Service: "b", Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{shared}}}},
	})
	has := func(addr string) bool { _, ok := p.inflight.Load(addr); return ok }
	p.SetRoute(router.Route{Service: "a", Backends: []router.Backend{{Version: "v2", Weight: 100, Addrs: []string{own}}}})
	if !has(shared) || !has(own) {
		t.Fatalf("after a left %s for %s: shared kept %v, own made %v; want both", shared, own, has(shared), has(own))
	}
	p.RemoveRoute("b")
	if has(shared) {
		t.Errorf("%s still held after the last route naming it left", shared)
	}
	if p.life.refs[own] != 1 || len(p.life.refs) != 1 {
		t.Errorf("address counts = %v, want only %s: 1", p.life.refs, own)
	}
}

// TestReplacingMatchesNewTable: a table changed route by route (replacing)
// indexes its routes as one built afresh (newTable) does.
func TestReplacingMatchesNewTable(t *testing.T) {
	p := &Proxy{Logger: slog.New(slog.DiscardHandler)}
	t.Cleanup(p.Close)
	rng := rand.New(rand.NewPCG(1, 2))
	var tb *table
	for i := range 2000 {
		svc := fmt.Sprintf("s%d", rng.IntN(60))
		if i%7 == 0 && tb != nil {
			tb = tb.without(svc)
			continue
		}
		host := []string{"", "", "a.example", "b.example"}[rng.IntN(4)]
		prefix := []string{"/", "/x/", "/x/y/", ""}[rng.IntN(4)]
		rt := p.compile(router.Route{Service: svc, Host: host, PathPrefix: prefix,
			Backends: []router.Backend{{Version: "v1", Weight: 100, Addrs: []string{"127.0.0.1:1"}}}})
		tb = tb.replacing(rt)
		want := newTable(maps.Clone(tb.services))
		if !slices.Equal(tb.anyHost, want.anyHost) || !maps.EqualFunc(tb.byHost, want.byHost, slices.Equal) {
			t.Fatalf("change %d (%s host %q prefix %q): replacing gave %v / %v, newTable %v / %v",
				i, svc, host, prefix, tb.anyHost, tb.byHost, want.anyHost, want.byHost)
		}
	}
}
