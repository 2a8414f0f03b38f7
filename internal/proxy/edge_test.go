package proxy_test

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// TestMaintenanceUnderLoad switches a service into maintenance and back
// while clients keep sending: every answer is the backend's 200 or the
// maintenance 503 with its page and Retry-After, none other, and the
// version counts no error.
func TestMaintenanceUnderLoad(t *testing.T) {
	p := &proxy.Proxy{}
	t.Cleanup(p.Close)
	rt := route("web", be("v1", 100, backend(t, "v1")))
	p.SetRoute(rt)
	url, c := newServer(t, p)

	var ok, maint, bad atomic.Int64
	var firstBad atomic.Value
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-stop:
					return
				default:
				}
				res, err := c.Get(url + "/")
				if err != nil {
					bad.Add(1)
					firstBad.CompareAndSwap(nil, err.Error())
					continue
				}
				var body [64]byte
				n, _ := res.Body.Read(body[:])
				res.Body.Close()
				switch {
				case res.StatusCode == 200 && string(body[:n]) == "v1":
					ok.Add(1)
				case res.StatusCode == 503 && res.Header.Get("Retry-After") == "30" &&
					string(body[:n]) == "back soon\n":
					maint.Add(1)
				default:
					bad.Add(1)
					firstBad.CompareAndSwap(nil, fmt.Sprintf("%d %q", res.StatusCode, body[:n]))
				}
			}
		}()
	}
	waitFor(t, "traffic before maintenance", func() bool { return ok.Load() > 50 })
	on := rt
	on.Maintenance = &router.Maintenance{Message: "back soon", RetryAfter: 30, Since: time.Now()}
	p.SetRoute(on)
	waitFor(t, "maintenance answers", func() bool { return maint.Load() > 50 })
	p.SetRoute(rt)
	before := ok.Load()
	waitFor(t, "traffic after maintenance", func() bool { return ok.Load() > before+50 })
	close(stop)
	wg.Wait()
	if bad.Load() != 0 {
		t.Fatalf("%d requests failed otherwise than by maintenance; first: %v", bad.Load(), firstBad.Load())
	}
	if got := p.Counts("web", "v1"); got.Errors != 0 || got.Requests != ok.Load() {
		t.Fatalf("v1 counted %+v, want %d requests and no error (maintenance 503s are not the version's)", got, ok.Load())
	}
}

// TestMaintenancePage serves the operator's HTML page.
func TestMaintenancePage(t *testing.T) {
	p := &proxy.Proxy{}
	t.Cleanup(p.Close)
	rt := route("web", be("v1", 100, backend(t, "v1")))
	rt.Maintenance = &router.Maintenance{Page: "<h1>later</h1>"}
	p.SetRoute(rt)
	url, c := newServer(t, p)
	res, err := c.Get(url + "/x")
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 503 || res.Header.Get("Content-Type") != "text/html; charset=utf-8" || res.Header.Get("Retry-After") != "" {
		t.Fatalf("got %d %v, want 503 text/html without Retry-After", res.StatusCode, res.Header)
	}
}

// TestHoldThenRelease holds requests while the route holds, answers none
// of them, and serves every one once the hold is lifted.
func TestHoldThenRelease(t *testing.T) {
	p := &proxy.Proxy{}
	t.Cleanup(p.Close)
	rt := route("web", be("v1", 100, backend(t, "v1")))
	held := rt
	held.Hold = &router.Hold{Until: time.Now().Add(time.Minute)}
	p.SetRoute(held)
	url, c := newServer(t, p)

	const n = 20
	type answer struct {
		status int
		body   string
		err    error
	}
	answers := make(chan answer, n)
	for i := range n {
		go func() {
			s, b, err := get(c, url+"/")
			answers <- answer{s, b, err}
		}()
		waitFor(t, "request held", func() bool { return p.Held("web") == i+1 })
	}
	// A route change that keeps the hold keeps the line.
	held.Backends = []router.Backend{be("v1", 100, backend(t, "v1"))}
	p.SetRoute(held)
	if got := p.Held("web"); got != n {
		t.Fatalf("held %d after a route change that keeps the hold, want %d", got, n)
	}
	select {
	case a := <-answers:
		t.Fatalf("a held request was answered: %+v", a)
	default:
	}
	p.SetRoute(rt)
	for range n {
		a := <-answers
		if a.err != nil || a.status != 200 || a.body != "v1" {
			t.Fatalf("released request got %+v, want 200 v1", a)
		}
	}
}

// TestHoldTimesOut releases held requests when the hold's time is up.
func TestHoldTimesOut(t *testing.T) {
	p := &proxy.Proxy{}
	t.Cleanup(p.Close)
	rt := route("web", be("v1", 100, backend(t, "v1")))
	until := time.Now().Add(300 * time.Millisecond)
	rt.Hold = &router.Hold{Until: until}
	p.SetRoute(rt)
	url, c := newServer(t, p)
	s, b, err := get(c, url+"/")
	if err != nil || s != 200 || b != "v1" {
		t.Fatalf("got %d %q %v, want 200 v1", s, b, err)
	}
	if now := time.Now(); now.Before(until) {
		t.Fatalf("answered %v before the hold's end", until.Sub(now))
	}
	if s, _, _ := get(c, url+"/"); s != 200 {
		t.Fatalf("after the hold: %d", s)
	}
}
