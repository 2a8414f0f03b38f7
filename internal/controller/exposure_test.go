package controller_test

import (
	"context"
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// TestRolledBackExposureSurvivesRelease: a rolled-back canary keeps its
// instances for abortScaleDownDelay, and the rollout settles (re-reading
// its blast radius) only once they stop. With a proxy that releases the
// departed version before that (Retain shorter than the delay), the
// blast radius the rollback recorded must not shrink to the zero counts
// of a released version.
func TestRolledBackExposureSurvivesRelease(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc, templates := canaryService(v1, time.Minute, 50)
	svc.Canary.AbortScaleDownDelay = spec.Duration(3 * time.Second)
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	p := &proxy.Proxy{VersionHeader: "X-Bluejay-Version", Logger: quiet, Retain: time.Millisecond}
	t.Cleanup(p.Close)
	c := &controller.Controller{Store: st, Router: &routerbuiltin.Router{Proxy: p}, Metrics: &metricsbuiltin.Metrics{Proxy: p},
		Drainer: p, Tick: 20 * time.Millisecond, DrainTimeout: time.Second, Logger: quiet, Templates: templates}
	p.OnError = func(service, _ string) { c.Notify(service) }
	plat := static.New()
	plat.SetTargets("web", "v1", []string{v1.addr()})
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

	r.waitPhase(1, engine.PhaseCompleted)
	tr := sendTraffic(r.front.URL+"/", "v2", 2*time.Millisecond)
	defer tr.halt()
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhaseProgressing)
	v2.status.Store(500)
	ro = r.waitPhase(ro.ID, engine.PhaseRolledBack)
	if ro.Exposure.Errors == 0 {
		t.Fatalf("rolled back with exposure %+v, want the failed requests counted", ro.Exposure)
	}

	deadline := time.Now().Add(20 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	var settled engine.Rollout
	for {
		s, _ := c.Status("web")
		if settled = s.Rollout; settled.ID == ro.ID && settled.Settled {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("rollout #%d never settled: %s, %s", ro.ID, settled.Phase, settled.Reason)
		}
		<-tick.C
	}
	if got := p.Counts("web", "v2"); got.Requests != 0 {
		t.Fatalf("the proxy still has v2's counts (%+v) when the rollout settled: the test needs it released", got)
	}
	if settled.Exposure.Requests < ro.Exposure.Requests || settled.Exposure.Errors < ro.Exposure.Errors {
		t.Errorf("exposure when settled = %+v, below the %+v recorded at the rollback", settled.Exposure, ro.Exposure)
	}
}
