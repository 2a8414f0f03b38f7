package controller_test

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	"github.com/bluejay-deploy/bluejay/internal/router"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// owning is the static platform marked as owning its instances, as the
// process platform is: what it does not list does not run.
type owning struct{ *static.Platform }

func (owning) OwnsInstances() {}

// recorder applies routes to the proxy and remembers each.
type recorder struct {
	router.Router
	mu     sync.Mutex
	routes []router.Route
}

func (r *recorder) SetRoute(ctx context.Context, rt router.Route) error {
	r.mu.Lock()
	r.routes = append(r.routes, rt)
	r.mu.Unlock()
	return r.Router.SetRoute(ctx, rt)
}

func (r *recorder) first() (router.Route, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.routes) == 0 {
		return router.Route{}, false
	}
	return r.routes[0], true
}

// Regression: after a restart the stored route was re-applied whole, so
// requests went to instances that had died while bluejay was down until
// their probes failed.
func TestRestartDropsInstancesThatNoLongerRun(t *testing.T) {
	live, dead := newBackend(t, "v1"), newBackend(t, "v1")
	db := filepath.Join(t.TempDir(), "b.db")
	svc := service(live)
	svc.Platform.Static.Targets["v1"] = []string{live.addr(), dead.addr()}
	r := newRig(t, db, svc)
	r.waitPhase(1, engine.PhaseCompleted)
	r.stop()
	dead.Close()

	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	stored, _ := st.ListRoutes(context.Background())
	if len(stored) != 1 || len(stored[0].Backends[0].Addrs) != 2 {
		t.Fatalf("stored route before the restart: %+v, want v1 on two addresses", stored)
	}
	plat := owning{static.New()}
	plat.SetTargets("web", "v1", []string{live.addr()}) // the platform knows only the live one
	if err := plat.Deploy(context.Background(), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	p := &proxy.Proxy{Logger: quiet}
	rec := &recorder{Router: &routerbuiltin.Router{Proxy: p}}
	c := &controller.Controller{Store: st, Router: rec, Metrics: &metricsbuiltin.Metrics{Proxy: p}, Drainer: p, Logger: quiet}
	c.Add(controller.Service{Spec: svc, Platform: plat})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()

	deadline := time.Now().Add(5 * time.Second)
	for _, ok := rec.first(); !ok; _, ok = rec.first() {
		if time.Now().After(deadline) {
			t.Fatal("no route applied after the restart")
		}
		time.Sleep(5 * time.Millisecond)
	}
	first, _ := rec.first()
	if got := first.Backends[0].Addrs; !slices.Equal(got, []string{live.addr()}) {
		t.Errorf("first route applied after the restart sends v1 to %v, want only the running %s", got, live.addr())
	}
	stored, _ = st.ListRoutes(context.Background())
	if got := stored[0].Backends[0].Addrs; !slices.Equal(got, []string{live.addr()}) {
		t.Errorf("stored route after the restart: %v, want the trimmed one persisted", got)
	}
}
