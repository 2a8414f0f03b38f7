package routertest

import (
	"fmt"
	"math/rand/v2"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// weightRequests is how many requests the weight test sends: at 20/80 the
// canary's count has a standard deviation of about 18, so 5 sigma is
// ±89 around 400.
const weightRequests = 2000

// testWeights: 20/80 within 5 sigma, and a version at weight 0 (with
// addresses) gets nothing.
func testWeights(s *suite) {
	v1, v2, v3 := s.backend("v1"), s.backend("v2"), s.backend("v3")
	s.set(route(be("v2", 20, v2), be("v3", 0, v3), be("v1", 80, v1)))
	got := s.count(weightRequests, 4, request{})
	if got["v1"]+got["v2"] != weightRequests {
		s.t.Errorf("answers %v, want only v1 and v2 (v3 has weight 0)", got)
	}
	s.within("v2 at weight 20", got["v2"], weightRequests, 0.2, 5)

	// Relative weights: 1:3 is the same split as 25/75.
	s.set(route(be("v2", 1, v2), be("v1", 3, v1)))
	got = s.count(weightRequests, 4, request{})
	s.within("v2 at weight 1 of 4", got["v2"], weightRequests, 0.25, 5)
}

// testFlip: after each SetRoute returns, every request goes to the one
// version at weight 100.
func testFlip(s *suite) {
	v1, v2 := s.backend("v1"), s.backend("v2")
	for i := range 5 {
		want := "v2"
		w1, w2 := 0, 100
		if i%2 == 1 {
			want, w1, w2 = "v1", 100, 0
		}
		s.set(route(be("v2", w2, v2), be("v1", w1, v1)))
		// A connection the client opened before the change and has not
		// used yet may sit with NGINX's old worker, which serves its first
		// request under the old split (documented in internal/router/nginx).
		// Flip judges the split, so it starts from fresh connections; Load
		// keeps its connections across the changes.
		s.c.CloseIdleConnections()
		if got := s.count(50, 2, request{}); got[want] != 50 {
			s.t.Fatalf("flip %d: answers %v, want all 50 from %s", i, got, want)
		}
	}
}

// testNoInstance: a version without addresses takes nothing, and a route
// with no eligible version answers 503.
func testNoInstance(s *suite) {
	v1 := s.backend("v1")
	s.set(route(be("v2", 50), be("v1", 50, v1)))
	if got := s.count(50, 2, request{}); got["v1"] != 50 {
		s.t.Errorf("answers %v, want all from v1 (v2 has no instance)", got)
	}
	s.set(route(be("v2", 100), be("v1", 0, v1)))
	for range 5 {
		code, body, _, err := s.send(request{})
		if err != nil || code != http.StatusServiceUnavailable {
			s.t.Fatalf("no eligible version: got %d %q %v, want 503", code, body, err)
		}
	}
}

// testMatch: several services side by side, matched as the builtin proxy
// does: a host's routes first, then host-less ones, longest prefix.
func testMatch(s *suite) {
	one := func(svc, host, prefix string) {
		addr := s.backend(svc)
		s.set(router.Route{Service: svc, Host: host, PathPrefix: prefix, Backends: []router.Backend{be("v1", 100, addr)}})
	}
	one("web", "web.example", "")
	one("web-admin", "web.example", "/admin/")
	one("api", "", "/api/")
	one("api-v2", "", "/api/v2/")
	for _, c := range []struct {
		host, path, want string
	}{
		{"web.example", "/", "web"},
		{"WEB.example:8080", "/x", "web"},
		{"web.example", "/api/v2/x", "web"}, // the host's "/" beats a longer host-less prefix
		{"web.example", "/admin/users", "web-admin"},
		{"other.example", "/api/x", "api"},
		{"other.example", "/api/v2/x", "api-v2"},
		{"", "/api/v2/x", "api-v2"},
	} {
		if got := s.get(request{host: c.host, path: c.path}); got != c.want {
			s.t.Errorf("GET %s%s: answered by %q, want %q", c.host, c.path, got, c.want)
		}
	}
	for _, c := range []struct{ host, path string }{{"other.example", "/"}, {"other.example", "/admin/x"}} {
		code, body, _, err := s.send(request{host: c.host, path: c.path})
		if err != nil || code != http.StatusNotFound {
			s.t.Errorf("GET %s%s: got %d %q %v, want 404 (no route)", c.host, c.path, code, body, err)
		}
	}
	// Replacing one service's route leaves the others as they were.
	addr := s.backend("api-new")
	s.set(router.Route{Service: "api", PathPrefix: "/api/", Backends: []router.Backend{be("v2", 100, addr)}})
	if got := s.get(request{path: "/api/x"}); got != "api-new" {
		s.t.Errorf("after replacing api: GET /api/x answered by %q, want api-new", got)
	}
	if got := s.get(request{host: "web.example", path: "/"}); got != "web" {
		s.t.Errorf("after replacing api: GET web.example/ answered by %q, want web", got)
	}
}

// stickyUsers is how many users the sticky tests follow.
const stickyUsers = 300

// testStickyHeader: users keyed by a header stay put and only move to
// the growing first backend.
func testStickyHeader(s *suite) {
	s.need(s.h.Features.Sticky, "sticky keys")
	s.sticky(&router.Sticky{Header: "X-User-Id", Cookie: "bj-key"}, func(key string) request {
		return request{header: http.Header{"X-User-Id": {key}}}
	})
}

// testStickyCookie: the same with the key in a cookie whose name has a
// dash (which NGINX's $cookie_ variables cannot name).
func testStickyCookie(s *suite) {
	s.need(s.h.Features.Sticky, "sticky keys")
	s.sticky(&router.Sticky{Cookie: "bj-key"}, func(key string) request {
		return request{header: http.Header{"Cookie": {"other=1; bj-key=" + key + "; more=2"}}}
	})
}

// sticky grows v2 from 10 to 40 to 100 over users keyed by reqFor and
// checks each user stays put within a split and moves only to v2.
func (s *suite) sticky(st *router.Sticky, reqFor func(key string) request) {
	v1, v2 := s.backend("v1"), s.backend("v2")
	prev := map[string]string{}
	for _, w := range []int{10, 40, 100} {
		r := route(be("v2", w, v2), be("v1", 100-w, v1))
		r.Sticky = st
		s.set(r)
		onV2 := 0
		for u := range stickyUsers {
			key := fmt.Sprintf("user-%d", u)
			got := s.get(reqFor(key))
			for range 2 {
				if again := s.get(reqFor(key)); again != got {
					s.t.Fatalf("weight %d: %s went to %s, then %s", w, key, got, again)
				}
			}
			if prev[key] == "v2" && got != "v2" {
				s.t.Fatalf("weight %d: %s moved back from v2 to %s", w, key, got)
			}
			prev[key] = got
			if got == "v2" {
				onV2++
			}
		}
		if w < 100 {
			s.within(fmt.Sprintf("users on v2 at weight %d", w), onV2, stickyUsers, float64(w)/100, 5)
		} else if onV2 != stickyUsers {
			s.t.Errorf("weight 100: %d of %d users on v2, want all", onV2, stickyUsers)
		}
	}
}

// testStickyGenerate: a keyless request gets a key cookie (with the
// configured attributes), and the user stays on one version with it.
func testStickyGenerate(s *suite) {
	s.need(s.h.Features.Sticky && s.h.Features.Generate, "generated sticky keys")
	v1, v2 := s.backend("v1"), s.backend("v2")
	r := route(be("v2", 50, v2), be("v1", 50, v1))
	r.Sticky = &router.Sticky{Cookie: "bj-key", Generate: true, MaxAge: 3600, Path: "/", HTTPOnly: true}
	s.set(r)
	seen := map[string]bool{}
	for range 20 {
		code, first, cookies, err := s.send(request{})
		if err != nil || code != http.StatusOK {
			s.t.Fatalf("keyless request: %d %q %v", code, first, err)
		}
		var key *http.Cookie
		for _, c := range cookies {
			if c.Name == "bj-key" {
				key = c
			}
		}
		if key == nil || key.Value == "" {
			s.t.Fatalf("keyless request got cookies %v, want a bj-key cookie", cookies)
		}
		if key.MaxAge != 3600 || !key.HttpOnly || key.Path != "/" {
			s.t.Errorf("generated cookie %q: MaxAge %d HttpOnly %v Path %q, want 3600 true /", key.Raw, key.MaxAge, key.HttpOnly, key.Path)
		}
		if seen[key.Value] {
			s.t.Errorf("generated key %q twice", key.Value)
		}
		seen[key.Value] = true
		for range 5 {
			code, body, again, err := s.send(request{header: http.Header{"Cookie": {"bj-key=" + key.Value}}})
			if err != nil || code != http.StatusOK || body != first {
				s.t.Fatalf("with key %s: %d %q %v, want 200 from %s as the first answer", key.Value, code, body, err, first)
			}
			for _, c := range again {
				if c.Name == "bj-key" {
					s.t.Fatalf("a request with a key got a new key cookie %q", c.Raw)
				}
			}
		}
	}
}

// testRules: header and cookie rules send matches to v2 at weight 0;
// everything else takes the weights; a rule to a version without
// instances is ignored.
func testRules(s *suite) {
	s.need(s.h.Features.Rules, "header and cookie rules")
	v1, v2 := s.backend("v1"), s.backend("v2")
	r := route(be("v2", 0, v2), be("v3", 0), be("v1", 100, v1))
	r.Rules = []router.Rule{
		{Header: "X-Canary", Exact: "always", Version: "v2"},
		{Header: "X-Group", Regex: `^beta-[0-9]+$`, Version: "v2"},
		{Cookie: "bj-canary", Prefix: "yes", Version: "v2"},
		{Header: "X-Nowhere", Exact: "1", Version: "v3"},
	}
	s.set(r)
	for _, c := range []struct {
		name   string
		header http.Header
		want   string
	}{
		{"no header", nil, "v1"},
		{"exact", http.Header{"X-Canary": {"always"}}, "v2"},
		{"exact, other case", http.Header{"X-Canary": {"Always"}}, "v1"},
		{"exact, longer", http.Header{"X-Canary": {"always-not"}}, "v1"},
		{"regex", http.Header{"X-Group": {"beta-42"}}, "v2"},
		{"regex, no match", http.Header{"X-Group": {"beta-x"}}, "v1"},
		{"cookie prefix", http.Header{"Cookie": {"a=b; bj-canary=yes-please"}}, "v2"},
		{"cookie, no match", http.Header{"Cookie": {"bj-canary=no"}}, "v1"},
		{"other cookie", http.Header{"Cookie": {"x-bj-canary=yes"}}, "v1"},
		{"rule to a version without instances", http.Header{"X-Nowhere": {"1"}}, "v1"},
	} {
		for range 5 {
			if got := s.get(request{header: c.header}); got != c.want {
				s.t.Errorf("%s (%v): answered by %s, want %s", c.name, c.header, got, c.want)
				break
			}
		}
	}
}

// loadChanges is how many weight changes the load test makes, and
// loadPerChange how many requests at least finish between two of them,
// so that requests race every change.
const (
	loadChanges   = 100
	loadPerChange = 8
)

// testLoad: continuous requests from several clients across 100 weight
// changes (flips included); not one may fail.
func testLoad(s *suite) {
	v1, v2 := s.backend("v1"), s.backend("v2")
	s.set(route(be("v2", 0, v2), be("v1", 100, v1)))
	var sent, failed atomic.Int64
	var mu sync.Mutex
	var firstErr error
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
				code, body, _, err := s.send(request{})
				sent.Add(1)
				if err == nil && (code != http.StatusOK || body != "v1" && body != "v2") {
					err = fmt.Errorf("status %d, body %q", code, body)
				}
				if err != nil {
					failed.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
				}
			}
		})
	}
	rnd := rand.New(rand.NewPCG(1, 2))
	start := time.Now()
	for i := range loadChanges {
		w := rnd.IntN(101)
		if i%10 == 0 {
			w = 100 * (i / 10 % 2) // flips among the changes
		}
		before := sent.Load()
		s.set(route(be("v2", w, v2), be("v1", 100-w, v1)))
		s.waitFor(func() bool { return sent.Load() >= before+loadPerChange }, "requests after change %d", i)
	}
	close(stop)
	wg.Wait()
	s.t.Logf("%d changes in %v, %d requests, %d failed", loadChanges, time.Since(start).Round(time.Millisecond), sent.Load(), failed.Load())
	if failed.Load() > 0 {
		s.t.Errorf("%d of %d requests failed across %d changes; first: %v", failed.Load(), sent.Load(), loadChanges, firstErr)
	}
	if sent.Load() < loadChanges {
		s.t.Errorf("only %d requests across %d changes: the load did not run", sent.Load(), loadChanges)
	}
}
