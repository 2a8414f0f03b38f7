package routertest

import (
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// Features says what a router claims to do beyond weighted splits over
// host and path matches, which every router must do. The suite skips the
// tests of a feature the router does not claim.
type Features struct {
	// Sticky: a sticky key from a header or a cookie keeps a user on one
	// version, monotonic as the first backend grows.
	Sticky bool
	// Generate: with Sticky.Generate, a keyless request gets a random key
	// in the sticky cookie.
	Generate bool
	// Rules: header and cookie rules (exact, prefix, regex) force a
	// version before the weights apply.
	Rules bool
}

// All claims every feature the suite tests.
var All = Features{Sticky: true, Generate: true, Rules: true}

// Harness is one router under test with the data plane it drives.
type Harness struct {
	// Router is the router under test. Required.
	Router router.Router
	// URL is the users' base URL of the data plane, such as
	// http://127.0.0.1:8080. Required.
	URL string
	// Features are what the router claims.
	Features Features
	// Client sends the users' requests. Nil means a client with
	// keep-alives (connections reused across SetRoute calls, as real
	// clients do) and a 10s timeout.
	Client *http.Client
	// StaleConns says the router may answer the first request on a
	// connection opened before SetRoute returned from the routes before
	// it (NGINX: an old worker's connection; see the nginx package doc).
	// The suite then closes its idle connections after each SetRoute.
	StaleConns bool
}

// Run runs the conformance suite, one subtest per behaviour; each
// subtest calls newHarness for a fresh data plane with no routes, which
// newHarness stops with t.Cleanup.
func Run(t *testing.T, newHarness func(t *testing.T) Harness) {
	tests := []struct {
		name string
		run  func(*suite)
	}{
		{"Weights", testWeights},
		{"Flip", testFlip},
		{"NoInstance", testNoInstance},
		{"Match", testMatch},
		{"StickyHeader", testStickyHeader},
		{"StickyCookie", testStickyCookie},
		{"StickyGenerate", testStickyGenerate},
		{"Rules", testRules},
		{"Load", testLoad},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			c := h.Client
			if c == nil {
				c = &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
				t.Cleanup(c.CloseIdleConnections)
			}
			tc.run(&suite{t: t, h: h, c: c})
		})
	}
}

// suite is one subtest's state.
type suite struct {
	t *testing.T
	h Harness
	c *http.Client
}

// need skips the test unless the router claims the feature.
func (s *suite) need(claimed bool, feature string) {
	if !claimed {
		s.t.Skipf("router does not claim %s (it must refuse it at validate time)", feature)
	}
}

// backend starts a real HTTP server answering every request with name
// and returns its host:port.
func (s *suite) backend(name string) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, name)
	}))
	s.t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// set applies r, failing the test on error.
func (s *suite) set(r router.Route) {
	s.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.h.Router.SetRoute(ctx, r); err != nil {
		s.t.Fatalf("SetRoute(%s %v): %v", r.Service, r.Weights(), err)
	}
	if s.h.StaleConns {
		s.c.CloseIdleConnections()
	}
}

// request is one user's request.
type request struct {
	host, path string
	header     http.Header
}

// send sends req and returns the status, the body and the response's
// cookies.
func (s *suite) send(req request) (int, string, []*http.Cookie, error) {
	path := req.path
	if path == "" {
		path = "/"
	}
	r, err := http.NewRequest(http.MethodGet, s.h.URL+path, nil)
	if err != nil {
		return 0, "", nil, err
	}
	if req.host != "" {
		r.Host = req.host
	}
	for k, vs := range req.header {
		r.Header[k] = vs
	}
	res, err := s.c.Do(r)
	if err != nil {
		return 0, "", nil, err
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return res.StatusCode, string(body), res.Cookies(), err
}

// get sends req and returns the body of its 200 answer, failing the test
// on anything else.
func (s *suite) get(req request) string {
	s.t.Helper()
	code, body, _, err := s.send(req)
	if err != nil {
		s.t.Fatalf("GET %s%s: %v", req.host, req.path, err)
	}
	if code != http.StatusOK {
		s.t.Fatalf("GET %s%s: status %d (%q), want 200", req.host, req.path, code, body)
	}
	return body
}

// count sends n requests from workers goroutines and counts the answers
// by body; any failure fails the test.
func (s *suite) count(n, workers int, req request) map[string]int {
	s.t.Helper()
	var mu sync.Mutex
	got := map[string]int{}
	var firstErr error
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := w; i < n; i += workers {
				code, body, _, err := s.send(req)
				mu.Lock()
				switch {
				case err != nil && firstErr == nil:
					firstErr = err
				case err == nil && code != http.StatusOK && firstErr == nil:
					firstErr = fmt.Errorf("status %d (%q)", code, body)
				case err == nil && code == http.StatusOK:
					got[body]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if firstErr != nil {
		s.t.Fatalf("requests failed: %v", firstErr)
	}
	return got
}

// within fails the test unless k of n lies within z standard deviations
// of the binomial's mean n·p.
func (s *suite) within(what string, k, n int, p, z float64) {
	s.t.Helper()
	mean := float64(n) * p
	tol := z * math.Sqrt(float64(n)*p*(1-p))
	if math.Abs(float64(k)-mean) > tol {
		s.t.Errorf("%s: %d of %d, want %.0f ± %.0f (%.0f sigma)", what, k, n, mean, tol, z)
	}
}

// route builds a route of service "web" over the given backends.
func route(backends ...router.Backend) router.Route {
	return router.Route{Service: "web", Backends: backends}
}

// be is a backend of version v at weight w on addrs.
func be(v string, w int, addrs ...string) router.Backend {
	if addrs == nil {
		addrs = []string{}
	}
	return router.Backend{Version: v, Weight: w, Addrs: addrs}
}

// waitFor polls cond until it holds, failing the test after 10s.
func (s *suite) waitFor(cond func() bool, format string, args ...any) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			s.t.Fatalf("timed out waiting for "+format, args...)
		}
		time.Sleep(time.Millisecond)
	}
}
