package engine

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

var errorsLimits = &AnalysisLimits{Template: "errors", Interval: time.Second, ConsecutiveErrorLimit: 2}

// canaryRollout is a v1→v2 canary at step i of:
// setWeight 5, analysis errors 10s, setWeight 50, pause 5s, pause, checks.
func canaryRollout(p Phase, i int, weights map[string]int, mod ...func(*Rollout)) Rollout {
	r := rollout(p, weights, func(r *Rollout) {
		r.Strategy = StrategyCanary
		r.Params.PreviewWeight = 0
		r.Params.Steps = []CanaryStep{
			{Kind: StepSetWeight, Weight: 5},
			{Kind: StepAnalysis, Duration: 10 * time.Second, Analysis: errorsLimits},
			{Kind: StepSetWeight, Weight: 50},
			{Kind: StepPause, Duration: 5 * time.Second},
			{Kind: StepPause},
			{Kind: StepChecks, Checks: 1},
		}
		r.Params.Background = &AnalysisLimits{Template: "default", Interval: time.Second}
		r.Step, r.StepSince = i, t0
	})
	for _, m := range mod {
		m(&r)
	}
	return r
}

var at5 = map[string]int{"v1": 95, "v2": 5}

func analysisObs(verdict string, intervals, failures, errs int) func(*Observation) {
	return func(o *Observation) {
		o.Analysis = &AnalysisObs{Intervals: intervals, Verdict: verdict, Failures: failures, ConsecutiveErrors: errs,
			Reason: "error-rate: " + verdict, Numbers: map[string]float64{"canary.errorRate": 0.5}}
	}
}

