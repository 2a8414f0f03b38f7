package web_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/throttle"
	"github.com/bluejay-deploy/bluejay/internal/web"
)

const token = "s3cret-admin-token"

// fakeWindow answers every window with the same sample.
type fakeWindow struct{ from, to time.Time }

func (f *fakeWindow) Window(_ context.Context, service, version string, from, to time.Time) (metrics.Sample, error) {
	f.from, f.to = from, to
	return metrics.Sample{Requests: 200, Errors: 10, P99: 12.5}, nil
}

// newServer mounts the API and the dashboard as server.go does, over a
// controller with no service (commands answer 404 unknown_service once
// they got past the auth check).
func newServer(t *testing.T, ui *web.Handler) *httptest.Server {
	t.Helper()
	quiet := slog.New(slog.DiscardHandler)
	ui.Token, ui.Logger = token, quiet
	admin := &api.Server{Controller: &controller.Controller{Logger: quiet}, Token: token, Logger: quiet, Authorize: ui.Authorize}
	mux := http.NewServeMux()
	mux.Handle("/", admin.Handler())
	mux.Handle("/ui/", ui)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv
}

var noRedirect = &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}

func login(t *testing.T, srv *httptest.Server, tok string) *http.Response {
	t.Helper()
	resp, err := noRedirect.PostForm(srv.URL+"/ui/login", url.Values{"token": {tok}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

// session logs in and returns the session cookie.
func session(t *testing.T, srv *httptest.Server) *http.Cookie {
	t.Helper()
	resp := login(t, srv, token)
	for _, c := range resp.Cookies() {
		if c.Name == web.CookieName {
			return c
		}
	}
	t.Fatalf("login with the right token set no %s cookie (status %d, Set-Cookie %q)", web.CookieName, resp.StatusCode, resp.Header.Values("Set-Cookie"))
	return nil
}

func do(t *testing.T, srv *httptest.Server, method, path string, c *http.Cookie, headers ...string) (*http.Response, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, nil)
	if c != nil {
		req.AddCookie(c)
	}
	for i := 0; i+1 < len(headers); i += 2 {
		req.Header.Set(headers[i], headers[i+1])
	}
	resp, err := noRedirect.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b)
}

func TestLoginWrongTokenGets401AndNoCookie(t *testing.T) {
	srv := newServer(t, &web.Handler{})
	for _, tok := range []string{"nope", "", token + "x", strings.ToUpper(token)} {
		resp := login(t, srv, tok)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusUnauthorized {
			t.Errorf("login with %q: status %d, want 401", tok, resp.StatusCode)
		}
		if sc := resp.Header.Values("Set-Cookie"); len(sc) != 0 {
			t.Errorf("login with %q set cookies %q", tok, sc)
		}
		if !strings.Contains(string(b), "Wrong token") || strings.Contains(string(b), `id="login-error" hidden`) {
			t.Errorf("login with %q: the form should come back with its error shown, got:\n%s", tok, b)
		}
	}
}

func TestLoginRightTokenSetsSessionCookie(t *testing.T) {
	for _, secure := range []bool{false, true} {
		srv := newServer(t, &web.Handler{Secure: secure})
		resp := login(t, srv, token)
		if resp.StatusCode != http.StatusSeeOther || resp.Header.Get("Location") != "/ui/" {
			t.Errorf("login: status %d Location %q, want 303 to /ui/", resp.StatusCode, resp.Header.Get("Location"))
		}
		raw := strings.Join(resp.Header.Values("Set-Cookie"), "\n")
		c := session(t, srv)
		if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Path != "/" || c.Secure != secure {
			t.Errorf("cookie (Secure wanted %v): %q", secure, raw)
		}
		if strings.Contains(raw, token) || len(c.Value) < 32 {
			t.Errorf("the cookie must be a session id, not the token: %q", raw)
		}
		if other := session(t, srv); other.Value == c.Value {
			t.Errorf("two logins got the same session id %q", c.Value)
		}
	}
}

func TestSessionCookieCallsTheAPI(t *testing.T) {
	srv := newServer(t, &web.Handler{})
	c := session(t, srv)
	if resp, body := do(t, srv, "GET", "/v1/services", c); resp.StatusCode != 200 || strings.TrimSpace(body) != "[]" {
		t.Errorf("GET /v1/services with the session cookie: %d %s", resp.StatusCode, body)
	}
	if resp, _ := do(t, srv, "GET", "/v1/services", nil); resp.StatusCode != 401 {
		t.Errorf("GET /v1/services without cookie or token: %d, want 401", resp.StatusCode)
	}
	forged := &http.Cookie{Name: web.CookieName, Value: strings.Repeat("a", len(c.Value))}
	if resp, _ := do(t, srv, "GET", "/v1/services", forged); resp.StatusCode != 401 {
		t.Errorf("GET /v1/services with a forged session id: %d, want 401", resp.StatusCode)
	}
	if resp, _ := do(t, srv, "GET", "/v1/services", &http.Cookie{Name: web.CookieName, Value: token}); resp.StatusCode != 401 {
		t.Errorf("GET /v1/services with the token as the cookie: %d, want 401", resp.StatusCode)
	}
	// The bearer token still works, with no cookie and no UI header.
	if resp, _ := do(t, srv, "GET", "/v1/services", nil, "Authorization", "Bearer "+token); resp.StatusCode != 200 {
		t.Errorf("GET /v1/services with the bearer token: %d, want 200", resp.StatusCode)
	}
}

func TestCookiePostNeedsTheUIHeader(t *testing.T) {
	srv := newServer(t, &web.Handler{})
	c := session(t, srv)
	resp, body := do(t, srv, "POST", "/v1/services/web/pause", c)
	if resp.StatusCode != 401 || !strings.Contains(body, api.CodeUnauthorized) ||
		!strings.Contains(body, "session cookie changes state only with the X-Bluejay-UI: 1 header") {
		t.Errorf("cookie POST without %s: %d %s, want 401 saying the header is missing", web.HeaderUI, resp.StatusCode, body)
	}
	resp, body = do(t, srv, "POST", "/v1/services/web/pause", c, web.HeaderUI, "0")
	if resp.StatusCode != 401 {
		t.Errorf("cookie POST with %s: 0: %d %s, want 401", web.HeaderUI, resp.StatusCode, body)
	}
	// With the header the request reaches the controller, which knows no
	// service web.
	resp, body = do(t, srv, "POST", "/v1/services/web/pause", c, web.HeaderUI, "1")
	if resp.StatusCode != 404 || !strings.Contains(body, api.CodeUnknownService) {
		t.Errorf("cookie POST with %s: 1: %d %s, want 404 unknown_service", web.HeaderUI, resp.StatusCode, body)
	}
	// The CLI's bearer token needs no header.
	resp, body = do(t, srv, "POST", "/v1/services/web/pause", nil, "Authorization", "Bearer "+token)
	if resp.StatusCode != 404 {
		t.Errorf("bearer POST: %d %s, want 404", resp.StatusCode, body)
	}
	if resp, _ := do(t, srv, "POST", "/ui/logout", c); resp.StatusCode != http.StatusForbidden {
		t.Errorf("logout without %s: %d, want 403", web.HeaderUI, resp.StatusCode)
	}
}

func TestLogoutEndsTheSession(t *testing.T) {
	srv := newServer(t, &web.Handler{})
	c := session(t, srv)
	resp, _ := do(t, srv, "POST", "/ui/logout", c, web.HeaderUI, "1")
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Set-Cookie"), "Max-Age=0") {
		t.Errorf("logout: %d Set-Cookie %q, want 204 and the cookie cleared", resp.StatusCode, resp.Header.Get("Set-Cookie"))
	}
	if resp, _ := do(t, srv, "GET", "/v1/services", c); resp.StatusCode != 401 {
		t.Errorf("the old session after logout: %d, want 401", resp.StatusCode)
	}
}

