package engine

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
)

var t0 = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func params() Params {
	return Params{Replicas: 2, ReadyTimeout: 2 * time.Minute, Smoke: true, PreviewWeight: 1,
		PreviewDuration: 10 * time.Second, Watch: 30 * time.Second, ScaleDownDelay: 5 * time.Minute,
		MaxErrorRate: 0.05, MinRequests: 20, AutoPromote: true}
}

// rollout returns a v1→v2 rollout in phase p entered at t0.
func rollout(p Phase, weights map[string]int, mod ...func(*Rollout)) Rollout {
	r := Rollout{ID: 1, Service: "web", Strategy: "blue-green",
		From: platform.Version{Service: "web", Label: "v1"}, To: platform.Version{Service: "web", Label: "v2"},
		Params: params(), Phase: p, Weights: weights, Started: t0, PhaseSince: t0}
	for _, m := range mod {
		m(&r)
	}
	return r
}

var (
	stable  = map[string]int{"v1": 100}
	preview = map[string]int{"v1": 99, "v2": 1}
	flipped = map[string]int{"v1": 0, "v2": 100}
	newOnly = map[string]int{"v2": 100}
	up      = VersionObs{Started: true, Running: 2, Ready: 2}
)

func obs(mod ...func(*Observation)) Observation {
	o := Observation{Old: up, New: up}
	for _, m := range mod {
		m(&o)
	}
	return o
}

