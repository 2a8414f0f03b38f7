package controller_test

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

var quiet = slog.New(slog.DiscardHandler)

// backend is a real HTTP server standing in for one instance of a version.
type backend struct {
	*httptest.Server
	version  string
	status   atomic.Int32 // status of GET /
	health   atomic.Int32 // status of /healthz
	viaProxy atomic.Int64 // user requests, which carry X-Forwarded-For
}

func newBackend(t *testing.T, version string) *backend {
	b := &backend{version: version}
	b.status.Store(200)
	b.health.Store(200)
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			w.WriteHeader(int(b.health.Load()))
			return
		}
		if r.Header.Get("X-Forwarded-For") != "" {
			b.viaProxy.Add(1)
		}
		w.WriteHeader(int(b.status.Load()))
		fmt.Fprintf(w, "version=%s\n", version)
	}))
	t.Cleanup(b.Close)
	return b
}

func (b *backend) addr() string { return strings.TrimPrefix(b.URL, "http://") }

// rig is a controller over a real proxy, a real SQLite store and the
// static platform, with each version one httptest backend.
type rig struct {
	t      *testing.T
	ctrl   *controller.Controller
	proxy  *proxy.Proxy
	front  *httptest.Server
	store  store.Store
	cancel context.CancelFunc
	done   chan struct{}
}

func service(b *backend, mod ...func(*spec.Service)) spec.Service {
	rate := 0.05
	s := spec.Service{Name: "web", Version: b.version, Match: spec.Match{PathPrefix: "/"},
		Platform: spec.Platform{Static: &spec.Static{Targets: map[string][]string{b.version: {b.addr()}}}},
		Health: spec.Health{Path: "/healthz", Interval: spec.Duration(20 * time.Millisecond), Timeout: spec.Duration(time.Second),
			HealthyThreshold: 1, UnhealthyThreshold: 2, ReadyTimeout: spec.Duration(2 * time.Second)},
		Smoke:    []spec.Smoke{{Method: "GET", Path: "/", ExpectStatus: 200, ExpectBody: "version=", Timeout: spec.Duration(time.Second)}},
		Strategy: spec.StrategyBlueGreen,
		// minRequests 0: most tests send no traffic, and a watch needs
		// minRequests requests to pass (those that judge traffic set it)
		BlueGreen: spec.BlueGreen{Watch: spec.Duration(300 * time.Millisecond), ScaleDownDelay: spec.Duration(time.Minute),
			MaxErrorRate: &rate},
	}
	for _, m := range mod {
		m(&s)
	}
	return s
}

func newRig(t *testing.T, dbPath string, svc spec.Service, templates ...map[string]spec.AnalysisTemplate) *rig {
	t.Helper()
	st, err := sqlite.Open(dbPath)
	if err != nil {
		t.Fatal(err)
	}
	return newRigOn(t, st, svc, templates...)
}

// newRigOn is newRig on a store of the caller's, which the rig closes.
func newRigOn(t *testing.T, st store.Store, svc spec.Service, templates ...map[string]spec.AnalysisTemplate) *rig {
	t.Helper()
	plat := static.New()
	for v, addrs := range svc.Platform.Static.Targets {
		plat.SetTargets(svc.Name, v, addrs)
	}
	return newRigWith(t, st, svc, plat, templates...)
}

// newRigWith is newRigOn with a platform of the caller's.
func newRigWith(t *testing.T, st store.Store, svc spec.Service, plat platform.Platform, templates ...map[string]spec.AnalysisTemplate) *rig {
	t.Helper()
	return newRigSet(t, st, svc, plat, nil, templates...)
}

// newRigSet is newRigWith with set, when not nil, changing the
// controller before it runs (another router, a logger).
func newRigSet(t *testing.T, st store.Store, svc spec.Service, plat platform.Platform, set func(*controller.Controller),
	templates ...map[string]spec.AnalysisTemplate) *rig {
	t.Helper()
	p := &proxy.Proxy{VersionHeader: "X-Bluejay-Version", Logger: quiet}
	c := &controller.Controller{Store: st, Router: &routerbuiltin.Router{Proxy: p}, Metrics: &metricsbuiltin.Metrics{Proxy: p},
		Drainer: p, Tick: 20 * time.Millisecond, DrainTimeout: time.Second, Logger: quiet}
	if len(templates) > 0 {
		c.Templates = templates[0]
	}
	if set != nil {
		set(c)
	}
	p.OnError = func(service, _ string) { c.Notify(service) }
	c.Add(controller.Service{Spec: svc, Platform: plat})
	ctx, cancel := context.WithCancel(context.Background())
	r := &rig{t: t, ctrl: c, proxy: p, front: httptest.NewServer(p), store: st, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		if err := c.Run(ctx); err != nil {
			t.Errorf("controller: %v", err)
		}
	}()
	t.Cleanup(r.stop)
	return r
}

