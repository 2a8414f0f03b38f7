package api_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
	"github.com/bluejay-deploy/bluejay/internal/throttle"
)

const token = "t0ken"

// newAPI serves the admin API over a real controller, store and proxy,
// with service web (static, v1 on a real backend) deployed.
func newAPI(t *testing.T) (*httptest.Server, string) {
	t.Helper()
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "version=v1")
	}))
	t.Cleanup(backend.Close)
	addr := strings.TrimPrefix(backend.URL, "http://")
	cfg, err := spec.Parse("api.yaml", []byte(fmt.Sprintf(`admin: {token: %s}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: [%q]}}}
    health: {interval: 20ms}
    blueGreen: {autoPromote: false}
`, token, addr)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	p := &proxy.Proxy{Logger: quiet}
	plat := static.New()
	plat.SetTargets("web", "v1", []string{addr})
	c := &controller.Controller{Store: st, Router: &routerbuiltin.Router{Proxy: p}, Metrics: &metricsbuiltin.Metrics{Proxy: p},
		Templates: cfg.Analysis, Tick: 20 * time.Millisecond, Logger: quiet}
	c.Add(controller.Service{Spec: cfg.Services[0], Platform: plat})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	srv := httptest.NewServer((&api.Server{Controller: c, Token: token, Logger: quiet}).Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done; st.Close() })
	return srv, addr
}

func call(t *testing.T, srv *httptest.Server, method, path, auth, body string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, srv.URL+path, strings.NewReader(body))
	if auth != "" {
		req.Header.Set("Authorization", auth)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestAPIRefusesBadRequests(t *testing.T) {
	srv, _ := newAPI(t)
	bearer := "Bearer " + token
	tests := []struct {
		name, method, path, auth, body string
		status                         int
		says                           string
	}{
		{"no token", "GET", "/v1/services", "", "", 401, "bearer token"},
		{"wrong token", "GET", "/v1/services", "Bearer nope", "", 401, "bearer token"},
		{"token in the wrong scheme", "GET", "/v1/services", "Basic " + token, "", 401, "bearer token"},
		{"unknown service", "GET", "/v1/services/nope", bearer, "", 404, `unknown service \"nope\"; configured services: web`},
		{"misspelt service", "POST", "/v1/services/wbe/promote", bearer, "", 404, `unknown service \"wbe\"; did you mean \"web\"?`},
		{"no token on pause", "POST", "/v1/services/web/pause", "", "", 401, "bearer token"},
		{"no token on routes", "GET", "/v1/routes", "", "", 401, "bearer token"},
		{"rollback not JSON", "POST", "/v1/services/web/rollback", bearer, `{"to":`, 400, "reading JSON body"},
		{"rollback unknown field", "POST", "/v1/services/web/rollback", bearer, `{"version":"v0"}`, 400, "unknown field"},
		{"rollback oversized", "POST", "/v1/services/web/rollback", bearer, `{"to":"` + strings.Repeat("v", 70<<10) + `"}`, 413, "too large"},
		{"rollback to a version never run", "POST", "/v1/services/web/rollback", bearer, `{"to":"v0"}`, 400, "web never ran v0"},
		{"promote oversized", "POST", "/v1/services/web/promote", bearer, `{"full":true,"x":"` + strings.Repeat("x", 70<<10) + `"}`, 413, "too large"},
		{"unknown field", "POST", "/v1/services/web/deploy", bearer, `{"version":"v2","verison":"x"}`, 400, "unknown field"},
		{"keys differing in case", "POST", "/v1/services/web/deploy", bearer, `{"VERSION":"v2","version":"v3"}`, 400, `unknown field \"VERSION\" (field names are case-sensitive`},
		{"key in the wrong case", "POST", "/v1/services/web/rollback", bearer, `{"To":"v1"}`, 400, `unknown field \"To\"`},
		{"not JSON", "POST", "/v1/services/web/deploy", bearer, `version=v2`, 400, "reading JSON body"},
		{"trailing data", "POST", "/v1/services/web/deploy", bearer, `{"version":"v2"} {}`, 400, "trailing data"},
		{"oversized body", "POST", "/v1/services/web/deploy", bearer, `{"version":"` + strings.Repeat("v", 70<<10) + `"}`, 413, "too large"},
		{"bad label", "POST", "/v1/services/web/deploy", bearer, `{"version":"v 2"}`, 400, "version"},
		{"bad strategy", "POST", "/v1/services/web/deploy", bearer, `{"version":"v2","strategy":"yolo"}`, 400, "strategy"},
		{"bad rollout id", "GET", "/v1/rollouts/abc", bearer, "", 400, "want a number"},
		{"missing rollout", "GET", "/v1/rollouts/999", bearer, "", 404, "not found"},
		{"bad limit", "GET", "/v1/services/web/events?limit=-1", bearer, "", 400, "limit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			status, body := call(t, srv, tt.method, tt.path, tt.auth, tt.body)
			if status != tt.status || !strings.Contains(body, tt.says) {
				t.Fatalf("%s %s = %d %s; want %d saying %q", tt.method, tt.path, status, body, tt.status, tt.says)
			}
		})
	}
	// Nothing above changed anything: the only rollout is the first deploy.
	c := &api.Client{Addr: srv.URL, Token: token}
	rs, err := c.Rollouts(context.Background(), "web", 0)
	if err != nil || len(rs) != 1 {
		t.Fatalf("rollouts after refused requests: %d, %v; want only the first deploy", len(rs), err)
	}
}

