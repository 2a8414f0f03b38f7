package controller_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// selfReady is a platform that reports readiness itself, as the
// kubernetes platform does: a version's instances are NAME-0..N-1 at one
// address (its Service), and each is unready for a moment after it is
// added, as a starting pod is. The ids come back when a version is
// scaled up or deployed again.
type selfReady struct {
	mu    sync.Mutex
	addrs map[string]string      // version → its backend's address
	added map[string][]time.Time // version → when each instance was added
}

const startup = 100 * time.Millisecond

func (p *selfReady) ReportsReadiness() {}

func (p *selfReady) Deploy(_ context.Context, v platform.Version) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	n := v.Replicas
	if n == 0 {
		n = 2 // the configured count
	}
	added := p.added[v.Label]
	for len(added) < n {
		added = append(added, time.Now())
	}
	p.added[v.Label] = added[:n]
	return nil
}

func (p *selfReady) Instances(service, version string) ([]platform.Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []platform.Instance
	for i, at := range p.added[version] {
		out = append(out, platform.Instance{ID: fmt.Sprintf("%s-%s-%d", service, version, i), Version: version,
			Addr: p.addrs[version], State: platform.StateRunning, Ready: time.Since(at) > startup, Started: at})
	}
	return out, nil
}

func (p *selfReady) Stop(_ context.Context, _, version string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.added, version)
	return nil
}

// TestVersionDeployedAgainStartsAfresh: on a platform whose instance ids
// come back (a Deployment's pod indexes), a version stopped and deployed
// again — v1 → v2 → v1 by rolling updates — starts afresh: its pods
// still starting are not instances that lost their readiness (which
// would halt the rolling update).
func TestVersionDeployedAgainStartsAfresh(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	plat := &selfReady{addrs: map[string]string{"v1": v1.addr(), "v2": v2.addr()}, added: map[string][]time.Time{}}
	svc := service(v1, func(s *spec.Service) {
		s.Platform = spec.Platform{Kubernetes: &spec.KubernetesPlatform{Image: "web:{{.Version}}", Port: 8080, Replicas: 2}}
		s.Strategy = spec.StrategyRolling
		s.Rolling = spec.Rolling{MaxSurge: 1, MinHealthyTime: spec.Duration(50 * time.Millisecond)}
	})
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, st, svc, plat)
	r.waitPhase(1, engine.PhaseCompleted)
	for _, v := range []string{"v2", "v1"} {
		ro, err := r.ctrl.Deploy(context.Background(), controller.DeployRequest{Service: "web", Version: v})
		if err != nil {
			t.Fatalf("deploy %s: %v", v, err)
		}
		r.waitPhase(ro.ID, engine.PhaseCompleted)
	}
	if v, _ := r.get(); v != "v1" {
		t.Errorf("after v1 came back, users get %q", v)
	}
}

// slowStop is the static platform with a Stop that waits to be let go,
// recording the order of calls.
type slowStop struct {
	platform.Platform
	release chan struct{}
	mu      sync.Mutex
	calls   []string
}

func (p *slowStop) log(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls = append(p.calls, s)
}

func (p *slowStop) Deploy(ctx context.Context, v platform.Version) error {
	p.log("deploy " + v.Label)
	return p.Platform.Deploy(ctx, v)
}

func (p *slowStop) Stop(ctx context.Context, service, version string) error {
	p.log("stop " + version + " begins")
	if version == "v1" {
		<-p.release
	}
	defer p.log("stop " + version + " ends")
	return p.Platform.Stop(ctx, service, version)
}

// TestDeployWaitsForTheVersionsStop: a version still being stopped (the
// old one, after its scale-down delay) and wanted again (a rollback to
// it) is deployed only once the stop is over, so the stop cannot take the
// new instances with it.
func TestDeployWaitsForTheVersionsStop(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc := service(v1, func(s *spec.Service) {
		s.Platform.Static.Targets["v2"] = []string{v2.addr()}
		s.BlueGreen.Watch, s.BlueGreen.ScaleDownDelay = 0, 0
	})
	st := static.New()
	for v, addrs := range svc.Platform.Static.Targets {
		st.SetTargets(svc.Name, v, addrs)
	}
	plat := &slowStop{Platform: st, release: make(chan struct{})}
	db, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	r := newRigWith(t, db, svc, plat)
	r.waitPhase(1, engine.PhaseCompleted)
	ro, err := r.ctrl.Deploy(context.Background(), controller.DeployRequest{Service: "web", Version: "v2"})
	if err != nil {
		t.Fatal(err)
	}
	r.waitPhase(ro.ID, engine.PhaseCompleted)
	deadline := time.Now().Add(10 * time.Second)
	for !slices.Contains(plat.snapshot(), "stop v1 begins") {
		if time.Now().After(deadline) {
			t.Fatalf("v1's stop never began: %v", plat.snapshot())
		}
		time.Sleep(5 * time.Millisecond) // polling the calls
	}
	back, err := r.ctrl.Rollback(context.Background(), "web", "")
	if err != nil {
		t.Fatal(err)
	}
	// The rollback waits for v1; a few ticks pass with the stop held.
	for range 5 {
		if _, err := r.ctrl.Status("web"); err != nil {
			t.Fatal(err)
		}
	}
	close(plat.release)
	r.waitPhase(back.ID, engine.PhaseCompleted)
	calls := plat.snapshot()
	begin, end := slices.Index(calls, "stop v1 begins"), slices.Index(calls, "stop v1 ends")
	for i := begin; i < end; i++ {
		if calls[i] == "deploy v1" {
			t.Fatalf("v1 was deployed while its stop was under way: %v", calls)
		}
	}
	if v, _ := r.get(); v != "v1" {
		t.Errorf("after the rollback users get %q, want v1", v)
	}
}

func (p *slowStop) snapshot() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.calls)
}
