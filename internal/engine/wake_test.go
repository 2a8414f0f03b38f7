package engine

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestNextDeadline(t *testing.T) {
	tests := []struct {
		name string
		r    Rollout
		now  time.Time
		want time.Time // zero: none
	}{
		{name: "a preview ends after its duration",
			r: rollout(PhasePreview, preview), now: t0.Add(time.Second), want: t0.Add(10 * time.Second)},
		{name: "a watch ends after its window",
			r: rollout(PhaseWatching, flipped), now: t0.Add(11 * time.Second), want: t0.Add(30 * time.Second)},
		{name: "then the readiness wait past the watch",
			r: rollout(PhaseWatching, flipped), now: t0.Add(2 * time.Minute), want: t0.Add(2*time.Minute + 30*time.Second)},
		{name: "a completed rollout's scale-down delay",
			r: rollout(PhaseCompleted, newOnly), now: t0.Add(3 * time.Minute), want: t0.Add(5 * time.Minute)},
		{name: "a settled rollout long ago has none",
			r: rollout(PhaseCompleted, newOnly, func(r *Rollout) { r.Settled = true }), now: t0.Add(time.Hour)},
		{name: "a timed canary pause",
			r: canaryRollout(PhaseProgressing, 3, at5), now: t0.Add(time.Second), want: t0.Add(5 * time.Second)},
		{name: "a timed canary analysis",
			r: canaryRollout(PhaseProgressing, 1, at5), now: t0.Add(3 * time.Second), want: t0.Add(10 * time.Second)},
		{name: "a paused rollout has no progress deadline",
			r: rollout(PhasePaused, preview, func(r *Rollout) { r.Params.ProgressDeadline = time.Hour }), now: t0.Add(time.Hour)},
		{name: "a rolling batch's readiness and minHealthyTime",
			r: rollingRollout(PhaseProgressing, 1, 4, stable), now: t0.Add(2*time.Minute + time.Second),
			want: t0.Add(2*time.Minute + 5*time.Second)},
		{name: "the progress deadline on top of the watch",
			r:   rollout(PhaseWatching, flipped, func(r *Rollout) { r.Params.ProgressDeadline = time.Hour }),
			now: t0.Add(time.Hour), want: t0.Add(time.Hour + 2*time.Minute + 30*time.Second)},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := NextDeadline(tt.r, tt.now); !got.Equal(tt.want) {
				t.Fatalf("NextDeadline = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestNextDeadlineMissesNothing: over random sequences, a step at any
// moment before the next deadline decides as a step now does (phase,
// step, weights, actions): time alone changes nothing before it. This is
// what lets the controller sleep until then (issue 22).
func TestNextDeadlineMissesNothing(t *testing.T) {
	for seed := range uint64(1000) {
		src := rand.New(rand.NewPCG(seed, 11))
		r := startRollout(src)
		now := t0
		for i := range 60 {
			obs := randomObs(src, r)
			obs.Command = ""                                                                           // a command is an event, not time
			now = now.Add(time.Duration(src.IntN(180)) * time.Second / time.Duration(1+9*src.IntN(2))) // often within a short step
			d := Step(r, obs, now)
			next := NextDeadline(r, now)
			later := []time.Time{now.Add(time.Nanosecond), now.Add(time.Second), now.Add(time.Minute), now.Add(24 * time.Hour)}
			if !next.IsZero() {
				later = []time.Time{next.Add(-time.Nanosecond), now.Add(next.Sub(now) / 2)}
			}
			for _, at := range later {
				if got, want := decisionKey(Step(r, obs, at)), decisionKey(d); got != want {
					t.Fatalf("seed %d step %d: %s step %d, next deadline %v (now %v): at %v decides\n  %s\nbut now\n  %s",
						seed, i, r.Phase, r.Step, next.Sub(t0), now.Sub(t0), at.Sub(t0), got, want)
				}
			}
			if d.Rejected == "" {
				r = applyAll(r, d, now)
			}
		}
	}
}

func decisionKey(d Decision) string {
	acts := ""
	for _, a := range d.Actions {
		acts += a.String() + ";"
	}
	return fmt.Sprintf("%s step %d restart %v settled %v weights %v actions %s hold %v rejected %q",
		d.Phase, d.Step, d.RestartStep, d.Settled, d.Weights, acts, d.Hold != nil, d.Rejected)
}