func TestBlueGreen(t *testing.T) {
	firstDeploy := func(r *Rollout) { r.From = platform.Version{}; r.Weights = map[string]int{} }
	manual := func(r *Rollout) { r.Params.AutoPromote = false }
	noPreview := func(r *Rollout) { r.Params.PreviewWeight = 0 }
	noSmoke := func(r *Rollout) { r.Params.Smoke = false }
	tests := []struct {
		name    string
		r       Rollout
		obs     Observation
		after   time.Duration
		phase   Phase
		weights map[string]int
		actions []string
		reason  string // substring of the decision's reason
		settled bool
	}{
		{name: "new version not started yet is deployed",
			r: rollout(PhaseDeploying, stable), obs: obs(func(o *Observation) { o.New = VersionObs{} }),
			phase: PhaseDeploying, weights: stable, actions: []string{"deploy v2"}, reason: "0/2"},
		{name: "waits while instances start",
			r: rollout(PhaseDeploying, stable), obs: obs(func(o *Observation) { o.New.Ready = 1 }), after: time.Minute,
			phase: PhaseDeploying, weights: stable, reason: "1/2"},
		{name: "ready goes to smoke tests",
			r: rollout(PhaseDeploying, stable), obs: obs(),
			phase: PhaseSmoke, weights: stable, actions: []string{"smoke v2"}},
		{name: "ready without smoke tests goes to preview",
			r: rollout(PhaseDeploying, stable, noSmoke), obs: obs(),
			phase: PhasePreview, weights: preview, reason: "no smoke tests"},
		{name: "an instance that exits before ready fails the rollout without traffic",
			r: rollout(PhaseDeploying, stable), obs: obs(func(o *Observation) {
				o.New = VersionObs{Started: true, Running: 1, Exited: 1, Problem: "web-v2-0 exited: exit status 1"}
			}),
			phase: PhaseFailed, weights: stable, actions: []string{"stop v2"}, reason: "exit status 1"},
		{name: "never ready fails after readyTimeout",
			r: rollout(PhaseDeploying, stable), obs: obs(func(o *Observation) { o.New.Ready = 0; o.New.Probe = "web-v2-0: status 503" }),
			after: 2 * time.Minute, phase: PhaseFailed, weights: stable, actions: []string{"stop v2"},
			reason: "not ready after 2m0s: 0/2 instances ready (last probe web-v2-0: status 503)"},
		{name: "smoke running waits and asks for smoke",
			r: rollout(PhaseSmoke, stable), obs: obs(),
			phase: PhaseSmoke, weights: stable, actions: []string{"smoke v2"}},
		{name: "smoke failure fails without traffic",
			r: rollout(PhaseSmoke, stable), obs: obs(func(o *Observation) {
				o.Smoke = &SmokeResult{Reason: "GET / on 127.0.0.1:9002: status 500, want 200"}
			}),
			phase: PhaseFailed, weights: stable, actions: []string{"stop v2"}, reason: "status 500, want 200"},
		{name: "smoke pass starts the preview",
			r: rollout(PhaseSmoke, stable), obs: obs(func(o *Observation) { o.Smoke = &SmokeResult{Passed: true} }),
			phase: PhasePreview, weights: preview, reason: "1% of traffic"},
		{name: "smoke pass without preview switches",
			r: rollout(PhaseSmoke, stable, noPreview), obs: obs(func(o *Observation) { o.Smoke = &SmokeResult{Passed: true} }),
			phase: PhaseWatching, weights: flipped, reason: "switched all traffic to v2"},
		{name: "smoke pass without preview and without autoPromote pauses",
			r: rollout(PhaseSmoke, stable, noPreview, manual), obs: obs(func(o *Observation) { o.Smoke = &SmokeResult{Passed: true} }),
			phase: PhasePaused, weights: stable, reason: "waiting for promote"},
		{name: "first deploy routes all traffic to it after smoke",
			r: rollout(PhaseSmoke, map[string]int{}, firstDeploy), obs: obs(func(o *Observation) {
				o.Old = VersionObs{}
				o.Smoke = &SmokeResult{Passed: true}
			}),
			phase: PhaseSmoke, weights: newOnly, reason: "routing all traffic to v2"},
		{name: "first deploy completes once routed",
			r: rollout(PhaseSmoke, nil, firstDeploy, func(r *Rollout) { r.Weights = newOnly }), obs: obs(func(o *Observation) {
				o.Old = VersionObs{}
				o.Smoke = &SmokeResult{Passed: true}
			}),
			phase: PhaseCompleted, weights: newOnly, reason: "first version"},
		{name: "preview continues within its duration",
			r: rollout(PhasePreview, preview), obs: obs(), after: 9 * time.Second,
			phase: PhasePreview, weights: preview},
		{name: "preview with errors flips back before minRequests",
			r: rollout(PhasePreview, preview), obs: obs(func(o *Observation) { o.Traffic = metrics.Counts{Requests: 3, Errors: 3} }),
			phase: PhaseRolledBack, weights: stable, actions: []string{"stop v2"}, reason: "3/3 requests failed"},
		{name: "one error in a few requests is within the budget",
			r: rollout(PhasePreview, preview), obs: obs(func(o *Observation) { o.Traffic = metrics.Counts{Requests: 3, Errors: 1} }),
			phase: PhasePreview, weights: preview},
		{name: "preview passes and switches",
			r: rollout(PhasePreview, preview), obs: obs(func(o *Observation) { o.Traffic = metrics.Counts{Requests: 40, Errors: 1} }),
			after: 10 * time.Second, phase: PhaseWatching, weights: flipped, reason: "1/40 requests failed"},
		{name: "preview passes into a pause without autoPromote",
			r: rollout(PhasePreview, preview, manual), obs: obs(served(40)), after: 10 * time.Second,
			phase: PhasePaused, weights: preview, reason: "waiting for promote"},
		{name: "watch flips back on error rate",
			r: rollout(PhaseWatching, flipped), obs: obs(func(o *Observation) { o.Traffic = metrics.Counts{Requests: 100, Errors: 30} }),
			after: 5 * time.Second, phase: PhaseRolledBack, weights: stable, actions: []string{"stop v2"}, reason: "30/100 requests failed (30.00%)"},
		{name: "watch flips back when an instance exits",
			r: rollout(PhaseWatching, flipped), obs: obs(func(o *Observation) {
				o.New = VersionObs{Started: true, Running: 1, Ready: 1, Exited: 1, Problem: "web-v2-1 exited: signal: killed"}
			}),
			phase: PhaseRolledBack, weights: stable, actions: []string{"stop v2"}, reason: "signal: killed"},
		{name: "watch flips back when an instance loses readiness",
			r: rollout(PhaseWatching, flipped), obs: obs(func(o *Observation) {
				o.New = VersionObs{Started: true, Running: 2, Ready: 1, Failing: 1, Problem: "web-v2-1 not ready: status 503"}
			}),
			phase: PhaseRolledBack, weights: stable, actions: []string{"stop v2"}, reason: "status 503"},
		{name: "watch window over completes",
			r: rollout(PhaseWatching, flipped), obs: obs(func(o *Observation) { o.Traffic = metrics.Counts{Requests: 500} }),
			after: 30 * time.Second, phase: PhaseCompleted, weights: newOnly, reason: "0/500 requests failed"},
		{name: "completed keeps the old version warm",
			r: rollout(PhaseCompleted, newOnly), obs: obs(), after: 4 * time.Minute,
			phase: PhaseCompleted, weights: newOnly},
		{name: "completed stops the old version after the delay",
			r: rollout(PhaseCompleted, newOnly), obs: obs(), after: 5 * time.Minute,
			phase: PhaseCompleted, weights: newOnly, actions: []string{"stop v1"}},
		{name: "completed settles once the old version is stopped",
			r: rollout(PhaseCompleted, newOnly), obs: obs(func(o *Observation) { o.Old = VersionObs{} }), after: 6 * time.Minute,
			phase: PhaseCompleted, weights: newOnly, settled: true},
		{name: "completed after a restart redeploys the warm old version",
			r: rollout(PhaseCompleted, newOnly), obs: obs(func(o *Observation) { o.Old = VersionObs{} }), after: time.Minute,
			phase: PhaseCompleted, weights: newOnly, actions: []string{"deploy v1"}},
		{name: "watching after a restart redeploys both versions",
			r: rollout(PhaseWatching, flipped), obs: obs(func(o *Observation) { o.Old = VersionObs{}; o.New = VersionObs{} }),
			after: time.Second, phase: PhaseWatching, weights: flipped, actions: []string{"deploy v1", "deploy v2"}},
		{name: "rolled back stops the new version, then settles",
			r: rollout(PhaseRolledBack, stable), obs: obs(),
			phase: PhaseRolledBack, weights: stable, actions: []string{"stop v2"}},
		{name: "rolled back settles",
			r: rollout(PhaseRolledBack, stable), obs: obs(func(o *Observation) { o.New = VersionObs{} }),
			phase: PhaseRolledBack, weights: stable, settled: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, tt.obs, t0.Add(tt.after))
			if d.Phase != tt.phase {
				t.Fatalf("phase = %s (%s), want %s", d.Phase, d.Reason, tt.phase)
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
			if d.Settled != tt.settled {
				t.Errorf("settled = %v, want %v", d.Settled, tt.settled)
			}
			if d.Rejected != "" {
				t.Errorf("rejected = %q", d.Rejected)
			}
		})
	}
}