func TestCanary(t *testing.T) {
	abortDelay := func(r *Rollout) { r.Params.AbortScaleDownDelay = 30 * time.Second }
	tests := []struct {
		name    string
		r       Rollout
		obs     Observation
		after   time.Duration
		phase   Phase
		step    int
		weights map[string]int
		actions []string
		reason  string
		restart bool
		inconcl int
	}{
		{name: "smoke pass starts the steps",
			r: canaryRollout(PhaseSmoke, 0, stable), obs: obs(func(o *Observation) { o.Smoke = &SmokeResult{Passed: true} }),
			phase: PhaseProgressing, step: 0, weights: stable, reason: "step 1/6: setWeight 5", restart: true},
		{name: "setWeight applies the weight and moves on in one decision",
			r: canaryRollout(PhaseProgressing, 0, stable), obs: obs(),
			phase: PhaseProgressing, step: 1, weights: at5, reason: "v2 now takes 5% of traffic; step 2/6: analysis errors 10s", restart: true},
		{name: "analysis measuring",
			r: canaryRollout(PhaseProgressing, 1, at5), obs: obs(), after: time.Second,
			phase: PhaseProgressing, step: 1, weights: at5, reason: "measuring"},
		{name: "analysis inconclusive before its duration keeps going",
			r: canaryRollout(PhaseProgressing, 1, at5), obs: obs(analysisObs(VerdictInconclusive, 3, 0, 0)), after: 3 * time.Second,
			phase: PhaseProgressing, step: 1, weights: at5, reason: "Inconclusive"},
		{name: "a Fail verdict rolls back at once, weight 0 in the same decision",
			r: canaryRollout(PhaseProgressing, 1, at5), obs: obs(analysisObs(VerdictFail, 1, 1, 0)), after: time.Second,
			phase: PhaseRolledBack, step: 1, weights: stable, actions: []string{"stop v2"}, reason: "analysis errors failed (1 failures, limit 0)"},
		{name: "a rolled-back canary waits abortScaleDownDelay before it stops",
			r: canaryRollout(PhaseProgressing, 1, at5, abortDelay), obs: obs(analysisObs(VerdictFail, 1, 1, 0)),
			phase: PhaseRolledBack, step: 1, weights: stable, reason: "flipped all traffic back to v1"},
		{name: "too many errors in a row roll back",
			r: canaryRollout(PhaseProgressing, 1, at5), obs: obs(analysisObs(VerdictError, 3, 0, 3)),
			phase: PhaseRolledBack, step: 1, weights: stable, actions: []string{"stop v2"}, reason: "3 errors in a row, limit 2"},
		{name: "analysis passes at its end",
			r: canaryRollout(PhaseProgressing, 1, at5), obs: obs(analysisObs(VerdictPass, 10, 0, 0)), after: 10 * time.Second,
			phase: PhaseProgressing, step: 2, weights: at5, reason: "analysis errors passed", restart: true},
		{name: "analysis inconclusive at its end pauses: never promote on no data",
			r: canaryRollout(PhaseProgressing, 1, at5), obs: obs(analysisObs(VerdictInconclusive, 10, 0, 0)), after: 10 * time.Second,
			phase: PhasePaused, step: 1, weights: at5, reason: "never promoting on too little data", inconcl: 1},
		{name: "inconclusive below the limit runs again",
			r: canaryRollout(PhaseProgressing, 1, at5, func(r *Rollout) {
				r.Params.Steps[1].Analysis = &AnalysisLimits{Template: "errors", InconclusiveLimit: 2}
			}), obs: obs(analysisObs(VerdictInconclusive, 10, 0, 0)), after: 10 * time.Second,
			phase: PhaseProgressing, step: 1, weights: at5, reason: "running it again", restart: true, inconcl: 1},
		{name: "inconclusive with abort rolls back",
			r: canaryRollout(PhaseProgressing, 1, at5, func(r *Rollout) {
				r.Params.Steps[1].Analysis = &AnalysisLimits{Template: "errors", AbortOnInconclusive: true}
			}), obs: obs(analysisObs(VerdictInconclusive, 10, 0, 0)), after: 10 * time.Second,
			phase: PhaseRolledBack, step: 1, weights: stable, actions: []string{"stop v2"}, inconcl: 1},
		{name: "timed pause waits",
			r: canaryRollout(PhaseProgressing, 3, at5), obs: obs(), after: 4 * time.Second,
			phase: PhaseProgressing, step: 3, weights: at5},
		{name: "timed pause ends",
			r: canaryRollout(PhaseProgressing, 3, at5), obs: obs(), after: 5 * time.Second,
			phase: PhaseProgressing, step: 4, weights: at5, reason: "paused 5s; step 5/6: pause until promote", restart: true},
		{name: "pause without duration waits for promote",
			r: canaryRollout(PhaseProgressing, 4, at5), obs: obs(), after: time.Hour,
			phase: PhasePaused, step: 4, weights: at5, reason: "until promote"},
		{name: "checks run smoke tests",
			r: canaryRollout(PhaseProgressing, 5, at5), obs: obs(),
			phase: PhaseProgressing, step: 5, weights: at5, actions: []string{"smoke v2"}},
		{name: "checks failing roll back",
			r: canaryRollout(PhaseProgressing, 5, at5), obs: obs(func(o *Observation) { o.Smoke = &SmokeResult{Reason: "status 500"} }),
			phase: PhaseRolledBack, step: 5, weights: stable, actions: []string{"stop v2"}, reason: "checks failed: status 500"},
		{name: "checks passing after the last step complete",
			r: canaryRollout(PhaseProgressing, 5, at5), obs: obs(func(o *Observation) { o.Smoke = &SmokeResult{Passed: true} }),
			phase: PhaseCompleted, step: 6, weights: newOnly, reason: "checks passed; v2 is stable"},
		{name: "background analysis failing rolls back at any step",
			r: canaryRollout(PhaseProgressing, 3, at5), obs: obs(func(o *Observation) {
				o.Background = &AnalysisObs{Intervals: 1, Verdict: VerdictFail, Failures: 1, Reason: "error-rate: 4/5 failed"}
			}),
			phase: PhaseRolledBack, step: 3, weights: stable, actions: []string{"stop v2"}, reason: "background analysis default failed"},
		{name: "background analysis failing rolls back a paused canary",
			r: canaryRollout(PhasePaused, 4, at5), obs: obs(func(o *Observation) {
				o.Background = &AnalysisObs{Intervals: 1, Verdict: VerdictFail, Failures: 1}
			}),
			phase: PhaseRolledBack, step: 4, weights: stable, actions: []string{"stop v2"}},
		{name: "a lost instance rolls back",
			r: canaryRollout(PhaseProgressing, 1, at5), obs: obs(func(o *Observation) {
				o.New = VersionObs{Started: true, Running: 1, Ready: 1, Exited: 1, Problem: "web-v2-1 exited: exit status 1"}
			}),
			phase: PhaseRolledBack, step: 1, weights: stable, actions: []string{"stop v2"}, reason: "exit status 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, tt.obs, t0.Add(tt.after))
			if d.Phase != tt.phase || d.Step != tt.step {
				t.Fatalf("phase %s step %d (%s), want %s step %d", d.Phase, d.Step, d.Reason, tt.phase, tt.step)
			}
			if !maps.Equal(d.Weights, tt.weights) {
				t.Errorf("weights = %v, want %v", d.Weights, tt.weights)
			}
			if got := actionStrings(d.Actions); !slices.Equal(got, tt.actions) {
				t.Errorf("actions = %v, want %v", got, tt.actions)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason = %q, want it to contain %q", d.Reason, tt.reason)
			}
			if d.RestartStep != tt.restart || d.Inconclusives != tt.inconcl {
				t.Errorf("restart %v inconclusives %d, want %v %d", d.RestartStep, d.Inconclusives, tt.restart, tt.inconcl)
			}
		})
	}
}

