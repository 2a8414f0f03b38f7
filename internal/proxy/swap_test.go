package proxy_test

import (
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// TestSwapUnderLoad flips the split 200 times while clients send requests
// through a real proxy server: no request may fail or reach anything but
// one of the two versions.
func TestSwapUnderLoad(t *testing.T) {
	const (
		workers = 8
		flips   = 200
	)
	v1, v2 := backend(t, "v1"), backend(t, "v2")
	splits := []router.Route{
		route("web", be("v1", 100, v1), be("v2", 0, v2)),
		route("web", be("v1", 50, v1), be("v2", 50, v2)),
		route("web", be("v1", 0, v1), be("v2", 100, v2)),
	}
	p := &proxy.Proxy{}
	p.SetRoute(splits[0])
	url, client := newServer(t, p)

	var (
		done     = make(chan struct{})
		progress = make(chan struct{}, 1) // a request finished since the last flip
		sent     atomic.Int64
		wg       sync.WaitGroup
		errs     = make(chan error, workers)
	)
	for range workers {
		wg.Go(func() { errs <- hammer(client, url, done, progress, &sent) })
	}
	for i := range flips {
		for range 5 { // keep the flips interleaved with requests
			<-progress
		}
		p.SetRoute(splits[i%len(splits)])
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	c1, c2 := p.Counts("web", "v1"), p.Counts("web", "v2")
	if total := c1.Requests + c2.Requests; total != sent.Load() {
		t.Errorf("versions counted %d requests, clients sent %d", total, sent.Load())
	}
	t.Logf("%d requests over %d flips: v1 %d, v2 %d", sent.Load(), flips, c1.Requests, c2.Requests)
}

// hammer sends requests until done and returns the first bad answer.
func hammer(c *http.Client, url string, done <-chan struct{}, progress chan<- struct{}, sent *atomic.Int64) error {
	for {
		select {
		case <-done:
			return nil
		default:
		}
		code, body, err := get(c, url)
		sent.Add(1)
		if err != nil || code != http.StatusOK || (body != "v1" && body != "v2") {
			return fmt.Errorf("request %d: got %d %q, %v; want 200 from v1 or v2", sent.Load(), code, body, err)
		}
		select {
		case progress <- struct{}{}:
		default:
		}
	}
}

// TestSoakWeightChangesAndFlips is issue 4's soak: 1000 weight changes
// (the canary climbing 1 → 100 ten times, sticky and not) and 100 flips,
// plus instances joining and leaving, under continuous load: 0 failed
// requests. -short skips it.
func TestSoakWeightChangesAndFlips(t *testing.T) {
	if testing.Short() {
		t.Skip("soak: run without -short")
	}
	v1a, v1b, v2a, v2b := backend(t, "v1"), backend(t, "v1"), backend(t, "v2"), backend(t, "v2")
	p := &proxy.Proxy{}
	p.SetRoute(route("web", be("v2", 0, v2a), be("v1", 100, v1a, v1b)))
	url, client := newServer(t, p)
	var (
		done     = make(chan struct{})
		progress = make(chan struct{}, 1)
		sent     atomic.Int64
		wg       sync.WaitGroup
		errs     = make(chan error, 4)
	)
	for range 4 {
		wg.Go(func() { errs <- hammer(client, url, done, progress, &sent) })
	}
	changes := 0
	for round := range 10 {
		for w := 1; w <= 100; w++ {
			<-progress
			v2 := []string{v2a}
			if w%7 == 0 {
				v2 = append(v2, v2b) // an instance joins, and leaves at the next change
			}
			r := route("web", be("v2", w, v2...), be("v1", 100-w, v1a, v1b))
			if round%2 == 1 {
				r.Sticky = &router.Sticky{Cookie: "u", Generate: true}
			}
			p.SetRoute(r)
			changes++
		}
	}
	for i := range 100 {
		<-progress
		if i%2 == 0 {
			p.SetRoute(route("web", be("v2", 0, v2a), be("v1", 100, v1a)))
		} else {
			p.SetRoute(route("web", be("v2", 100, v2a, v2b), be("v1", 0, v1a)))
		}
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
	t.Logf("%d requests over %d weight changes and 100 flips, 0 failed", sent.Load(), changes)
}