func TestSessionExpires(t *testing.T) {
	now := time.Now()
	srv := newServer(t, &web.Handler{Now: func() time.Time { return now }})
	c := session(t, srv)
	now = now.Add(11 * time.Hour)
	if resp, _ := do(t, srv, "GET", "/v1/services", c); resp.StatusCode != 200 {
		t.Errorf("session after 11h: %d, want 200", resp.StatusCode)
	}
	now = now.Add(2 * time.Hour)
	if resp, _ := do(t, srv, "GET", "/v1/services", c); resp.StatusCode != 401 {
		t.Errorf("session after 13h: %d, want 401", resp.StatusCode)
	}
}

func TestAssetsTypesAndPolicy(t *testing.T) {
	srv := newServer(t, &web.Handler{})
	c := session(t, srv)
	for _, tc := range []struct {
		path   string
		cookie *http.Cookie
		ctype  string
		want   string
	}{
		{"/ui/", nil, "text/html", `action="/ui/login"`},
		{"/ui/", c, "text/html", `id="services"`},
		{"/ui/app.js", nil, "text/javascript", "X-Bluejay-UI"},
		{"/ui/chart.js", nil, "text/javascript", "function lineChart"},
		{"/ui/style.css", nil, "text/css", ".bar"},
	} {
		resp, body := do(t, srv, "GET", tc.path, tc.cookie)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), tc.ctype) || !strings.Contains(body, tc.want) {
			t.Errorf("GET %s (cookie %v): %d %q, want 200 %s containing %q", tc.path, tc.cookie != nil, resp.StatusCode,
				resp.Header.Get("Content-Type"), tc.ctype, tc.want)
		}
		csp := resp.Header.Get("Content-Security-Policy")
		if !strings.Contains(csp, "default-src 'self'") || strings.Contains(csp, "unsafe") || !strings.Contains(csp, "frame-ancestors 'none'") {
			t.Errorf("GET %s: Content-Security-Policy %q", tc.path, csp)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			t.Errorf("GET %s: no nosniff", tc.path)
		}
		// The SVG namespace is a name, not a load.
		loads := strings.ReplaceAll(body, "http://www.w3.org/2000/svg", "")
		if strings.Contains(loads, "http://") || strings.Contains(loads, "https://") {
			t.Errorf("GET %s: the asset names another origin", tc.path)
		}
	}
	if resp, _ := do(t, srv, "GET", "/ui/nothing.js", nil); resp.StatusCode != 404 {
		t.Errorf("GET /ui/nothing.js: %d, want 404", resp.StatusCode)
	}
}

