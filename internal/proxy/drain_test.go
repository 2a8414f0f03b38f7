package proxy_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

func TestInFlightAndWaitDrained(t *testing.T) {
	p := &proxy.Proxy{}
	slow := newBlocking(t, "v1")
	p.SetRoute(route("web", be("v1", 100, slow.addr)))
	url, client := newServer(t, p)

	results := make(chan int, 2)
	for range 2 {
		go func() {
			code, _, _ := get(client, url)
			results <- code
		}()
	}
	waitFor(t, "two requests in flight", func() bool { return p.InFlight(slow.addr) == 2 })

	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	if err := p.WaitDrained(ctx, []string{slow.addr}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitDrained with requests held = %v, want DeadlineExceeded", err)
	}

	drained := make(chan error, 1)
	go func() { drained <- p.WaitDrained(context.Background(), []string{slow.addr, "127.0.0.1:1"}) }()
	slow.Release()
	if err := <-drained; err != nil {
		t.Errorf("WaitDrained after release = %v, want nil", err)
	}
	if n := p.InFlight(slow.addr); n != 0 {
		t.Errorf("InFlight after drain = %d, want 0", n)
	}
	for range 2 {
		if code := <-results; code != http.StatusOK {
			t.Errorf("held request got %d, want 200", code)
		}
	}
}

// TestDrainOnSwitch takes a version out of the split while it holds a
// request: the request still completes on it, and new ones go elsewhere.
func TestDrainOnSwitch(t *testing.T) {
	p := &proxy.Proxy{}
	old := newBlocking(t, "old")
	p.SetRoute(route("web", be("old", 100, old.addr)))
	url, client := newServer(t, p)

	type result struct {
		code int
		body string
		err  error
	}
	held := make(chan result, 1)
	go func() {
		code, body, err := get(client, url)
		held <- result{code, body, err}
	}()
	<-old.started

	p.SetRoute(route("web", be("new", 100, backend(t, "new"))))
	if code, body, err := get(client, url); err != nil || code != http.StatusOK || body != "new" {
		t.Errorf("request after switch: got %d %q %v, want 200 from new", code, body, err)
	}
	if n := p.InFlight(old.addr); n != 1 {
		t.Errorf("old InFlight = %d, want 1 held request", n)
	}

	old.Release()
	if r := <-held; r.err != nil || r.code != http.StatusOK || r.body != "old" {
		t.Errorf("held request: got %d %q %v, want 200 from old", r.code, r.body, r.err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := p.WaitDrained(ctx, []string{old.addr}); err != nil {
		t.Errorf("WaitDrained = %v, want nil", err)
	}
}

// TestSetRouteWaitsForPicks pins a drain race: a request that picked an
// address from the old split, but was not yet counted in flight there,
// let SetRoute return and WaitDrained see the address idle, so the
// controller could stop an instance about to receive a request. Here the
// pick is held inside Rand until the new split is live; SetRoute must not
// return before that pick is counted.
func TestSetRouteWaitsForPicks(t *testing.T) {
	p := &proxy.Proxy{}
	var hold atomic.Bool
	entered := make(chan struct{})
	p.Rand = func() uint64 {
		if hold.CompareAndSwap(true, false) {
			close(entered)
			awaitVersion(p, "new")
		}
		return 0
	}
	old := newBlocking(t, "old")
	p.SetRoute(route("web", be("old", 100, old.addr)))

	hold.Store(true)
	served := make(chan int, 1)
	go func() { code, _ := send(t, p, "example.com", "/"); served <- code }()
	<-entered // the request is picking from the old split

	p.SetRoute(route("web", be("new", 100, backend(t, "new"))))
	if n := p.InFlight(old.addr); n != 1 {
		t.Errorf("InFlight(old) when SetRoute returned = %d, want 1: a pick from the old split was not counted yet", n)
	}
	old.Release()
	if code := <-served; code != http.StatusOK {
		t.Errorf("held request got %d, want 200", code)
	}
}

// awaitVersion polls until p's only route has version first, or gives up
// after a while; the caller's assertions then report the failure.
func awaitVersion(p *proxy.Proxy, version string) {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); <-tick.C {
		if rs := p.Routes(); len(rs) == 1 && rs[0].Backends[0].Version == version {
			return
		}
	}
}