func TestAPIDeployAndConflicts(t *testing.T) {
	srv, addr := newAPI(t)
	c := &api.Client{Addr: srv.URL, Token: token}
	ctx := context.Background()
	deadline := time.Now().Add(10 * time.Second)
	for st, _ := c.Service(ctx, "web"); st.Rollout.Phase != "Completed"; st, _ = c.Service(ctx, "web") {
		if time.Now().After(deadline) {
			t.Fatalf("the first deploy did not complete: %s %s", st.Rollout.Phase, st.Rollout.Reason)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	r, err := c.Deploy(ctx, "web", api.DeployBody{Version: "v2", Targets: []string{addr}})
	if err != nil || r.To.Label != "v2" || r.From.Label != "v1" {
		t.Fatalf("deploy: %+v, %v", r, err)
	}
	_, err = c.Deploy(ctx, "web", api.DeployBody{Version: "v3", Targets: []string{addr}})
	var apiErr *api.Error
	if !errors.As(err, &apiErr) || apiErr.Status != 409 || !strings.Contains(apiErr.Message, "active rollout") {
		t.Fatalf("second deploy: %v, want 409 naming the active rollout", err)
	}
	if _, err := c.Retry(ctx, "web"); !errors.As(err, &apiErr) || apiErr.Status != 409 {
		t.Fatalf("retry of an active rollout: %v, want 409", err)
	}
	got, err := c.Rollout(ctx, r.ID)
	if err != nil || got.ID != r.ID {
		t.Fatalf("GET rollout: %+v %v", got, err)
	}
}

// TestAPIErrorCodes pins the code beside each error message, which the
// CLI reads to tell a misspelt service (a usage mistake) from a failure.
func TestAPIErrorCodes(t *testing.T) {
	srv, _ := newAPI(t)
	ctx := context.Background()
	tests := []struct {
		name   string
		client *api.Client
		call   func(*api.Client) error
		status int
		code   string
	}{
		{"wrong token", &api.Client{Addr: srv.URL, Token: "nope"},
			func(c *api.Client) error { _, err := c.Services(ctx); return err }, 401, api.CodeUnauthorized},
		{"misspelt service", &api.Client{Addr: srv.URL, Token: token},
			func(c *api.Client) error { _, err := c.Service(ctx, "wbe"); return err }, 404, api.CodeUnknownService},
		{"missing rollout", &api.Client{Addr: srv.URL, Token: token},
			func(c *api.Client) error { _, err := c.Rollout(ctx, 999); return err }, 404, api.CodeNotFound},
		{"bad version", &api.Client{Addr: srv.URL, Token: token},
			func(c *api.Client) error { _, err := c.Deploy(ctx, "web", api.DeployBody{Version: "v 2"}); return err }, 400, api.CodeBadRequest},
		{"rollback to nothing", &api.Client{Addr: srv.URL, Token: token},
			func(c *api.Client) error { _, err := c.Rollback(ctx, "web", "v0"); return err }, 400, api.CodeBadRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var apiErr *api.Error
			if err := tt.call(tt.client); !errors.As(err, &apiErr) || apiErr.Status != tt.status || apiErr.Code != tt.code {
				t.Fatalf("got %v (%+v); want HTTP %d code %s", err, apiErr, tt.status, tt.code)
			}
		})
	}
}

func TestAPIRoutesAreTheStoredTable(t *testing.T) {
	srv, addr := newAPI(t)
	c := &api.Client{Addr: srv.URL, Token: token}
	deadline := time.Now().Add(10 * time.Second)
	for {
		routes, err := c.Routes(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(routes) == 1 && routes[0].Service == "web" && len(routes[0].Backends) == 1 &&
			routes[0].Backends[0].Version == "v1" && routes[0].Backends[0].Weight == 100 &&
			slices.Equal(routes[0].Backends[0].Addrs, []string{addr}) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("GET /v1/routes = %+v; want web: v1 at 100 on %s", routes, addr)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// TestAPIPauseAndResume pauses a rollout in its watch and resumes it,
// through the endpoints the CLI's pause and resume call.
func TestAPIPauseAndResume(t *testing.T) {
	srv, addr := newAPI(t)
	c := &api.Client{Addr: srv.URL, Token: token}
	ctx := context.Background()
	waitPhase := func(id int64, phase engine.Phase) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for st, _ := c.Service(ctx, "web"); st.Rollout.ID != id || st.Rollout.Phase != phase; st, _ = c.Service(ctx, "web") {
			if time.Now().After(deadline) {
				t.Fatalf("rollout #%d: %s (%s), want %s", st.Rollout.ID, st.Rollout.Phase, st.Rollout.Reason, phase)
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}
	waitPhase(1, engine.PhaseCompleted)
	r, err := c.Deploy(ctx, "web", api.DeployBody{Version: "v2", Targets: []string{addr}})
	if err != nil {
		t.Fatal(err)
	}
	waitPhase(r.ID, engine.PhasePaused) // autoPromote: false
	var apiErr *api.Error
	if _, err := c.Command(ctx, "web", engine.CmdPause); !errors.As(err, &apiErr) || apiErr.Status != 409 || !strings.Contains(apiErr.Message, "already paused") {
		t.Fatalf("pause of a paused rollout: %v; want 409 already paused", err)
	}
	if _, err := c.Promote(ctx, "web", false); err != nil {
		t.Fatal(err)
	}
	waitPhase(r.ID, engine.PhaseWatching)
	got, err := c.Command(ctx, "web", engine.CmdPause)
	if err != nil || got.Phase != engine.PhasePaused || !strings.Contains(got.Reason, "paused by request") {
		t.Fatalf("POST pause in the watch = %s %q, %v; want Paused by request", got.Phase, got.Reason, err)
	}
	got, err = c.Command(ctx, "web", engine.CmdResume)
	if err != nil || got.Phase != engine.PhaseWatching {
		t.Fatalf("POST resume = %s %q, %v; want Watching again", got.Phase, got.Reason, err)
	}
}

func TestAPIThrottlesTokenGuessing(t *testing.T) {
	now := time.Unix(1_000_000, 0)
	var log strings.Builder
	th := &throttle.Throttle{Now: func() time.Time { return now }, Logger: slog.New(slog.NewTextHandler(&log, nil))}
	quiet := slog.New(slog.DiscardHandler)
	srv := httptest.NewServer((&api.Server{Controller: &controller.Controller{Logger: quiet}, Token: token, Logger: quiet,
		Throttle: th}).Handler())
	t.Cleanup(srv.Close)
	for i := range throttle.DefaultBurst {
		if status, body := call(t, srv, "GET", "/v1/services", "Bearer guess", ""); status != 401 {
			t.Fatalf("wrong token #%d: %d %s, want 401", i+1, status, body)
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/services", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "1" ||
		!strings.Contains(string(b), api.CodeThrottled) || !strings.Contains(string(b), "too many wrong tokens") {
		t.Fatalf("the right token after %d wrong ones: %d Retry-After %q %s; want 429, Retry-After 1, code throttled",
			throttle.DefaultBurst, resp.StatusCode, resp.Header.Get("Retry-After"), b)
	}
	if !strings.Contains(log.String(), "throttled") {
		t.Fatalf("no log line: %q", log.String())
	}
	now = now.Add(throttle.DefaultEvery)
	if status, body := call(t, srv, "GET", "/v1/services", "Bearer "+token, ""); status != 200 {
		t.Fatalf("the right token one interval later: %d %s, want 200", status, body)
	}
}

// TestAPIOneBlastRadius: a paused rollout makes no decision while users
// reach its new version, so its stored exposure lags; the status, the
// history and the rollout all answer the live count.
func TestAPIOneBlastRadius(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, "ok") }))
	t.Cleanup(backend.Close)
	addr := strings.TrimPrefix(backend.URL, "http://")
	cfg, err := spec.Parse("api.yaml", []byte(fmt.Sprintf(`admin: {token: %s}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: [%q], v2: [%q]}}}
    health: {interval: 20ms}
    blueGreen: {autoPromote: false, previewWeight: 50, previewDuration: 50ms, minRequests: 0}
`, token, addr, addr)))
	if err != nil {
		t.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.DiscardHandler)
	p := &proxy.Proxy{Logger: quiet}
	plat := static.New()
	plat.SetTargets("web", "v1", []string{addr})
	plat.SetTargets("web", "v2", []string{addr})
	c := &controller.Controller{Store: st, Router: &routerbuiltin.Router{Proxy: p}, Metrics: &metricsbuiltin.Metrics{Proxy: p},
		Templates: cfg.Analysis, Tick: 20 * time.Millisecond, Logger: quiet}
	c.Add(controller.Service{Spec: cfg.Services[0], Platform: plat})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	srv := httptest.NewServer((&api.Server{Controller: c, Token: token, Logger: quiet}).Handler())
	t.Cleanup(func() { srv.Close(); cancel(); <-done; st.Close() })
	client := &api.Client{Addr: srv.URL, Token: token}
	waitRollout := func(id int64, phase engine.Phase) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for {
			s, err := client.Service(context.Background(), "web")
			if err == nil && s.Rollout.ID == id && s.Rollout.Phase == phase {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("rollout #%d not %s after 10s: %+v %v", id, phase, s.Rollout, err)
			}
			time.Sleep(10 * time.Millisecond) // polling interval
		}
	}
	waitRollout(1, engine.PhaseCompleted)
	if _, err := client.Deploy(context.Background(), "web", api.DeployBody{Version: "v2"}); err != nil {
		t.Fatal(err)
	}
	waitRollout(2, engine.PhasePaused)
	for i := range 40 { // users, half of them to v2
		req := httptest.NewRequest("GET", "http://web/", nil)
		req.Header.Set("X-Forwarded-For", fmt.Sprintf("10.0.0.%d", i))
		p.ServeHTTP(httptest.NewRecorder(), req)
	}
	// The status is refreshed each tick: wait until it has counted every
	// request (two reads a dozen ticks apart agree).
	var s, prev controller.ServiceStatus
	deadline := time.Now().Add(10 * time.Second)
	for s.Exposure.Requests == 0 || s.Exposure != prev.Exposure {
		prev = s
		time.Sleep(250 * time.Millisecond) // polling interval
		if s, err = client.Service(context.Background(), "web"); err != nil || time.Now().After(deadline) {
			t.Fatalf("status after 40 requests: exposure %+v, %v; want some on v2, settled", s.Exposure, err)
		}
	}
	rs, err := client.Rollouts(context.Background(), "web", 1)
	if err != nil || len(rs) != 1 {
		t.Fatal(rs, err)
	}
	one, err := client.Rollout(context.Background(), 2)
	if err != nil {
		t.Fatal(err)
	}
	if rs[0].Exposure.Requests != s.Exposure.Requests || one.Exposure.Requests != s.Exposure.Requests ||
		s.Rollout.Exposure.Requests != s.Exposure.Requests {
		t.Errorf("blast radius: status %d (its rollout %d), history %d, rollout %d requests; want one number",
			s.Exposure.Requests, s.Rollout.Exposure.Requests, rs[0].Exposure.Requests, one.Exposure.Requests)
	}
}