func TestWindowAndTemplates(t *testing.T) {
	fw := &fakeWindow{}
	cfg, err := spec.Parse("t.yaml", []byte(`
analysis:
  t:
    metrics:
      - {name: error-rate, judge: sequential, condition: "canary.errorRate <= baseline.errorRate * 1.5 + 0.001"}
services:
  - {name: web, version: v1, platform: {static: {targets: {v1: ["127.0.0.1:1"]}}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	srv := newServer(t, &web.Handler{Window: fw, Templates: cfg.Analysis})
	if resp, _ := do(t, srv, "GET", "/ui/api/window?service=web&version=v2", nil); resp.StatusCode != 401 {
		t.Errorf("window without a session: %d, want 401", resp.StatusCode)
	}
	c := session(t, srv)
	resp, body := do(t, srv, "GET", "/ui/api/window?service=web&version=v2&seconds=3", c)
	var p web.WindowPoint
	if err := json.Unmarshal([]byte(body), &p); err != nil || resp.StatusCode != 200 {
		t.Fatalf("window: %d %s (%v)", resp.StatusCode, body, err)
	}
	if p.Requests != 200 || p.ErrorRate != 0.05 || p.P99 != 12.5 || p.Seconds != 3 || fw.to.Sub(fw.from) != 3*time.Second {
		t.Errorf("window: got %+v over %v", p, fw.to.Sub(fw.from))
	}
	for _, q := range []string{"?service=web", "?service=web&version=v2&seconds=x", "?service=web&version=v2&seconds=9999"} {
		if resp, _ := do(t, srv, "GET", "/ui/api/window"+q, c); resp.StatusCode != 400 {
			t.Errorf("window%s: %d, want 400", q, resp.StatusCode)
		}
	}
	resp, body = do(t, srv, "GET", "/ui/api/templates", c)
	if resp.StatusCode != 200 || !strings.Contains(body, `"condition":"canary.errorRate \u003c= baseline.errorRate * 1.5 + 0.001"`) {
		t.Errorf("templates: %d %s", resp.StatusCode, body)
	}
}

func TestLoginIsThrottled(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	srv := newServer(t, &web.Handler{Throttle: &throttle.Throttle{Now: func() time.Time { return now },
		Logger: slog.New(slog.DiscardHandler)}})
	for i := range throttle.DefaultBurst {
		if resp := login(t, srv, "guess"); resp.StatusCode != http.StatusUnauthorized {
			t.Fatalf("wrong token #%d: %d, want 401", i+1, resp.StatusCode)
		}
	}
	resp := login(t, srv, token)
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" || len(resp.Cookies()) != 0 {
		t.Fatalf("right token after %d wrong ones: %d Retry-After %q cookies %v; want 429, 1, none",
			throttle.DefaultBurst, resp.StatusCode, resp.Header.Get("Retry-After"), resp.Cookies())
	}
	now = now.Add(throttle.DefaultEvery)
	if resp := login(t, srv, token); resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("right token one interval later: %d, want 303", resp.StatusCode)
	}
}

// TestAssetsUseGlyphsTheFontsHave: the phase marks are in DejaVu (the
// fonts headless Chromium finds on Debian); U+0965 (॥), once the pause
// mark, is in none of them and rendered as an empty box.
func TestAssetsUseGlyphsTheFontsHave(t *testing.T) {
	srv := newServer(t, &web.Handler{})
	_, body := do(t, srv, "GET", "/ui/app.js", nil)
	if strings.ContainsRune(body, '\u0965') || !strings.Contains(body, "case 'Paused': return '‖';") {
		t.Error("app.js: want the pause mark ‖ (U+2016), not ॥ (U+0965)")
	}
}