func TestCanaryCommands(t *testing.T) {
	tests := []struct {
		name    string
		r       Rollout
		cmd     Command
		phase   Phase
		step    int
		weights map[string]int
	}{
		{"promote skips the analysis", canaryRollout(PhaseProgressing, 1, at5), CmdPromote, PhaseProgressing, 2, at5},
		{"promote ends a pause", canaryRollout(PhasePaused, 4, at5), CmdPromote, PhaseProgressing, 5, at5},
		{"promote --full completes", canaryRollout(PhaseProgressing, 1, at5), CmdPromoteFull, PhaseCompleted, 6, newOnly},
		{"abort flips back", canaryRollout(PhasePaused, 4, at5), CmdAbort, PhaseRolledBack, 4, stable},
		{"abort before any traffic aborts", canaryRollout(PhaseProgressing, 0, stable), CmdAbort, PhaseAborted, 0, stable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, obs(func(o *Observation) { o.Command = tt.cmd }), t0)
			if d.Phase != tt.phase || d.Step != tt.step || !maps.Equal(d.Weights, tt.weights) || d.Rejected != "" {
				t.Fatalf("got %s step %d %v (%s; rejected %q), want %s step %d %v",
					d.Phase, d.Step, d.Weights, d.Reason, d.Rejected, tt.phase, tt.step, tt.weights)
			}
		})
	}
}

// TestCanaryWalksEveryStep drives a healthy canary from its gates to
// completion, feeding each decision back as the next rollout.
func TestCanaryWalksEveryStep(t *testing.T) {
	r := canaryRollout(PhaseSmoke, 0, stable)
	now := t0
	var phases []string
	for range 40 {
		o := obs(func(o *Observation) {
			o.Smoke = &SmokeResult{Passed: true}
			o.Analysis = &AnalysisObs{Intervals: 10, Verdict: VerdictPass}
			o.Command = ""
			if r.Phase == PhasePaused {
				o.Command = CmdPromote
			}
		})
		d := Step(r, o, now)
		if d.Phase == PhaseRolledBack || d.Rejected != "" {
			t.Fatalf("healthy canary: %s %s %s", d.Phase, d.Reason, d.Rejected)
		}
		if d.Phase != r.Phase || d.Step != r.Step {
			phases = append(phases, string(d.Phase))
		}
		if d.Step != r.Step || d.RestartStep {
			r.StepSince = now
		}
		r.Phase, r.Weights, r.Step = d.Phase, d.Weights, d.Step
		if r.Phase == PhaseCompleted {
			break
		}
		now = now.Add(5 * time.Second)
	}
	if r.Phase != PhaseCompleted || r.Weights["v2"] != 100 {
		t.Fatalf("ended %s %v after %v", r.Phase, r.Weights, phases)
	}
}

// TestCanaryDedicatedBaseline pins Kayenta's practice: fresh instances of
// the old version take the canary's share, started with the steps and
// stopped when they end.
func TestCanaryDedicatedBaseline(t *testing.T) {
	dedicated := func(r *Rollout) { r.Params.DedicatedBaseline = true }
	d := Step(canaryRollout(PhaseProgressing, 0, stable, dedicated), obs(), t0)
	want := map[string]int{"v1": 90, "v1-baseline": 5, "v2": 5}
	if !maps.Equal(d.Weights, want) || !slices.Contains(actionStrings(d.Actions), "deploy v1-baseline") {
		t.Fatalf("setWeight 5: %v %v, want %v and the baseline deployed", d.Weights, actionStrings(d.Actions), want)
	}
	r := canaryRollout(PhaseProgressing, 2, want, dedicated)
	if d := Step(r, obs(), t0); d.Weights["v1"] != 0 || d.Weights["v1-baseline"] != 50 || d.Weights["v2"] != 50 {
		t.Fatalf("setWeight 50: %v", d.Weights)
	}
	o := obs(func(o *Observation) {
		o.Baseline = up
		o.Analysis = &AnalysisObs{Intervals: 1, Verdict: VerdictFail, Failures: 1}
	})
	d = Step(canaryRollout(PhaseProgressing, 1, want, dedicated), o, t0)
	if d.Phase != PhaseRolledBack || !slices.Contains(actionStrings(d.Actions), "stop v1-baseline") || d.Weights["v1"] != 100 {
		t.Fatalf("rollback: %s %v %v, want the baseline stopped and v1 at 100", d.Phase, d.Weights, actionStrings(d.Actions))
	}
}

