package controller_test

import (
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// declarativeRig is a rig whose static platform knows the targets of
// every backend, so that a reload naming a version can deploy it.
func declarativeRig(t *testing.T, svc spec.Service, bs ...*backend) *rig {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	plat := static.New()
	for _, b := range bs {
		plat.SetTargets("web", b.version, []string{b.addr()})
		svc.Platform.Static.Targets[b.version] = []string{b.addr()} // the file names every version's targets
	}
	return newRigWith(t, st, svc, plat)
}

// reloadVersion reloads the service with its version set to v.
func (r *rig) reloadVersion(svc spec.Service, v string) controller.ReloadResult {
	r.t.Helper()
	svc.Version = v
	res, err := r.ctrl.Reload(context.Background(), controller.Reload{Services: []controller.Service{{Spec: svc}}})
	if err != nil {
		r.t.Fatalf("reload to %s: %v", v, err)
	}
	return res
}

func (r *rig) latest() engine.Rollout {
	st, err := r.ctrl.Status("web")
	if err != nil {
		r.t.Fatal(err)
	}
	return st.Rollout
}

// waitRollout polls until the service's latest rollout is a new one.
func (r *rig) waitRollout(id int64) engine.Rollout {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if ro := r.latest(); ro.ID == id {
			return ro
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
	r.t.Fatalf("no rollout #%d; latest is #%d %s", id, r.latest().ID, r.latest().Phase)
	return engine.Rollout{}
}

// TestReloadedVersionRollsOut: a reload that changes services[].version
// starts a rollout to it, as deploy would, and status shows the desired
// version. Before, the version was read on the first start only.
func TestReloadedVersionRollsOut(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc := service(v1)
	r := declarativeRig(t, svc, v1, v2)
	r.waitPhase(1, engine.PhaseCompleted)
	res := r.reloadVersion(svc, "v2")
	if len(res.Rollouts) != 1 || !strings.Contains(res.Rollouts[0], "rollout #2 to v2") {
		t.Fatalf("reload result %+v, want rollout #2 to v2", res)
	}
	r.waitPhase(2, engine.PhaseCompleted)
	if v, _ := r.get(); v != "v2" {
		t.Errorf("after the rollout users get %q, want v2", v)
	}
	if st, _ := r.ctrl.Status("web"); st.Desired != "v2" || st.Stable != "v2" {
		t.Errorf("status desired %q stable %q, want v2 v2", st.Desired, st.Stable)
	}
	// The same version again changes nothing.
	if res := r.reloadVersion(svc, "v2"); len(res.Rollouts) != 0 {
		t.Errorf("reloading an unchanged version started %v", res.Rollouts)
	}
}

// TestReloadedVersionMidRollout: a version changed while a rollout to
// another is active aborts that one and rolls out the new one (the
// default, onNewVersion: abort), or waits for it to end (queue).
func TestReloadedVersionMidRollout(t *testing.T) {
	for _, policy := range []string{spec.OnNewVersionAbort, spec.OnNewVersionQueue} {
		t.Run(policy, func(t *testing.T) {
			v1, v2, v3 := newBackend(t, "v1"), newBackend(t, "v2"), newBackend(t, "v3")
			svc := service(v1, func(s *spec.Service) {
				s.BlueGreen.Watch = spec.Duration(time.Hour) // v2 stays active until promoted
				s.OnNewVersion = policy
			})
			r := declarativeRig(t, svc, v1, v2, v3)
			r.waitPhase(1, engine.PhaseCompleted)
			r.reloadVersion(svc, "v2")
			r.waitPhase(2, engine.PhaseWatching)
			res := r.reloadVersion(svc, "v3")
			if len(res.Rollouts) != 1 || !strings.Contains(res.Rollouts[0], "v3") {
				t.Fatalf("reload result %+v", res)
			}
			if policy == spec.OnNewVersionAbort {
				if ro := r.waitRollout(3); ro.To.Label != "v3" {
					t.Fatalf("rollout #3 goes to %s, want v3", ro.To.Label)
				}
				ro, err := r.store.Rollout(context.Background(), 2)
				if err != nil || ro.Phase.Active() {
					t.Fatalf("rollout #2 after the new version: %s %v, want ended", ro.Phase, err)
				}
				return
			}
			// queue: v2 carries on until it ends, then v3 starts.
			if ro := r.latest(); ro.ID != 2 || ro.Phase != engine.PhaseWatching {
				t.Fatalf("with queue, the latest rollout is #%d %s, want #2 Watching", ro.ID, ro.Phase)
			}
			if _, err := r.ctrl.Command(context.Background(), "web", engine.CmdPromote); err != nil && !errors.Is(err, controller.ErrConflict) {
				t.Fatal(err)
			}
			r.waitPhase(2, engine.PhaseCompleted)
			if ro := r.waitRollout(3); ro.To.Label != "v3" || ro.From.Label != "v2" {
				t.Fatalf("queued rollout #3: %s to %s, want v2 to v3", ro.From.Label, ro.To.Label)
			}
		})
	}
}

// TestRestartRollsOutAVersionThatNeverRan: a restart on a file whose
// version never ran (edited while bluejay was down, or bluejay died in
// the reload) rolls it out; one that ran before (an imperative deploy
// moved on from it) is left alone.
func TestRestartRollsOutAVersionThatNeverRan(t *testing.T) {
	v1, v2, v3 := newBackend(t, "v1"), newBackend(t, "v2"), newBackend(t, "v3")
	db := filepath.Join(t.TempDir(), "b.db")
	svc := service(v1)
	rigOn := func(s spec.Service) *rig {
		st, err := sqlite.Open(db)
		if err != nil {
			t.Fatal(err)
		}
		plat := static.New()
		for _, b := range []*backend{v1, v2, v3} {
			plat.SetTargets("web", b.version, []string{b.addr()})
			s.Platform.Static.Targets[b.version] = []string{b.addr()}
		}
		return newRigWith(t, st, s, plat)
	}
	r := rigOn(svc)
	r.waitPhase(1, engine.PhaseCompleted)
	r.waitPhase(r.deploy(v2).ID, engine.PhaseCompleted)
	r.stop()

	r = rigOn(svc) // v1 ran: the imperative v2 stays
	r.waitPhase(2, engine.PhaseCompleted)
	if st, _ := r.ctrl.Status("web"); st.Stable != "v2" || st.Desired != "v1" {
		t.Fatalf("restart on v1 after deploying v2: stable %q desired %q, want v2 kept", st.Stable, st.Desired)
	}
	r.stop()

	svc.Version = "v3"
	r = rigOn(svc)
	if ro := r.waitRollout(3); ro.To.Label != "v3" {
		t.Fatalf("restart on a never-run v3: rollout #3 to %s", ro.To.Label)
	}
	r.waitPhase(3, engine.PhaseCompleted)
}

// TestReloadKeepsOrRestartsTheActivePlan: a reload that changes a
// service leaves its active rollout on the plan it started with, unless
// RestartActive asks to start it over under the new one.
func TestReloadKeepsOrRestartsTheActivePlan(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc := service(v1, func(s *spec.Service) { s.BlueGreen.Watch = spec.Duration(time.Hour) })
	r := declarativeRig(t, svc, v1, v2)
	r.waitPhase(1, engine.PhaseCompleted)
	r.reloadVersion(svc, "v2")
	r.waitPhase(2, engine.PhaseWatching)

	svc.Version = "v2"
	svc.BlueGreen.Watch = spec.Duration(300 * time.Millisecond)
	rl := controller.Reload{Services: []controller.Service{{Spec: svc}}, What: map[string]string{"web": "services[web].blueGreen changed"}}
	if _, err := r.ctrl.Reload(context.Background(), rl); err != nil {
		t.Fatal(err)
	}
	if ro := r.latest(); ro.ID != 2 || ro.Phase != engine.PhaseWatching || ro.Params.Watch != time.Hour {
		t.Fatalf("after a reload the active rollout is #%d %s watching %s, want #2 Watching with its 1h plan", ro.ID, ro.Phase, ro.Params.Watch)
	}
	if st, _ := r.ctrl.Status("web"); !strings.Contains(st.KeptPlan, "rollout #2 keeps the plan it started with") {
		t.Errorf("status KeptPlan = %q, want it to say rollout #2 keeps its plan", st.KeptPlan)
	}
	rl.RestartActive = true
	res, err := r.ctrl.Reload(context.Background(), rl)
	if err != nil || len(res.Rollouts) != 1 {
		t.Fatalf("reload --restart-active: %+v %v", res, err)
	}
	ro := r.waitRollout(3)
	if ro.To.Label != "v2" || ro.Params.Watch != 300*time.Millisecond {
		t.Fatalf("restarted rollout #3 to %s watching %s, want v2 under the new 300ms watch", ro.To.Label, ro.Params.Watch)
	}
	r.waitPhase(3, engine.PhaseCompleted)
}
