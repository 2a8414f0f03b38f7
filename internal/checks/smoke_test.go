package checks

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// app is a real server for smoke tests; it counts the requests per path.
type app struct {
	*httptest.Server
	version string
	hits    map[string]*atomic.Int64
}

func newApp(t *testing.T, version string) *app {
	t.Helper()
	a := &app{version: version, hits: map[string]*atomic.Int64{}}
	mux := http.NewServeMux()
	handle := func(path string, h http.HandlerFunc) {
		a.hits[path] = &atomic.Int64{}
		mux.HandleFunc(path, func(w http.ResponseWriter, r *http.Request) { a.hits[path].Add(1); h(w, r) })
	}
	handle("/", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintf(w, "hello from %s\n", version) })
	handle("/fail", func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	handle("/slow", func(_ http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	handle("/moved", func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, "/", http.StatusMovedPermanently) })
	handle("/echo", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s host=%s token=%s", r.Method, r.Host, r.Header.Get("X-Token"))
	})
	handle("/big", func(w http.ResponseWriter, _ *http.Request) {
		w.Write([]byte(strings.Repeat("x", maxBody)))
		w.Write([]byte(version))
	})
	a.Server = httptest.NewServer(mux)
	t.Cleanup(a.Close)
	return a
}

func (a *app) addr() string { return strings.TrimPrefix(a.URL, "http://") }

func TestRunSmoke(t *testing.T) {
	v2, other := newApp(t, "v2"), newApp(t, "v2")
	a, b := v2.addr(), other.addr()
	refused := refusedAddr(t)
	tests := []struct {
		name      string
		addrs     []string
		tests     []spec.Smoke
		wantCheck string
		wantAddr  string
		want      string // the reason; "" means passed
	}{
		{"no tests pass", nil, nil, "", "", ""},
		{"no instances fail", nil, []spec.Smoke{{Path: "/"}},
			"", "", "no instances to test"},
		{"zero values are GET and 200", []string{a, b}, []spec.Smoke{{Path: "/", ExpectBody: "v2"}}, "", "", ""},
		{"status", []string{a}, []spec.Smoke{{Name: "errors", Path: "/fail"}},
			"errors", a, "GET /fail on " + a + ": status 500, want 200"},
		{"expected status", []string{a}, []spec.Smoke{{Path: "/fail", ExpectStatus: 500}}, "", "", ""},
		{"redirect not followed", []string{a}, []spec.Smoke{{Path: "/moved"}},
			"GET /moved", a, "GET /moved on " + a + ": status 301, want 200"},
		{"body", []string{a}, []spec.Smoke{{Path: "/", ExpectBody: "v3"}},
			"GET /", a, `GET / on ` + a + `: body does not contain "v3"`},
		{"body read at most 1 MiB", []string{a}, []spec.Smoke{{Path: "/big", ExpectBody: "v2"}},
			"GET /big", a, `GET /big on ` + a + `: body does not contain "v2"`},
		{"timeout", []string{a}, []spec.Smoke{{Path: "/slow", Timeout: spec.Duration(30 * time.Millisecond)}},
			"GET /slow", a, "GET /slow on " + a + ": timed out after 30ms"},
		{"connection refused", []string{a, refused}, []spec.Smoke{{Path: "/"}},
			"GET /", refused, "GET / on " + refused + ": dial tcp " + refused},
		{"method and headers", []string{a}, []spec.Smoke{{
			Method: "POST", Path: "/echo", Headers: map[string]string{"X-Token": "s3cret", "Host": "web.example"},
			ExpectBody: "POST host=web.example token=s3cret",
		}}, "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := RunSmoke(context.Background(), nil, tt.addrs, tt.tests)
			if tt.want == "" {
				if !got.Passed {
					t.Fatalf("failed: %+v", got)
				}
				return
			}
			if got.Passed || got.Check != tt.wantCheck || got.Addr != tt.wantAddr || !strings.HasPrefix(got.Reason, tt.want) {
				t.Errorf("RunSmoke = %+v,\nwant check %q, addr %q, reason %q", got, tt.wantCheck, tt.wantAddr, tt.want)
			}
		})
	}
}

func TestRunSmokeStopsAtFirstFailure(t *testing.T) {
	a, b := newApp(t, "v2"), newApp(t, "v2")
	tests := []spec.Smoke{{Path: "/"}, {Path: "/fail"}, {Path: "/echo"}}
	got := RunSmoke(context.Background(), nil, []string{a.addr(), b.addr()}, tests)
	if got.Passed || got.Addr != a.addr() || got.Check != "GET /fail" {
		t.Fatalf("RunSmoke = %+v, want a failure of GET /fail on the first instance", got)
	}
	for _, c := range []struct {
		app  *app
		path string
		want int64
	}{{a, "/", 1}, {b, "/", 1}, {a, "/fail", 1}, {b, "/fail", 0}, {a, "/echo", 0}, {b, "/echo", 0}} {
		if n := c.app.hits[c.path].Load(); n != c.want {
			t.Errorf("%s on %s: %d requests, want %d", c.path, c.app.addr(), n, c.want)
		}
	}
}

func TestRunSmokeCanceled(t *testing.T) {
	a := newApp(t, "v2")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	got := RunSmoke(ctx, nil, []string{a.addr()}, []spec.Smoke{{Path: "/"}})
	if got.Passed || !strings.Contains(got.Reason, "context canceled") {
		t.Errorf("RunSmoke with a canceled context = %+v", got)
	}
}

func TestRunSmokePassedReason(t *testing.T) {
	a, b := newApp(t, "v2"), newApp(t, "v2")
	got := RunSmoke(context.Background(), nil, []string{a.addr(), b.addr()}, []spec.Smoke{{Path: "/"}, {Path: "/echo"}})
	if !got.Passed || got.Reason != "2 smoke tests passed on 2 instances" || got.Duration <= 0 {
		t.Errorf("RunSmoke = %+v", got)
	}
}