func (r *rig) stop() {
	r.cancel()
	<-r.done
	r.front.Close()
	r.store.Close()
}

// waitPhase polls the service's latest rollout until it is in phase.
func (r *rig) waitPhase(id int64, phase engine.Phase) engine.Rollout {
	r.t.Helper()
	var got engine.Rollout
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		st, _ := r.ctrl.Status("web")
		got = st.Rollout
		if got.ID == id && got.Phase == phase {
			return got
		}
		if got.ID == id && got.Phase.Terminal() && got.Phase != phase {
			break
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for a condition
	}
	r.t.Fatalf("rollout #%d: phase %s (%s), want %s", id, got.Phase, got.Reason, phase)
	return got
}

// waitReason polls until the rollout's reason says want.
func (r *rig) waitReason(id int64, want string) {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var got engine.Rollout
	for time.Now().Before(deadline) {
		st, _ := r.ctrl.Status("web")
		if got = st.Rollout; got.ID == id && strings.Contains(got.Reason, want) {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for a condition
	}
	r.t.Fatalf("rollout #%d: reason %q, want it to say %q", id, got.Reason, want)
}

// waitServed polls until the rollout's new version served n user
// requests in its current phase (its exposure grows by n from now).
func (r *rig) waitServed(id int64, n int64) {
	r.t.Helper()
	st, _ := r.ctrl.Status("web")
	from := st.Exposure.Requests
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if st, _ := r.ctrl.Status("web"); st.Rollout.ID == id && st.Exposure.Requests >= from+n {
			return
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for a condition
	}
	r.t.Fatalf("rollout #%d: the new version did not serve %d more requests", id, n)
}

// get sends one user request through the proxy and returns the version
// that served it and the status.
func (r *rig) get() (string, int) {
	resp, err := http.Get(r.front.URL + "/")
	if err != nil {
		return "", 0
	}
	resp.Body.Close()
	return resp.Header.Get("X-Bluejay-Version"), resp.StatusCode
}

func (r *rig) deploy(b *backend) engine.Rollout {
	r.t.Helper()
	ro, err := r.ctrl.Deploy(context.Background(), controller.DeployRequest{Service: "web", Version: b.version, Targets: []string{b.addr()}})
	if err != nil {
		r.t.Fatalf("deploy %s: %v", b.version, err)
	}
	return ro
}

func TestFirstStartDeploysConfiguredVersion(t *testing.T) {
	v1 := newBackend(t, "v1")
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), service(v1))
	r.waitPhase(1, engine.PhaseCompleted)
	if v, code := r.get(); v != "v1" || code != 200 {
		t.Fatalf("GET through the proxy: %q %d, want v1 200", v, code)
	}
	routes, err := r.store.ListRoutes(context.Background())
	if err != nil || len(routes) != 1 || routes[0].Weights()["v1"] != 100 {
		t.Fatalf("stored routes = %+v, %v; want web v1=100", routes, err)
	}
}

// fakeClock is the controller's injected clock (Controller.Now): a test
// moves it on instead of waiting for a preview, a watch or a timeout.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *fakeClock { return &fakeClock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *fakeClock) Advance(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

// newClockRig is newRig on an injected clock.
func newClockRig(t *testing.T, svc spec.Service, clk *fakeClock) *rig {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	plat := static.New()
	for v, addrs := range svc.Platform.Static.Targets {
		plat.SetTargets(svc.Name, v, addrs)
	}
	return newRigSet(t, st, svc, plat, func(c *controller.Controller) { c.Now = clk.Now })
}