func TestBlueGreenCommands(t *testing.T) {
	tests := []struct {
		name     string
		r        Rollout
		cmd      Command
		old      VersionObs
		after    time.Duration
		phase    Phase
		weights  map[string]int
		rejected string
	}{
		{name: "promote in preview switches", r: rollout(PhasePreview, preview), cmd: CmdPromote,
			phase: PhaseWatching, weights: flipped},
		{name: "promote in a pause switches", r: rollout(PhasePaused, stable), cmd: CmdPromote,
			phase: PhaseWatching, weights: flipped},
		{name: "promote in the watch completes", r: rollout(PhaseWatching, flipped), cmd: CmdPromote,
			phase: PhaseCompleted, weights: newOnly},
		{name: "promote before the gates is refused", r: rollout(PhaseDeploying, stable), cmd: CmdPromote,
			phase: PhaseDeploying, weights: stable, rejected: "has not passed its gates"},
		{name: "abort before traffic moved aborts", r: rollout(PhaseSmoke, stable), cmd: CmdAbort,
			phase: PhaseAborted, weights: stable},
		{name: "abort in preview flips back", r: rollout(PhasePreview, preview), cmd: CmdAbort,
			phase: PhaseRolledBack, weights: stable},
		{name: "rollback in the watch flips back", r: rollout(PhaseWatching, flipped), cmd: CmdRollback,
			phase: PhaseRolledBack, weights: stable},
		{name: "rollback after completion flips back while warm", r: rollout(PhaseCompleted, newOnly), cmd: CmdRollback,
			after: time.Minute, phase: PhaseRolledBack, weights: stable},
		{name: "rollback after the scale-down is refused", r: rollout(PhaseCompleted, newOnly), cmd: CmdRollback,
			old: VersionObs{}, after: 10 * time.Minute, phase: PhaseCompleted, weights: newOnly, rejected: "no longer warm"},
		{name: "abort after the end is refused", r: rollout(PhaseFailed, stable), cmd: CmdAbort,
			phase: PhaseFailed, weights: stable, rejected: "has ended"},
		{name: "promote after completion is refused", r: rollout(PhaseCompleted, newOnly), cmd: CmdPromote,
			phase: PhaseCompleted, weights: newOnly, rejected: "has completed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := obs(func(o *Observation) { o.Command = tt.cmd })
			if tt.rejected == "no longer warm" {
				o.Old = tt.old
			}
			d := Step(tt.r, o, t0.Add(tt.after))
			if d.Phase != tt.phase || !maps.Equal(d.Weights, tt.weights) {
				t.Fatalf("got %s %v (%s), want %s %v", d.Phase, d.Weights, d.Reason, tt.phase, tt.weights)
			}
			if !strings.Contains(d.Rejected, tt.rejected) || (tt.rejected == "") != (d.Rejected == "") {
				t.Errorf("rejected = %q, want %q", d.Rejected, tt.rejected)
			}
		})
	}
}

// TestBlueGreenNumbers pins that a flip-back carries the figures behind it.
func TestBlueGreenNumbers(t *testing.T) {
	o := obs(func(o *Observation) { o.Traffic = metrics.Counts{Requests: 50, Errors: 10} })
	d := Step(rollout(PhaseWatching, flipped), o, t0)
	want := map[string]float64{"requests": 50, "errors": 10, "errorRate": 0.2, "maxErrorRate": 0.05, "minRequests": 20}
	if !maps.Equal(d.Numbers, want) {
		t.Fatalf("numbers = %v, want %v", d.Numbers, want)
	}
}

// served gives the new version n requests without an error in the phase.
func served(n int64) func(*Observation) {
	return func(o *Observation) { o.Traffic = metrics.Counts{Requests: n} }
}

func actionStrings(as []Action) []string {
	var out []string
	for _, a := range as {
		out = append(out, a.String())
	}
	return out
}
