package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// failing is a backend that answers 500 to everything and counts.
func failing(t *testing.T, hits *atomic.Int64) string {
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		http.Error(w, "broken", http.StatusInternalServerError)
	}))
}

func shielded(v2, v1 string, methods ...string) router.Route {
	r := route("web", be("v2", 100, v2), be("v1", 0, v1))
	r.Shield = &router.Shield{Stable: "v1", Methods: methods}
	return r
}

// TestShieldRetriesIdempotentOnStable: a GET that fails on the new version
// (5xx or refused) is answered by stable; the failure still counts against
// the new version; a POST is never retried.
func TestShieldRetriesIdempotentOnStable(t *testing.T) {
	var hits atomic.Int64
	v1, v2 := backend(t, "v1"), failing(t, &hits)
	errs := map[string]int{}
	p := &proxy.Proxy{VersionHeader: "X-Version", OnError: func(_, v string) { errs[v]++ }}
	p.SetRoute(shielded(v2, v1, "GET", "HEAD"))

	code, body := send(t, p, "x", "/")
	if code != 200 || !strings.Contains(body, "v1") {
		t.Fatalf("shielded GET = %d %q, want 200 from v1", code, body)
	}
	if c := p.Counts("web", "v2"); c.Errors != 1 || errs["v2"] != 1 || hits.Load() != 1 {
		t.Fatalf("the failure on v2 must still count: %+v, OnError %v, hits %d", c, errs, hits.Load())
	}
	req := httptest.NewRequest("POST", "http://x/", strings.NewReader("pay"))
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if rec.Code != 500 || hits.Load() != 2 {
		t.Fatalf("POST = %d (hits %d), want the canary's 500: a non-idempotent request is never retried", rec.Code, hits.Load())
	}

	// Refused connections are shielded too.
	p.SetRoute(shielded(closedAddr(t), v1, "GET"))
	if code, body := send(t, p, "x", "/"); code != 200 || !strings.Contains(body, "v1") {
		t.Fatalf("shielded GET to a refusing version = %d %q", code, body)
	}
	// Stable failing too is answered as it is: one retry, no loop.
	var stableHits atomic.Int64
	p.SetRoute(shielded(v2, failing(t, &stableHits), "GET"))
	if code, _ := send(t, p, "x", "/"); code != 500 || stableHits.Load() != 1 {
		t.Fatalf("both failing: %d after %d stable hits, want 500 after exactly 1", code, stableHits.Load())
	}
}

// TestOutlierEjection: an instance that fails requests in a row is
// skipped for the back-off; its version's other instance takes the
// requests; after the back-off it is tried again; the last instance of a
// version is never ejected.
func TestOutlierEjection(t *testing.T) {
	var hits atomic.Int64
	good, bad := backend(t, "v1"), failing(t, &hits)
	now := time.Unix(1000, 0)
	var clock atomic.Pointer[time.Time]
	clock.Store(&now)
	p := &proxy.Proxy{Now: func() time.Time { return *clock.Load() }}
	r := route("web", be("v1", 100, good, bad))
	r.Outlier = &router.Outlier{ConsecutiveFailures: 2, BaseEjection: 10, MaxEjection: 60}
	p.SetRoute(r)
	for range 4 { // round-robin: bad gets requests 2 and 4
		send(t, p, "x", "/")
	}
	if hits.Load() != 2 {
		t.Fatalf("bad got %d requests before its ejection, want 2", hits.Load())
	}
	for range 10 {
		if code, _ := send(t, p, "x", "/"); code != 200 {
			t.Fatalf("while bad is ejected got %d, want every request on good", code)
		}
	}
	later := now.Add(11 * time.Second)
	clock.Store(&later)
	for range 6 {
		send(t, p, "x", "/")
	}
	if hits.Load() != 3 {
		t.Fatalf("after the back-off bad got %d requests in all, want one probe (3): a failed probe ejects it again", hits.Load())
	}
	evenLater := later.Add(15 * time.Second) // the second ejection lasts 20s
	clock.Store(&evenLater)
	for range 6 {
		send(t, p, "x", "/")
	}
	if hits.Load() != 3 {
		t.Fatalf("15s into a 20s ejection bad got %d requests, want none more (3): ejections double", hits.Load())
	}

	// A version with one instance keeps it, however it fails.
	var alone atomic.Int64
	r = route("web", be("v1", 100, failing(t, &alone)))
	r.Outlier = &router.Outlier{ConsecutiveFailures: 1, BaseEjection: 10, MaxEjection: 60}
	p.SetRoute(r)
	for range 5 {
		if code, _ := send(t, p, "x", "/"); code != 500 {
			t.Fatalf("the last instance answered %d, want its own 500, never a 503", code)
		}
	}
}

// TestMirrorCopiesWithoutTouchingTheUser: copies of the mirrored share
// reach the mirror version marked as copies; the user's answer comes from
// the weighted version, and a slow mirror never slows it.
func TestMirrorCopiesWithoutTouchingTheUser(t *testing.T) {
	var copies atomic.Int64
	release := make(chan struct{})
	mirror := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get(proxy.MirrorHeader) == "1" {
			copies.Add(1)
		}
		<-release // a hung mirror
	}))
	t.Cleanup(func() { close(release) }) // runs before serve's Close, which waits for the handlers
	v1 := backend(t, "v1")
	p := &proxy.Proxy{VersionHeader: "X-Version"}
	r := route("web", be("v1", 100, v1), be("v2", 0, mirror))
	r.Mirror = &router.Mirror{Version: "v2", Percent: 100}
	p.SetRoute(r)
	for i := range 300 {
		if code, body := send(t, p, "x", "/"); code != 200 || !strings.Contains(body, "v1") {
			t.Fatalf("request %d = %d %q, want v1's answer whatever the mirror does", i, code, body)
		}
	}
	waitFor(t, "the copies to reach the mirror", func() bool { return copies.Load() >= 4 })
	if c := p.Counts("web", "v2"); c.Requests != 0 {
		t.Fatalf("copies counted as v2's requests: %+v", c)
	}
	var dropped int64
	for _, vs := range p.Stats() {
		if vs.Version == "v2" {
			dropped = vs.MirrorDrops
		}
	}
	if dropped == 0 {
		t.Fatal("with the mirror hung and its queue full, copies must be dropped and counted")
	}
}