// TestBlueGreenSwitchesAndRecordsEveryPhase runs on an injected clock:
// the hour-long preview and watch pass when the test moves time on, not
// by waiting.
func TestBlueGreenSwitchesAndRecordsEveryPhase(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	clk := newClock()
	r := newClockRig(t, service(v1, func(s *spec.Service) {
		s.BlueGreen.PreviewWeight = 50
		s.BlueGreen.PreviewDuration = spec.Duration(time.Hour)
		s.BlueGreen.Watch = spec.Duration(time.Hour)
		s.BlueGreen.MinRequests = 5 // the preview and the watch pass on traffic
	}), clk)
	r.waitPhase(1, engine.PhaseCompleted)
	tr := sendTraffic(r.front.URL+"/", "v2", 5*time.Millisecond)
	defer tr.halt()
	ro := r.deploy(v2)
	r.waitPhase(ro.ID, engine.PhasePreview)
	r.waitServed(ro.ID, 5)
	clk.Advance(time.Hour)
	r.waitPhase(ro.ID, engine.PhaseWatching)
	r.waitServed(ro.ID, 5)
	clk.Advance(time.Hour)
	r.waitPhase(ro.ID, engine.PhaseCompleted)
	if v, _ := r.get(); v != "v2" {
		t.Fatalf("after the switch GET served by %q, want v2", v)
	}
	evs, err := r.ctrl.Events(context.Background(), "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	var phases []string
	for _, e := range evs {
		if e.RolloutID == ro.ID && e.From != e.Phase {
			phases = append(phases, string(e.Phase))
		}
	}
	want := "Deploying Smoke Preview Watching Completed"
	if got := strings.Join(phases, " "); got != want {
		t.Fatalf("phases recorded = %q, want %q", got, want)
	}
}

func TestFailingVersionNeverGetsUserTraffic(t *testing.T) {
	for _, tc := range []struct {
		name   string
		break_ func(*backend)
		why    string
	}{
		{"failing health", func(b *backend) { b.health.Store(503) }, "not ready"},
		{"failing smoke", func(b *backend) { b.status.Store(500) }, "status 500, want 200"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
			tc.break_(v2)
			clk := newClock() // the readyTimeout passes when the test says so
			r := newClockRig(t, service(v1, func(s *spec.Service) {
				s.Health.ReadyTimeout = spec.Duration(time.Hour)
			}), clk)
			r.waitPhase(1, engine.PhaseCompleted)
			id := r.deploy(v2).ID
			if tc.name == "failing health" {
				r.waitReason(id, "0/1 instances")
				clk.Advance(time.Hour)
			}
			ro := r.waitPhase(id, engine.PhaseFailed)
			if !strings.Contains(ro.Reason, tc.why) {
				t.Errorf("reason %q, want it to say %q", ro.Reason, tc.why)
			}
			for range 20 {
				if v, code := r.get(); v != "v1" || code != 200 {
					t.Fatalf("GET served by %q %d, want v1 200", v, code)
				}
			}
			if n := v2.viaProxy.Load(); n != 0 {
				t.Fatalf("v2 received %d user requests, want 0", n)
			}
		})
	}
}

// TestWatchFlipsBackOnErrors runs on an injected clock that never moves:
// the watch cannot end on its own however slow the machine is.
func TestWatchFlipsBackOnErrors(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	r := newClockRig(t, service(v1, func(s *spec.Service) {
		s.BlueGreen.Watch = spec.Duration(time.Minute)
	}), newClock())
	r.waitPhase(1, engine.PhaseCompleted)
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhaseWatching)
	v2.status.Store(500)
	for range 10 {
		r.get()
	}
	ro = r.waitPhase(ro.ID, engine.PhaseRolledBack)
	if !strings.Contains(ro.Reason, "flipped all traffic back to v1") || ro.Exposure.Errors == 0 {
		t.Fatalf("rolled back with reason %q exposure %+v; want the flip-back and the failed requests counted", ro.Reason, ro.Exposure)
	}
	if v, code := r.get(); v != "v1" || code != 200 {
		t.Fatalf("after the flip-back GET served by %q %d, want v1 200", v, code)
	}
}