// TestCanaryHeaderRoute: a setHeaderRoute step adds its match and moves
// on; the routes hold while the steps run and go when the rollout ends.
func TestCanaryHeaderRoute(t *testing.T) {
	hr := HeaderRoute{Header: "X-Canary", Exact: "yes"}
	r := canaryRollout(PhaseProgressing, 0, at5, func(r *Rollout) {
		r.Params.Steps[0] = CanaryStep{Kind: StepSetHeaderRoute, Route: &hr}
	})
	d := Step(r, obs(), t0)
	if d.Step != 1 || len(d.HeaderRoutes) != 1 || d.HeaderRoutes[0] != hr || !strings.Contains(d.Reason, `header X-Canary = "yes"`) {
		t.Fatalf("setHeaderRoute: step %d routes %v (%s)", d.Step, d.HeaderRoutes, d.Reason)
	}
	r.Step, r.HeaderRoutes = 1, d.HeaderRoutes
	if d := Step(r, obs(), t0); len(d.HeaderRoutes) != 1 {
		t.Fatalf("the route was dropped during the next step: %v", d.HeaderRoutes)
	}
	o := obs(func(o *Observation) { o.Command = CmdAbort })
	if d := Step(r, o, t0); d.Phase != PhaseRolledBack || len(d.HeaderRoutes) != 0 {
		t.Fatalf("abort: %s with routes %v, want none", d.Phase, d.HeaderRoutes)
	}
}

// TestCanaryProgressDeadline: a step that never moves on (an analysis
// until Pass at too little traffic) is rolled back, or paused, after the
// deadline; nothing waits forever.
func TestCanaryProgressDeadline(t *testing.T) {
	untilPass := func(r *Rollout) {
		r.Params.Steps[1].Duration = 0
		r.Params.ProgressDeadline = 10 * time.Minute
	}
	o := obs(analysisObs(VerdictInconclusive, 100, 0, 0))
	if d := Step(canaryRollout(PhaseProgressing, 1, at5, untilPass), o, t0.Add(9*time.Minute)); d.Phase != PhaseProgressing {
		t.Fatalf("before the deadline: %s (%s)", d.Phase, d.Reason)
	}
	d := Step(canaryRollout(PhaseProgressing, 1, at5, untilPass), o, t0.Add(10*time.Minute))
	if d.Phase != PhaseRolledBack || !strings.Contains(d.Reason, "no progress for 10m0s") || d.Weights["v2"] != 0 {
		t.Fatalf("at the deadline: %s %v (%s), want rolled back", d.Phase, d.Weights, d.Reason)
	}
	pause := func(r *Rollout) { r.Params.PauseOnDeadline = true }
	if d := Step(canaryRollout(PhaseProgressing, 1, at5, untilPass, pause), o, t0.Add(10*time.Minute)); d.Phase != PhasePaused {
		t.Fatalf("with onProgressDeadline pause: %s", d.Phase)
	}
	if d := Step(canaryRollout(PhasePaused, 4, at5, untilPass), obs(), t0.Add(time.Hour)); d.Phase != PhasePaused {
		t.Fatalf("a pause for a person must not count: %s (%s)", d.Phase, d.Reason)
	}
	long := func(r *Rollout) { r.Params.Steps[3].Duration = 30 * time.Minute }
	if d := Step(canaryRollout(PhaseProgressing, 3, at5, untilPass, long), obs(), t0.Add(20*time.Minute)); d.Phase != PhaseProgressing {
		t.Fatalf("a 30m timed pause 20m in: %s (%s); the deadline counts past the step's own duration", d.Phase, d.Reason)
	}
}
