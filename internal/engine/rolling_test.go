package engine

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// rollingRollout is a v1→v2 rolling rollout of 4 replicas, surge 1.
func rollingRollout(p Phase, newCount, oldCount int, weights map[string]int, mod ...func(*Rollout)) Rollout {
	r := rollout(p, weights, func(r *Rollout) {
		r.Strategy = StrategyRolling
		r.Params.Replicas = 4
		r.Params.ScaleDownDelay = 0
		r.Params.Rolling = &RollingParams{MaxSurge: 1, MinHealthyTime: 5 * time.Second, ProgressDeadline: 10 * time.Minute, AutoRevert: true}
		r.NewCount, r.OldCount, r.StepSince = newCount, oldCount, t0
	})
	for _, m := range mod {
		m(&r)
	}
	return r
}

func versions(started bool, running, ready, available int) VersionObs {
	return VersionObs{Started: started, Running: running, Ready: ready, Available: available}
}

func TestRolling(t *testing.T) {
	tests := []struct {
		name       string
		r          Rollout
		old, new   VersionObs
		smoke      *SmokeResult
		after      time.Duration
		phase      Phase
		newN, oldN int
		weights    map[string]int
		actions    []string
		reason     string
	}{
		{name: "first batch starts one new instance out of the split",
			r: rollingRollout(PhaseDeploying, 0, 0, stable), old: versions(true, 4, 4, 4), new: VersionObs{},
			phase: PhaseDeploying, newN: 1, oldN: 4, weights: stable, actions: []string{"scale v2 1"}, reason: "0/1"},
		{name: "first batch ready goes to smoke",
			r: rollingRollout(PhaseDeploying, 1, 4, stable), old: versions(true, 4, 4, 4), new: versions(true, 1, 1, 0),
			phase: PhaseSmoke, newN: 1, oldN: 4, weights: stable, actions: []string{"scale v2 1", "smoke v2"}},
		{name: "first batch crashing fails without traffic",
			r: rollingRollout(PhaseDeploying, 1, 4, stable), old: versions(true, 4, 4, 4),
			new:   VersionObs{Started: true, Exited: 1, Problem: "web-v2-0 exited: exit status 1"},
			phase: PhaseFailed, newN: 0, oldN: 4, weights: stable, actions: []string{"stop v2", "scale v1 4"}, reason: "exit status 1"},
		{name: "smoke pass starts the batches",
			r: rollingRollout(PhaseSmoke, 1, 4, stable), old: versions(true, 4, 4, 4), new: versions(true, 1, 1, 0),
			smoke: &SmokeResult{Passed: true},
			phase: PhaseProgressing, newN: 1, oldN: 4, weights: stable, reason: "replacing instances 1 at a time"},
		{name: "a new instance not yet healthy long enough keeps the old ones",
			r: rollingRollout(PhaseProgressing, 1, 4, stable), old: versions(true, 4, 4, 4), new: versions(true, 1, 1, 0),
			phase: PhaseProgressing, newN: 1, oldN: 4, weights: map[string]int{"v1": 80, "v2": 20},
			actions: []string{"scale v2 1", "scale v1 4"}},
		{name: "an available new instance retires one old one and surges the next",
			r: rollingRollout(PhaseProgressing, 1, 4, stable), old: versions(true, 4, 4, 4), new: versions(true, 1, 1, 1),
			phase: PhaseProgressing, newN: 1, oldN: 3, weights: map[string]int{"v1": 75, "v2": 25},
			actions: []string{"scale v2 1", "scale v1 3"}, reason: "batch: v2 1/4"},
		{name: "with an old one gone a new one surges",
			r: rollingRollout(PhaseProgressing, 1, 3, stable), old: versions(true, 3, 3, 3), new: versions(true, 1, 1, 1),
			phase: PhaseProgressing, newN: 2, oldN: 3, actions: []string{"scale v2 2", "scale v1 3"}, reason: "batch: v2 2/4"},
		{name: "all new and available completes",
			r: rollingRollout(PhaseProgressing, 4, 0, stable), old: VersionObs{Started: true}, new: versions(true, 4, 4, 4),
			phase: PhaseCompleted, newN: 4, oldN: 0, weights: newOnly, reason: "all 4 instances replaced"},
		{name: "a batch losing an instance reverts",
			r: rollingRollout(PhaseProgressing, 2, 3, stable), old: versions(true, 3, 3, 3),
			new:   VersionObs{Started: true, Running: 1, Ready: 1, Available: 1, Exited: 1, Problem: "web-v2-1 exited: exit status 1"},
			phase: PhaseRolledBack, newN: 0, oldN: 4, weights: stable, actions: []string{"scale v1 4", "stop v2"}, reason: "halted and reverted; v1 back to 4 instances"},
		{name: "without autoRevert a failing batch halts in Paused",
			r:   rollingRollout(PhaseProgressing, 2, 3, stable, func(r *Rollout) { r.Params.Rolling.AutoRevert = false }),
			old: versions(true, 3, 3, 3), new: VersionObs{Started: true, Running: 2, Ready: 1, Failing: 1, Problem: "web-v2-1 not ready"},
			phase: PhasePaused, newN: 2, oldN: 3, reason: "halted: promote to go on"},
		{name: "no progress past the deadline reverts",
			r: rollingRollout(PhaseProgressing, 1, 4, stable), old: versions(true, 4, 4, 4), new: versions(true, 1, 0, 0),
			after: 10*time.Minute + 2*time.Minute + 5*time.Second, phase: PhaseRolledBack, newN: 0, oldN: 4, weights: stable, reason: "progressDeadline"},
		{name: "a reverted rollout keeps the old version whole",
			r: rollingRollout(PhaseRolledBack, 0, 4, stable), old: versions(true, 3, 3, 3), new: VersionObs{},
			phase: PhaseRolledBack, newN: 0, oldN: 4, weights: stable, actions: []string{"scale v1 4"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := Observation{Old: tt.old, New: tt.new, Smoke: tt.smoke}
			d := Step(tt.r, o, t0.Add(tt.after))
			if d.Phase != tt.phase || d.NewCount != tt.newN || d.OldCount != tt.oldN {
				t.Fatalf("got %s new %d old %d (%s), want %s new %d old %d", d.Phase, d.NewCount, d.OldCount, d.Reason, tt.phase, tt.newN, tt.oldN)
			}
			if tt.weights != nil && !maps.Equal(d.Weights, tt.weights) {
				t.Errorf("weights = %v, want %v", d.Weights, tt.weights)
			}
			if tt.actions != nil {
				if got := actionStrings(d.Actions); !slices.Equal(got, tt.actions) {
					t.Errorf("actions = %v, want %v", got, tt.actions)
				}
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason = %q, want %q", d.Reason, tt.reason)
			}
		})
	}
}

