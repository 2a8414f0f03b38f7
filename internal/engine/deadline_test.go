package engine

import (
	"strings"
	"testing"
	"time"
)

// TestProgressDeadline: the same deadline for every strategy, on top of
// what the phase or step plans to take; Paused does not count; progress
// made in the very decision wins over the deadline.
func TestProgressDeadline(t *testing.T) {
	deadline := func(r *Rollout) { r.Params.ProgressDeadline = 10 * time.Minute }
	pause := func(r *Rollout) { r.Params.PauseOnDeadline = true }
	smokeRunning := obs() // no smoke result: the tests hang
	inconclusive := obs(analysisObs(VerdictInconclusive, 100, 0, 0))
	untilPass := func(r *Rollout) { r.Params.Steps[1].Duration = 0 }
	stuckBatch := func(o *Observation) { o.Old = versions(true, 4, 4, 4); o.New = versions(true, 1, 0, 0) }
	tests := []struct {
		name   string
		r      Rollout
		obs    Observation
		after  time.Duration
		phase  Phase
		reason string
		hold   Phase // the phase a pause remembers
	}{
		{name: "blue-green smoke tests that never report, before the deadline",
			r: rollout(PhaseSmoke, stable, deadline), obs: smokeRunning, after: 10*time.Minute - time.Second, phase: PhaseSmoke},
		{name: "blue-green smoke tests that never report fail at the deadline (no user traffic)",
			r: rollout(PhaseSmoke, stable, deadline), obs: smokeRunning, after: 10 * time.Minute,
			phase: PhaseFailed, reason: "no progress for 10m0s (progressDeadline) in Smoke"},
		{name: "blue-green smoke with onProgressDeadline pause holds",
			r: rollout(PhaseSmoke, stable, deadline, pause), obs: smokeRunning, after: 10 * time.Minute,
			phase: PhasePaused, reason: "resume to try again", hold: PhaseSmoke},
		{name: "a long watch window is not cut short",
			r: rollout(PhaseWatching, flipped, deadline, func(r *Rollout) { r.Params.Watch = time.Hour }), obs: obs(),
			after: 50 * time.Minute, phase: PhaseWatching},
		{name: "a long readyTimeout is not cut short",
			r:   rollout(PhaseDeploying, stable, deadline, func(r *Rollout) { r.Params.ReadyTimeout = time.Hour }),
			obs: obs(func(o *Observation) { o.New.Ready = 1 }), after: 59 * time.Minute, phase: PhaseDeploying},
		{name: "a held rollout never reaches the deadline",
			r: rollout(PhasePaused, preview, deadline), obs: obs(), after: 24 * time.Hour, phase: PhasePaused},
		{name: "canary analysis until Pass at low traffic rolls back",
			r: canaryRollout(PhaseProgressing, 1, at5, deadline, untilPass), obs: inconclusive, after: 10 * time.Minute,
			phase: PhaseRolledBack, reason: "in step 2/6 (analysis errors until Pass)"},
		{name: "canary timed analysis gets its duration on top",
			r:   canaryRollout(PhaseProgressing, 1, at5, deadline, func(r *Rollout) { r.Params.Steps[1].Duration = time.Hour }),
			obs: inconclusive, after: 55 * time.Minute, phase: PhaseProgressing},
		{name: "canary pause step of 30m, 20m in",
			r:   canaryRollout(PhaseProgressing, 3, at5, deadline, func(r *Rollout) { r.Params.Steps[3].Duration = 30 * time.Minute }),
			obs: obs(), after: 20 * time.Minute, phase: PhaseProgressing},
		{name: "canary at the end of a timed pause moves on rather than failing",
			r: canaryRollout(PhaseProgressing, 3, at5, deadline), obs: obs(), after: time.Hour, phase: PhaseProgressing},
		{name: "rolling batch stuck past readiness, minHealthyTime and the deadline reverts",
			r:   rollingRollout(PhaseProgressing, 1, 4, stable, deadline),
			obs: obs(stuckBatch), after: 12*time.Minute + 5*time.Second, phase: PhaseRolledBack, reason: "past the planned 2m5s"},
		{name: "rolling batch stuck, pause configured",
			r:   rollingRollout(PhaseProgressing, 1, 4, stable, deadline, pause),
			obs: obs(stuckBatch), after: 13 * time.Minute, phase: PhasePaused, hold: PhaseProgressing},
		{name: "rolling first batch whose smoke tests hang fails without traffic",
			r:     rollingRollout(PhaseSmoke, 1, 4, stable, deadline),
			obs:   obs(func(o *Observation) { o.Old = versions(true, 4, 4, 4); o.New = versions(true, 1, 1, 0) }),
			after: 10 * time.Minute, phase: PhaseFailed},
		{name: "no deadline configured waits",
			r: rollout(PhaseSmoke, stable), obs: smokeRunning, after: 24 * time.Hour, phase: PhaseSmoke},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, tt.obs, t0.Add(tt.after))
			if d.Phase != tt.phase {
				t.Fatalf("phase %s (%s), want %s", d.Phase, d.Reason, tt.phase)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tt.reason)
			}
			switch {
			case tt.hold != "" && (d.Hold == nil || d.Hold.Phase != tt.hold):
				t.Errorf("hold %+v, want one in %s", d.Hold, tt.hold)
			case d.Phase.Terminal() && d.Weights["v2"] != 0:
				t.Errorf("weights %v: a rollout that gave up keeps no traffic on v2", d.Weights)
			}
		})
	}
}

// TestProgressDeadlineResumeStartsAfresh: a rollout paused by its
// deadline gets its whole planned time again when resumed.
func TestProgressDeadlineResumeStartsAfresh(t *testing.T) {
	r := rollout(PhaseSmoke, stable, func(r *Rollout) {
		r.Params.ProgressDeadline, r.Params.PauseOnDeadline = 10*time.Minute, true
	})
	now := t0.Add(10 * time.Minute)
	r = apply(r, Step(r, obs(), now), now)
	if r.Phase != PhasePaused {
		t.Fatalf("phase %s, want Paused", r.Phase)
	}
	now = now.Add(time.Hour)
	r = apply(r, Step(r, obs(func(o *Observation) { o.Command = CmdResume }), now), now)
	if r.Phase != PhaseSmoke || !r.PhaseSince.Equal(now) {
		t.Fatalf("resumed to %s since %s, want Smoke since %s", r.Phase, r.PhaseSince, now)
	}
	if d := Step(r, obs(), now.Add(9*time.Minute)); d.Phase != PhaseSmoke {
		t.Fatalf("9m after resume: %s (%s)", d.Phase, d.Reason)
	}
}

// apply persists a decision as the controller does.
func apply(r Rollout, d Decision, now time.Time) Rollout {
	stepped := d.Step != r.Step || d.RestartStep
	if d.Phase != r.Phase || stepped {
		r.PhaseSince = now
	}
	if stepped {
		r.StepSince = now
	}
	if !d.PhaseSince.IsZero() {
		r.PhaseSince = d.PhaseSince
	}
	if !d.StepSince.IsZero() {
		r.StepSince = d.StepSince
	}
	r.Phase, r.Reason, r.Weights, r.Step = d.Phase, d.Reason, d.Weights, d.Step
	r.NewCount, r.OldCount, r.Hooks, r.Hold = d.NewCount, d.OldCount, d.Hooks, d.Hold
	return r
}
