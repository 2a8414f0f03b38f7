package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// golden compares got with testdata/name, rewriting it under -update.
func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./cmd/bluejay -run Golden -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("output differs from %s (go test ./cmd/bluejay -run Golden -update rewrites it; review the diff)\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

var t0 = time.Date(2026, 11, 25, 14, 0, 0, 0, time.UTC)

// canaryAtStep3 is a canary of web v1 → v2 in its analysis step, with a
// dedicated baseline, two metrics and the background analysis.
func canaryAtStep3() controller.ServiceStatus {
	limits := &engine.AnalysisLimits{Template: "default", Interval: 5 * time.Second, FailureLimit: 0, ConsecutiveErrorLimit: 4}
	r := engine.Rollout{ID: 7, Service: "web", Strategy: engine.StrategyCanary,
		From: platform.Version{Service: "web", Label: "v1"}, To: platform.Version{Service: "web", Label: "v2"},
		Params: engine.Params{Replicas: 2, DedicatedBaseline: true, Background: limits, Steps: []engine.CanaryStep{
			{Kind: engine.StepSetWeight, Weight: 5},
			{Kind: engine.StepSetWeight, Weight: 20},
			{Kind: engine.StepAnalysis, Duration: time.Minute, Analysis: limits},
			{Kind: engine.StepPause},
			{Kind: engine.StepSetWeight, Weight: 100},
		}},
		Phase:   engine.PhaseProgressing,
		Reason:  "step 3/5: analysis default 1m0s: 35s in, last verdict Pass",
		Weights: map[string]int{"v2": 20, "v1-baseline": 20, "v1": 60}, Started: t0, PhaseSince: t0.Add(20 * time.Second),
		Step: 2, StepSince: t0.Add(90 * time.Second)}
	inst := func(id, version string, ready bool) controller.InstanceStatus {
		return controller.InstanceStatus{Instance: platform.Instance{ID: id, Version: version, Addr: "127.0.0.1:9000", State: platform.StateRunning}, Ready: ready}
	}
	results := []analysis.Result{
		{Metric: "error-rate", Verdict: analysis.Pass,
			Reason: "error-rate: Pass: canary 1/412 errors (0.24%) vs baseline 2/405 (0.49%); sequential test Bayes factor 0.31 < 1/alpha 100"},
		{Metric: "latency-p99", Verdict: analysis.Inconclusive,
			Reason: "latency-p99: Inconclusive: too little data: 412 of 500 canary requests; canary.p99=231, baseline.p99=120"},
	}
	return controller.ServiceStatus{Service: "web", Stable: "v1", Rollout: r, Weights: r.Weights,
		Instances: []controller.InstanceStatus{inst("web-v2-0", "v2", true), inst("web-v2-1", "v2", false),
			inst("web-v1-baseline-0", "v1-baseline", true), inst("web-v1-0", "v1", true), inst("web-v1-1", "v1", true)},
		Exposure: metrics.Counts{Requests: 1204, Errors: 3, Users: 87, FailedUsers: 2},
		Analyses: []controller.AnalysisStatus{
			{Kind: "step", Template: "default", Canary: "v2", Baseline: "v1-baseline", Since: r.StepSince, Intervals: 7,
				Verdict: "Pass", Limits: limits, Metrics: results},
			{Kind: "background", Template: "default", Canary: "v2", Baseline: "v1", Since: r.StepSince, Intervals: 7,
				Verdict: "Pass", Limits: limits, Metrics: results[:1]},
		}}
}

// rolledBack is a blue-green rollout of v3 that was flipped back.
func rolledBack() controller.ServiceStatus {
	r := engine.Rollout{ID: 9, Service: "web", Strategy: engine.StrategyBlueGreen,
		From: platform.Version{Label: "v2"}, To: platform.Version{Label: "v3"}, Phase: engine.PhaseRolledBack,
		Reason:  "v3 failed under traffic: 6 of 44 requests failed (13.6%), over the budget of 5% of 44; traffic is back on v2",
		Weights: map[string]int{"v2": 100}, Exposure: metrics.Counts{Requests: 44, Errors: 6, Users: 12, FailedUsers: 3},
		Started: t0, PhaseSince: t0.Add(41 * time.Second), Ended: t0.Add(41 * time.Second)}
	return controller.ServiceStatus{Service: "web", Stable: "v2", Rollout: r, Weights: r.Weights, Exposure: r.Exposure,
		Instances: []controller.InstanceStatus{{Instance: platform.Instance{ID: "web-v2-0", Version: "v2", State: platform.StateRunning}, Ready: true}}}
}

// previewing is a blue-green rollout of v2 in its preview.
func previewing() controller.ServiceStatus {
	r := engine.Rollout{ID: 3, Service: "web", Strategy: engine.StrategyBlueGreen,
		From: platform.Version{Label: "v1"}, To: platform.Version{Label: "v2"}, Phase: engine.PhasePreview,
		Params:  engine.Params{Replicas: 1, Smoke: true, PreviewWeight: 10, AutoPromote: true},
		Reason:  "smoke tests passed on 1 instance: previewing v2 on 10% for 30s",
		Weights: map[string]int{"v2": 10, "v1": 90}, Started: t0, PhaseSince: t0.Add(4 * time.Second)}
	return controller.ServiceStatus{Service: "web", Stable: "v1", Rollout: r, Weights: r.Weights,
		Exposure: metrics.Counts{Requests: 31, Users: 9},
		Instances: []controller.InstanceStatus{{Instance: platform.Instance{ID: "web-v2-0", Version: "v2", State: platform.StateRunning}, Ready: true},
			{Instance: platform.Instance{ID: "web-v1-0", Version: "v1", State: platform.StateRunning}, Ready: true}}}
}

func TestGoldenStatusFrame(t *testing.T) {
	now := t0.Add(2*time.Minute + 14*time.Second)
	for name, st := range map[string]controller.ServiceStatus{
		"status-canary.golden":     canaryAtStep3(),
		"status-preview.golden":    previewing(),
		"status-rolledback.golden": rolledBack(),
		"status-canary-rolledback.golden": func() controller.ServiceStatus {
			st := canaryAtStep3()
			st.Rollout.Phase, st.Rollout.Ended, st.Analyses = engine.PhaseRolledBack, t0.Add(2*time.Minute), nil
			st.Rollout.Weights, st.Weights = map[string]int{"v1": 100}, map[string]int{"v1": 100}
			st.Rollout.Reason = "step 3/5: analysis default failed: error-rate: Fail; flipped all traffic back to v1"
			return st
		}(),
	} {
		t.Run(name, func(t *testing.T) {
			var b strings.Builder
			renderFrame(&b, st, now, false)
			golden(t, name, b.String())
		})
	}
}

// TestGoldenWatchPlain pins the lines status -w prints when stdout is not
// a terminal: one per change a person would act on, none for a poll that
// only moved the clock, the exposure or the reason's progress.
func TestGoldenWatchPlain(t *testing.T) {
	var out bytes.Buffer
	w := &watcher{out: &out}
	st := canaryAtStep3()
	st.Rollout.Step, st.Analyses = 1, nil
	w.show(st, t0.Add(80*time.Second))
	st.Exposure.Requests += 100 // only numbers moved: no line
	st.Rollout.Reason = "step 2/5: setWeight 20 (held 12s)"
	w.show(st, t0.Add(81*time.Second))
	st = canaryAtStep3()
	w.show(st, t0.Add(95*time.Second))
	st.Analyses[0].Verdict, st.Analyses[0].Failures = "Fail", 1 // a verdict changed: a line
	w.show(st, t0.Add(100*time.Second))
	final := rolledBack()
	w.show(final, t0.Add(101*time.Second))
	golden(t, "watch-plain.golden", out.String())
}

// TestWatchRedrawsInPlaceOnATerminal pins the terminal mode: the first
// frame clears the screen, later ones home the cursor and clear below,
// every poll redraws (the clock moves), and phases are coloured.
func TestWatchRedrawsInPlaceOnATerminal(t *testing.T) {
	var out bytes.Buffer
	w := &watcher{out: &out, tty: true}
	st := canaryAtStep3()
	w.show(st, t0.Add(95*time.Second))
	w.show(st, t0.Add(96*time.Second))
	frames := strings.Split(out.String(), ansiRedraw)
	if len(frames) != 2 || !strings.HasPrefix(frames[0], ansiClearScreen) {
		t.Fatalf("got %d frames (first starts %q); want a cleared screen, then one redraw in place", len(frames), frames[0][:min(10, len(frames[0]))])
	}
	if !strings.Contains(frames[1], "\x1b[36m◌ Progressing\x1b[0m") || !strings.Contains(frames[1], "Elapsed:       1m36s") {
		t.Errorf("second frame lacks the coloured phase or the moved clock:\n%q", frames[1])
	}
}

func TestIsTerminal(t *testing.T) {
	null, err := os.Open(os.DevNull)
	if err != nil {
		t.Fatal(err)
	}
	defer null.Close()
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if isTerminal(null) || isTerminal(f) {
		t.Errorf("isTerminal(/dev/null) = %v, isTerminal(a file) = %v; want both false", isTerminal(null), isTerminal(f))
	}
}