func TestCommandsAreCheckedAgainstThePhase(t *testing.T) {
	v1, v2, v3 := newBackend(t, "v1"), newBackend(t, "v2"), newBackend(t, "v3")
	off := false
	// On an injected clock that never moves: the watch that rollback
	// interrupts cannot end first on a slow machine.
	r := newClockRig(t, service(v1, func(s *spec.Service) { s.BlueGreen.AutoPromote = &off }), newClock())
	r.waitPhase(1, engine.PhaseCompleted)
	ctx := context.Background()
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhasePaused)

	_, err := r.ctrl.Deploy(ctx, controller.DeployRequest{Service: "web", Version: "v3", Targets: []string{v3.addr()}})
	if !errors.Is(err, controller.ErrConflict) || !strings.Contains(err.Error(), "active rollout") {
		t.Fatalf("deploy during a rollout: %v, want a conflict naming the active rollout", err)
	}
	if _, err := r.ctrl.Deploy(ctx, controller.DeployRequest{Service: "nope", Version: "v3"}); !errors.Is(err, controller.ErrUnknownService) {
		t.Fatalf("deploy to an unknown service: %v", err)
	}
	if _, err := r.ctrl.Deploy(ctx, controller.DeployRequest{Service: "web", Version: "v 3"}); !errors.Is(err, controller.ErrInvalid) {
		t.Fatalf("deploy of a bad label: %v", err)
	}
	if got, err := r.ctrl.Command(ctx, "web", engine.CmdPromote); err != nil || got.Phase != engine.PhaseWatching {
		t.Fatalf("promote from the pause: %s, %v; want Watching", got.Phase, err)
	}
	if got, err := r.ctrl.Rollback(ctx, "web", ""); err != nil || got.Phase != engine.PhaseRolledBack {
		t.Fatalf("rollback during the watch: %s, %v; want RolledBack", got.Phase, err)
	}
	if _, err := r.ctrl.Command(ctx, "web", engine.CmdPromote); !errors.Is(err, controller.ErrConflict) {
		t.Fatalf("promote after the end: %v, want a conflict", err)
	}
	if v, _ := r.get(); v != "v1" {
		t.Fatalf("after rollback GET served by %q, want v1", v)
	}
	_ = ro
}

func TestRollbackAfterScaleDownRedeploysPrevious(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), service(v1, func(s *spec.Service) {
		s.BlueGreen.ScaleDownDelay = 0
	}))
	r.waitPhase(1, engine.PhaseCompleted)
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhaseCompleted)
	deadline := time.Now().Add(5 * time.Second)
	for st, _ := r.ctrl.Status("web"); !st.Rollout.Settled; st, _ = r.ctrl.Status("web") {
		if time.Now().After(deadline) {
			t.Fatal("rollout never settled (old version not stopped)")
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	back, err := r.ctrl.Rollback(context.Background(), "web", "")
	if err != nil {
		t.Fatalf("rollback after scale-down: %v", err)
	}
	if back.ID == ro.ID || back.To.Label != "v1" || back.From.Label != "v2" {
		t.Fatalf("rollback = #%d %s→%s, want a new rollout v2→v1", back.ID, back.From.Label, back.To.Label)
	}
	r.waitPhase(back.ID, engine.PhaseCompleted)
}

// TestRestartRestoresRoutesAndResumes pins that a new controller on the
// same store routes as the store says before its loops run, and carries on
// an unfinished rollout from its persisted phase.
func TestRestartRestoresRoutesAndResumes(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	db := filepath.Join(t.TempDir(), "b.db")
	off := false
	svc := service(v1, func(s *spec.Service) { s.BlueGreen.AutoPromote = &off })
	r := newRig(t, db, svc)
	r.waitPhase(1, engine.PhaseCompleted)
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhasePaused)
	if _, err := r.ctrl.Command(context.Background(), "web", engine.CmdPromote); err != nil {
		t.Fatal(err)
	}
	r.waitPhase(ro.ID, engine.PhaseWatching)
	r.stop()

	r2 := newRig(t, db, svc)
	r2.waitPhase(ro.ID, engine.PhaseWatching)
	if v, code := r2.get(); v != "v2" || code != 200 {
		t.Fatalf("after restart GET served by %q %d, want v2 200", v, code)
	}
	if _, err := r2.ctrl.Command(context.Background(), "web", engine.CmdPromote); err != nil {
		t.Fatalf("promote after restart: %v", err)
	}
	r2.waitPhase(ro.ID, engine.PhaseCompleted)
}