// TestRollingNeverDropsCapacity walks a healthy rolling rollout, each
// step's scale actions applied at once and every instance available:
// the ready total never falls below replicas - maxUnavailable, and never
// exceeds replicas + maxSurge.
func TestRollingNeverDropsCapacity(t *testing.T) {
	for _, surge := range []int{1, 2, 4} {
		r := rollingRollout(PhaseProgressing, 1, 4, stable, func(r *Rollout) { r.Params.Rolling.MaxSurge = surge })
		newUp, oldUp := 1, 4
		for i := 0; i < 20 && r.Phase == PhaseProgressing; i++ {
			o := Observation{Old: versions(true, oldUp, oldUp, oldUp), New: versions(true, newUp, newUp, newUp)}
			d := Step(r, o, t0)
			if total := newUp + oldUp; total < 4 || total > 4+surge {
				t.Fatalf("surge %d: %d instances ready, want 4..%d", surge, total, 4+surge)
			}
			newUp, oldUp = d.NewCount, d.OldCount
			r.Phase, r.NewCount, r.OldCount, r.Weights = d.Phase, d.NewCount, d.OldCount, d.Weights
		}
		if r.Phase != PhaseCompleted {
			t.Fatalf("surge %d: ended %s (new %d old %d)", surge, r.Phase, r.NewCount, r.OldCount)
		}
	}
}
