package controller_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// waitSettled polls until the service's latest rollout has stopped its
// losing version.
func (r *rig) waitSettled() {
	r.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for st, _ := r.ctrl.Status("web"); !st.Rollout.Settled; st, _ = r.ctrl.Status("web") {
		if time.Now().After(deadline) {
			r.t.Fatalf("rollout #%d never settled: %s %s", st.Rollout.ID, st.Rollout.Phase, st.Rollout.Reason)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

// TestRollbackToAVersionFromTheHistory deploys v2 and v3 with targets
// the config does not know, then rolls back to v2: only the history can
// say where v2 runs, so the new rollout reaching Completed proves it was
// looked up there.
func TestRollbackToAVersionFromTheHistory(t *testing.T) {
	v1, v2, v3 := newBackend(t, "v1"), newBackend(t, "v2"), newBackend(t, "v3")
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), service(v1, func(s *spec.Service) {
		s.BlueGreen.ScaleDownDelay = 0
	}))
	ctx := context.Background()
	r.waitPhase(1, engine.PhaseCompleted)
	r.waitPhase(r.deploy(v2).ID, engine.PhaseCompleted)
	r.waitSettled()
	r.waitPhase(r.deploy(v3).ID, engine.PhaseCompleted)
	r.waitSettled()

	_, err := r.ctrl.Rollback(ctx, "web", "v9")
	if !errors.Is(err, controller.ErrInvalid) || !strings.Contains(err.Error(), "web never ran v9") ||
		!strings.Contains(err.Error(), "v3, v2, v1") {
		t.Fatalf("rollback to a version never run: %v; want ErrInvalid naming v9 and the versions run (v3, v2, v1)", err)
	}
	if _, err := r.ctrl.Rollback(ctx, "web", "v3"); !errors.Is(err, controller.ErrConflict) || !strings.Contains(err.Error(), "already runs v3") {
		t.Fatalf("rollback to the stable version: %v; want a conflict", err)
	}

	back, err := r.ctrl.Rollback(ctx, "web", "v2")
	if err != nil {
		t.Fatalf("rollback --to v2: %v", err)
	}
	if back.From.Label != "v3" || back.To.Label != "v2" || !slices.Equal(back.To.Targets, []string{v2.addr()}) {
		t.Fatalf("rollback --to v2 = %s→%s targets %v; want v3→v2 on %s", back.From.Label, back.To.Label, back.To.Targets, v2.addr())
	}
	if !strings.Contains(back.Reason, "rollback to v2 requested (it ran in rollout #3)") {
		t.Errorf("reason %q does not say it is a rollback to v2 and where v2 ran", back.Reason)
	}
	r.waitPhase(back.ID, engine.PhaseCompleted)
	if v, _ := r.get(); v != "v2" {
		t.Fatalf("after rollback --to v2 GET served by %q", v)
	}
}

func TestRollbackToAnotherVersionDuringARollout(t *testing.T) {
	v1, v2, v3 := newBackend(t, "v1"), newBackend(t, "v2"), newBackend(t, "v3")
	off := false
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), service(v1, func(s *spec.Service) { s.BlueGreen.AutoPromote = &off }))
	ctx := context.Background()
	r.waitPhase(1, engine.PhaseCompleted)
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhasePaused)
	if _, err := r.ctrl.Command(ctx, "web", engine.CmdPromote); err != nil {
		t.Fatal(err)
	}
	r.waitPhase(ro.ID, engine.PhaseCompleted)
	ro = r.waitPhase(r.deploy(v3).ID, engine.PhasePaused)

	if _, err := r.ctrl.Rollback(ctx, "web", "v0"); !errors.Is(err, controller.ErrInvalid) {
		t.Fatalf("rollback --to v0 (never run) during a rollout: %v; want ErrInvalid", err)
	}
	if _, err := r.ctrl.Rollback(ctx, "web", "v1"); !errors.Is(err, controller.ErrConflict) || !strings.Contains(err.Error(), "abort it first, or roll back to v2") {
		t.Fatalf("rollback --to v1 during the rollout v2→v3: %v; want a conflict saying to abort first", err)
	}
	back, err := r.ctrl.Rollback(ctx, "web", "v2")
	if err != nil || back.ID != ro.ID || !back.Phase.Terminal() {
		t.Fatalf("rollback --to v2 (the old version) during the rollout = #%d %s, %v; want rollout #%d ended by the flip", back.ID, back.Phase, err, ro.ID)
	}
}

func TestUnknownServiceSuggestsTheClosestName(t *testing.T) {
	v1 := newBackend(t, "v1")
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), service(v1))
	r.waitPhase(1, engine.PhaseCompleted)
	for name, want := range map[string]string{
		"wbe":      `unknown service "wbe"; did you mean "web"?`,
		"payments": `unknown service "payments"; configured services: web`,
	} {
		_, err := r.ctrl.Status(name)
		if !errors.Is(err, controller.ErrUnknownService) || err.Error() != want {
			t.Errorf("Status(%q) = %v; want %s", name, err, want)
		}
	}
}

// TestStatusShowsTheAnalysesUnderWay pins that a canary's status carries
// its step and background analyses with the canary's and the baseline's
// numbers, live.
func TestStatusShowsTheAnalysesUnderWay(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc, templates := canaryService(v1, time.Minute, 1000)
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), svc, templates)
	r.waitPhase(1, engine.PhaseCompleted)
	tr := sendTraffic(r.front.URL+"/", "v2", 5*time.Millisecond)
	defer tr.halt()
	ro := r.deploy(v2)
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := r.ctrl.Status("web")
		if err != nil {
			t.Fatal(err)
		}
		if step := analysisOf(st, "step"); st.Rollout.ID == ro.ID && step != nil && len(step.Metrics) == 1 &&
			step.Metrics[0].Numbers["canary.requests"] > 0 && step.Metrics[0].Numbers["baseline.requests"] > 0 &&
			analysisOf(st, "background") != nil && st.Exposure.Requests > 0 {
			if step.Canary != "v2" || step.Baseline != "v1" || step.Template != "t" || step.Limits == nil {
				t.Fatalf("step analysis = %+v; want t, v2 against v1, with limits", step)
			}
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("no live analysis in the status after 10s: %s %s, analyses %+v, exposure %+v",
				st.Rollout.Phase, st.Rollout.Reason, st.Analyses, st.Exposure)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

func analysisOf(st controller.ServiceStatus, kind string) *controller.AnalysisStatus {
	for i := range st.Analyses {
		if st.Analyses[i].Kind == kind {
			return &st.Analyses[i]
		}
	}
	return nil
}
