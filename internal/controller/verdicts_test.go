package controller_test

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// waitFor polls cond until it holds, failing the test after a generous deadline.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

// TestAnalysisVerdictCountsSurviveARestart pins the bug where, after a
// crash, an analysis' verdict counts started again: a canary one Fail
// from its failureLimit got a fresh allowance. The counts are persisted
// with the step, and the first Fail after the restart is the one too many.
func TestAnalysisVerdictCountsSurviveARestart(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc := service(v1, func(s *spec.Service) {
		// Probes that tolerate a loaded machine: a lost instance would end
		// the rollout before its verdicts are counted.
		s.Health.Interval, s.Health.Timeout = spec.Duration(200*time.Millisecond), spec.Duration(200*time.Millisecond)
		s.Health.UnhealthyThreshold = 5
		s.Strategy = spec.StrategyCanary
		s.Canary = spec.Canary{Analysis: "bg", Steps: []spec.CanaryStep{
			{SetWeight: new(50)},
			{Analysis: &spec.StepAnalysis{Template: "t", Duration: spec.Duration(time.Minute)}},
			{SetWeight: new(100)},
		}}
	})
	cfg := &spec.Config{Analysis: map[string]spec.AnalysisTemplate{
		"t": {Interval: spec.Duration(time.Second), MinRequests: 5, FailureLimit: 1,
			Metrics: []spec.AnalysisMetric{{Name: "error-rate", Condition: "canary.errorRate <= 0.5"}}},
		"bg": {Interval: spec.Duration(time.Second), MinRequests: 5,
			Metrics: []spec.AnalysisMetric{{Name: "any", Condition: "canary.errorRate >= 0"}}},
	}}
	cfg.ApplyDefaults()
	db := filepath.Join(t.TempDir(), "b.db")
	r := newRig(t, db, svc, cfg.Analysis)
	r.waitPhase(1, engine.PhaseCompleted)
	tr := sendTraffic(r.front.URL+"/", "v2", 5*time.Millisecond)
	defer tr.halt()
	ro := r.deploy(v2)

	// Passes first, then a Fail once v2 fails: one Fail is allowed.
	stored := func(st store.Store) engine.Rollout {
		got, err := st.Rollout(context.Background(), ro.ID)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	var before engine.Rollout
	waitFor(t, "two verdicts persisted", func() bool {
		before = stored(r.store)
		if before.Phase.Terminal() {
			t.Fatalf("rollout ended %s before its verdicts were counted: %s", before.Phase, before.Reason)
		}
		return before.StepVerdicts.Intervals >= 2
	})
	v2.status.Store(500)
	waitFor(t, "the first Fail persisted", func() bool { before = stored(r.store); return before.StepVerdicts.Failures >= 1 })
	r.stop()
	if before.Phase != engine.PhaseProgressing || before.StepVerdicts.Failures != 1 {
		t.Fatalf("before the restart: %s %+v (%s), want Progressing with one Fail", before.Phase, before.StepVerdicts, before.Reason)
	}

	st, err := sqlite.Open(db)
	if err != nil {
		t.Fatal(err)
	}
	r = newRigOn(t, st, svc, cfg.Analysis)
	tr2 := sendTraffic(r.front.URL+"/", "v2", 5*time.Millisecond)
	defer tr2.halt()
	r.waitPhase(ro.ID, engine.PhaseRolledBack)
	after := stored(st)
	if !strings.Contains(after.Reason, "2 failures, limit 1") {
		t.Errorf("reason %q, want the Fail before the restart counted", after.Reason)
	}
	if after.StepVerdicts.Intervals != before.StepVerdicts.Intervals+1 {
		t.Errorf("rolled back after %d verdicts in all, want %d: the one before the restart's %d and one after (%+v %+v)",
			after.StepVerdicts.Intervals, before.StepVerdicts.Intervals+1, before.StepVerdicts.Intervals, after, before)
	}
}
