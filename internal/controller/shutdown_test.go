package controller_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// stopOutlivingShutdown is a platform whose stop of v1 goes on a while
// after the controller's context ended (a process given its grace
// period), then reads the store, as a platform's stop may write its own
// state.
type stopOutlivingShutdown struct {
	platform.Platform
	store    store.Store
	began    chan struct{}
	returned atomic.Bool
	storeErr atomic.Value // error of the store read after the shutdown, if any
}

func (p *stopOutlivingShutdown) Stop(ctx context.Context, service, version string) error {
	if version != "v1" {
		return p.Platform.Stop(ctx, service, version)
	}
	close(p.began)
	<-ctx.Done()
	// The stop ends a moment after the shutdown began: long enough for a
	// controller that does not wait to have returned, and its owner to
	// have closed the store.
	release := make(chan struct{})
	time.AfterFunc(200*time.Millisecond, func() { close(release) })
	<-release
	if _, err := p.store.ListRoutes(context.Background()); err != nil {
		p.storeErr.Store(err)
	}
	p.returned.Store(true)
	return p.Platform.Stop(context.Background(), service, version)
}

// TestShutdownWaitsForARunningStop: Run returned as soon as its loops
// did, while stops, scale-downs, smoke tests and hooks it had started
// still ran, and its owner closed the store under them ("sql: database
// is closed"). Run must wait for them.
func TestShutdownWaitsForARunningStop(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc := service(v1, func(s *spec.Service) {
		s.Platform.Static.Targets["v2"] = []string{v2.addr()}
		s.BlueGreen.Watch, s.BlueGreen.ScaleDownDelay = 0, 0
	})
	st := static.New()
	for v, addrs := range svc.Platform.Static.Targets {
		st.SetTargets(svc.Name, v, addrs)
	}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	plat := &stopOutlivingShutdown{Platform: st, store: db, began: make(chan struct{})}
	r := newRigWith(t, db, svc, plat)
	r.waitPhase(1, engine.PhaseCompleted)
	ro, err := r.ctrl.Deploy(context.Background(), controller.DeployRequest{Service: "web", Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitPhase(ro.ID, engine.PhaseCompleted)
	select {
	case <-plat.began:
	case <-time.After(10 * time.Second):
		t.Fatal("v1's stop never began")
	}
	r.stop() // cancels Run, waits for it, closes the store
	if !plat.returned.Load() {
		t.Error("Run returned while the stop it started was still running")
	}
	if err, _ := plat.storeErr.Load().(error); err != nil {
		t.Errorf("the stop found the store closed under it: %v", err)
	}
}
