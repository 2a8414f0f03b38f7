package engine

import (
	"strings"
	"testing"
	"time"
)

func command(c Command) func(*Observation) { return func(o *Observation) { o.Command = c } }

// TestPauseResume: pause holds any active rollout where it stands and
// resume returns it there with its clocks moved past the pause.
func TestPauseResume(t *testing.T) {
	tests := []struct {
		name  string
		r     Rollout
		after time.Duration // time in the phase before the pause
		held  time.Duration // time paused
		obs   Observation   // what the resumed rollout sees
		want  Phase         // the decision after resume
	}{
		{name: "a preview keeps the rest of its duration",
			r: rollout(PhasePreview, preview), after: 5 * time.Second, held: time.Hour, obs: obs(), want: PhasePreview},
		{name: "a preview whose duration ran out before the pause switches",
			r: rollout(PhasePreview, preview), after: 10 * time.Second, held: time.Hour, obs: obs(served(40)), want: PhaseWatching},
		{name: "a canary timed pause keeps the rest of its duration",
			r: canaryRollout(PhaseProgressing, 3, at5), after: 2 * time.Second, held: time.Hour, obs: obs(), want: PhaseProgressing},
		{name: "a watch keeps the rest of its window",
			r: rollout(PhaseWatching, flipped), after: 20 * time.Second, held: time.Hour, obs: obs(), want: PhaseWatching},
		{name: "a rolling batch goes on",
			r: rollingRollout(PhaseProgressing, 1, 4, stable), after: time.Second, held: time.Hour,
			obs: obs(func(o *Observation) { o.Old = versions(true, 4, 4, 4); o.New = versions(true, 1, 1, 0) }), want: PhaseProgressing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			now := t0.Add(tt.after)
			d := Step(tt.r, obs(command(CmdPause)), now)
			if d.Phase != PhasePaused || d.Hold == nil || d.Hold.Phase != tt.r.Phase || d.Rejected != "" {
				t.Fatalf("pause: %s hold %+v rejected %q", d.Phase, d.Hold, d.Rejected)
			}
			if d.Step != tt.r.Step || d.Weights["v2"] != tt.r.Weights["v2"] || d.NewCount != tt.r.NewCount {
				t.Fatalf("pause moved the rollout: step %d weights %v new %d", d.Step, d.Weights, d.NewCount)
			}
			r := apply(tt.r, d, now)
			now = now.Add(tt.held)
			if d := Step(r, obs(), now); d.Phase != PhasePaused {
				t.Fatalf("held: %s (%s)", d.Phase, d.Reason)
			}
			d = Step(r, obs(command(CmdResume)), now)
			if d.Phase != tt.r.Phase || !strings.Contains(d.Reason, "resumed after 1h0m0s paused") || d.Hold != nil {
				t.Fatalf("resume: %s (%s) hold %+v", d.Phase, d.Reason, d.Hold)
			}
			r = apply(r, d, now)
			if got, want := r.PhaseSince, tt.r.PhaseSince.Add(tt.held); !got.Equal(want) {
				t.Fatalf("phase since %s, want %s (moved by the pause)", got, want)
			}
			if d := Step(r, tt.obs, now); d.Phase != tt.want {
				t.Fatalf("after resume: %s (%s), want %s", d.Phase, d.Reason, tt.want)
			}
		})
	}
}

func TestPauseResumeCommands(t *testing.T) {
	held := func(p Phase) func(*Rollout) {
		return func(r *Rollout) {
			r.Hold = &Hold{Phase: p, Reason: "was here", Since: t0, PhaseSince: t0}
		}
	}
	tests := []struct {
		name     string
		r        Rollout
		cmd      Command
		phase    Phase
		rejected string
	}{
		{name: "pause an ended rollout", r: rollout(PhaseCompleted, newOnly), cmd: CmdPause, rejected: "has ended"},
		{name: "pause twice", r: rollout(PhasePaused, preview, held(PhasePreview)), cmd: CmdPause, rejected: "already paused"},
		{name: "resume a rollout that is not paused", r: rollout(PhaseWatching, flipped), cmd: CmdResume, rejected: "not paused"},
		{name: "resume a blue-green waiting for promote", r: rollout(PhasePaused, stable), cmd: CmdResume, rejected: "waits for promote"},
		{name: "promote a rollout paused before its gates", r: rollout(PhasePaused, stable, held(PhaseSmoke)), cmd: CmdPromote,
			rejected: "not passed its gates"},
		{name: "promote a rollout paused in preview switches", r: rollout(PhasePaused, preview, held(PhasePreview)), cmd: CmdPromote,
			phase: PhaseWatching},
		{name: "promote a rollout paused in the watch completes", r: rollout(PhasePaused, flipped, held(PhaseWatching)), cmd: CmdPromote,
			phase: PhaseCompleted},
		{name: "abort a paused rollout flips back", r: rollout(PhasePaused, preview, held(PhasePreview)), cmd: CmdAbort,
			phase: PhaseRolledBack},
		{name: "pause while deploying", r: rollout(PhaseDeploying, stable), cmd: CmdPause, phase: PhasePaused},
		{name: "resume a canary paused at a pause-until-promote step", r: canaryRollout(PhasePaused, 4, at5), cmd: CmdResume,
			rejected: "promote goes past it"},
		{name: "resume a canary paused after an inconclusive analysis runs it again", r: canaryRollout(PhasePaused, 1, at5),
			cmd: CmdResume, phase: PhaseProgressing},
		{name: "resume a halted rolling rollout", r: rollingRollout(PhasePaused, 2, 3, stable), cmd: CmdResume, phase: PhaseProgressing},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, obs(command(tt.cmd)), t0.Add(time.Minute))
			if tt.rejected != "" {
				if !strings.Contains(d.Rejected, tt.rejected) {
					t.Fatalf("rejected %q, want %q (phase %s)", d.Rejected, tt.rejected, d.Phase)
				}
				return
			}
			if d.Rejected != "" || d.Phase != tt.phase {
				t.Fatalf("%s (%s), rejected %q; want %s", d.Phase, d.Reason, d.Rejected, tt.phase)
			}
		})
	}
}

// TestResumeRestartsAnAnalysis: measurements from before a pause are not
// mixed with after: the analysis step starts again.
func TestResumeRestartsAnAnalysis(t *testing.T) {
	r := canaryRollout(PhasePaused, 1, at5, func(r *Rollout) {
		r.Hold = &Hold{Phase: PhaseProgressing, Since: t0, PhaseSince: t0.Add(-5 * time.Second), StepSince: t0.Add(-5 * time.Second)}
	})
	d := Step(r, obs(command(CmdResume)), t0.Add(time.Hour))
	if d.Phase != PhaseProgressing || !d.RestartStep || d.Step != 1 {
		t.Fatalf("%s step %d restart %v", d.Phase, d.Step, d.RestartStep)
	}
}
