package proxy_test

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// backend starts a real HTTP server that answers every request with its
// name and returns its address.
func backend(t testing.TB, name string) string {
	t.Helper()
	return serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprint(w, name)
	}))
}

// serve starts a real HTTP server with h and returns its address.
func serve(t testing.TB, h http.Handler) string {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// blocking is a backend whose requests wait until release is closed.
type blocking struct {
	addr    string
	started chan struct{} // receives once per request that arrived
	release chan struct{}
	once    sync.Once
}

// Release lets every held and future request finish.
func (b *blocking) Release() { b.once.Do(func() { close(b.release) }) }

func newBlocking(t testing.TB, name string) *blocking {
	t.Helper()
	b := &blocking{started: make(chan struct{}, 100), release: make(chan struct{})}
	b.addr = serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.started <- struct{}{}
		select {
		case <-b.release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprint(w, name)
	}))
	// Cleanups run last-registered first: release held requests before
	// serve's srv.Close waits for them.
	t.Cleanup(b.Release)
	return b
}

// send serves one request with host and path through h and returns the
// status and body.
func send(t testing.TB, h http.Handler, host, path string) (int, string) {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "http://"+host+path, nil)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.String()
}

// get sends a GET to a real proxy server and returns status and body.
func get(c *http.Client, url string) (int, string, error) {
	res, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), err
}

// route builds a route of service with one backend per version=weight:addr.
func route(service string, backends ...router.Backend) router.Route {
	return router.Route{Service: service, Backends: backends}
}

func be(version string, weight int, addrs ...string) router.Backend {
	return router.Backend{Version: version, Weight: weight, Addrs: addrs}
}

// seeded returns deterministic randomness that is safe for concurrent use.
func seeded(seed uint64) func() uint64 {
	var mu sync.Mutex
	r := rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15))
	return func() uint64 {
		mu.Lock()
		defer mu.Unlock()
		return r.Uint64()
	}
}

// waitFor polls cond until it holds or a deadline passes.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		<-tick.C
	}
}

// newServer serves p on a real loopback listener and returns its URL and a
// client for it. With BLUEJAY_PROXY_TEST_PATH=fast in the environment it
// serves p's fast path, so that the suite runs against either path.
func newServer(t testing.TB, p *proxy.Proxy) (string, *http.Client) {
	t.Helper()
	var url string
	if os.Getenv("BLUEJAY_PROXY_TEST_PATH") == "fast" {
		url = serveFast(t, p, proxy.FastOptions{})
	} else {
		srv := httptest.NewServer(p)
		t.Cleanup(srv.Close)
		url = srv.URL
	}
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	t.Cleanup(c.CloseIdleConnections)
	return url, c
}

// serveFast serves p's fast path on a loopback listener and returns its
// URL.
func serveFast(t testing.TB, p *proxy.Proxy, o proxy.FastOptions) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := p.NewFastServer(o)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + ln.Addr().String()
}

// requestsErrors keeps the counts a test pins exactly; the users are
// estimates, tested in users_test.go.
func requestsErrors(c metrics.Counts) metrics.Counts {
	return metrics.Counts{Requests: c.Requests, Errors: c.Errors}
}
