package proxy_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

func stickyRoute(v2, v1 string, w int, st *router.Sticky, rules ...router.Rule) router.Route {
	r := route("web", be("v2", w, v2), be("v1", 100-w, v1))
	r.Sticky, r.Rules = st, rules
	return r
}

// TestStickyKeepsUsersAndSetsACookie: a keyless request gets a generated
// key in a cookie with the configured attributes; with that cookie, the
// user stays on one version for every request of a step.
func TestStickyKeepsUsersAndSetsACookie(t *testing.T) {
	v1, v2 := backend(t, "v1"), backend(t, "v2")
	p := &proxy.Proxy{VersionHeader: "X-Version"}
	st := &router.Sticky{Cookie: "bj", Generate: true, MaxAge: 3600, Secure: true, HTTPOnly: true, SameSite: "strict"}
	p.SetRoute(stickyRoute(v2, v1, 50, st))

	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, httptest.NewRequest("GET", "http://x/", nil))
	cookies := rec.Result().Cookies()
	if len(cookies) != 1 || cookies[0].Name != "bj" || cookies[0].Value == "" || cookies[0].MaxAge != 3600 ||
		!cookies[0].Secure || !cookies[0].HttpOnly || cookies[0].SameSite != http.SameSiteStrictMode {
		t.Fatalf("Set-Cookie = %v, want bj with Max-Age 3600, Secure, HttpOnly, SameSite=Strict", rec.Header()["Set-Cookie"])
	}
	first := rec.Header().Get("X-Version")
	for range 50 {
		req := httptest.NewRequest("GET", "http://x/", nil)
		req.AddCookie(cookies[0])
		rec := httptest.NewRecorder()
		p.ServeHTTP(rec, req)
		if got := rec.Header().Get("X-Version"); got != first || len(rec.Result().Cookies()) != 0 {
			t.Fatalf("a user with a key moved from %s to %s (or got a new cookie)", first, got)
		}
	}
}

// TestRulesRouteOnlyWhatIsConfigured: header and cookie rules send their
// matches to the canary whatever its weight; a header nobody configured
// does nothing, and a rule to a version with no ready instance falls back
// to the weights.
func TestRulesRouteOnlyWhatIsConfigured(t *testing.T) {
	v1, v2 := backend(t, "v1"), backend(t, "v2")
	p := &proxy.Proxy{VersionHeader: "X-Version"}
	rules := []router.Rule{
		{Header: "X-Canary", Exact: "yes", Version: "v2"},
		{Header: "X-Team", Prefix: "qa-", Version: "v2"},
		{Cookie: "beta", Regex: "^(1|true)$", Version: "v2"},
	}
	p.SetRoute(stickyRoute(v2, v1, 0, nil, rules...))
	tests := []struct {
		name, header, value, cookie, want string
	}{
		{"exact header", "X-Canary", "yes", "", "v2"},
		{"exact header, other value", "X-Canary", "no", "", "v1"},
		{"prefix header", "X-Team", "qa-bob", "", "v2"},
		{"regex cookie", "", "", "true", "v2"},
		{"regex cookie, no match", "", "", "yes", "v1"},
		{"a version header nobody configured", "X-Version", "v2", "", "v1"},
		{"no header", "", "", "", "v1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", "http://x/", nil)
			if tt.header != "" {
				req.Header.Set(tt.header, tt.value)
			}
			if tt.cookie != "" {
				req.AddCookie(&http.Cookie{Name: "beta", Value: tt.cookie})
			}
			rec := httptest.NewRecorder()
			p.ServeHTTP(rec, req)
			if got := rec.Header().Get("X-Version"); got != tt.want {
				t.Fatalf("served by %q, want %s", got, tt.want)
			}
		})
	}
	// v2 not ready (no addresses): its rule falls back to the weights.
	r := stickyRoute(v2, v1, 0, nil, rules...)
	r.Backends[0].Addrs = nil
	p.SetRoute(r)
	req := httptest.NewRequest("GET", "http://x/", nil)
	req.Header.Set("X-Canary", "yes")
	rec := httptest.NewRecorder()
	p.ServeHTTP(rec, req)
	if got := rec.Header().Get("X-Version"); got != "v1" || !strings.Contains(rec.Body.String(), "v1") {
		t.Fatalf("a rule to a version with no ready instance served by %q, want v1", got)
	}
}
