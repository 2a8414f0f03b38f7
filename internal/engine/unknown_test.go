package engine

import (
	"maps"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestUnknownIsNotLost pins the bug where a failed list of instances (a
// Kubernetes API that did not answer) read as "no instances": the engine
// deployed the version again and, past the watch, rolled a healthy one
// back as not ready. An observation that could not be made holds the
// rollout — split, phase and clocks — with no action on that version, and
// no deadline runs out on it; a person's abort still applies.
func TestUnknownIsNotLost(t *testing.T) {
	const why = "cannot list v2's instances: the API server did not answer"
	newUnknown := func(o *Observation) { o.New = VersionObs{Unknown: why} }
	oldUnknown := func(o *Observation) { o.Old = VersionObs{Unknown: "cannot list v1's instances: timeout"} }
	deadline := func(r *Rollout) { r.Params.ProgressDeadline = time.Minute }
	tests := []struct {
		name    string
		r       Rollout
		obs     Observation
		after   time.Duration
		phase   Phase
		weights map[string]int
		actions []string
		reason  string
	}{
		{name: "a watch past its window holds, no flip back, no redeploy",
			r: rollout(PhaseWatching, flipped, deadline), obs: obs(newUnknown, served(40)), after: 10 * time.Minute,
			phase: PhaseWatching, weights: flipped, reason: "(holding: " + why + ")"},
		{name: "deploying does not deploy again",
			r: rollout(PhaseDeploying, stable), obs: obs(newUnknown), after: 5 * time.Minute,
			phase: PhaseDeploying, weights: stable, reason: why},
		{name: "completed does not stop or redeploy the old version it cannot see",
			r: rollout(PhaseCompleted, newOnly), obs: obs(oldUnknown), after: 10 * time.Minute,
			phase: PhaseCompleted, weights: newOnly, reason: "timeout"},
		{name: "a canary step holds",
			r: canaryRollout(PhaseProgressing, 0, at5), obs: obs(newUnknown), after: time.Hour,
			phase: PhaseProgressing, weights: at5, reason: why},
		{name: "abort still flips back, with no action on what cannot be seen",
			r: rollout(PhaseWatching, flipped), obs: obs(newUnknown, command(CmdAbort)),
			phase: PhaseRolledBack, weights: stable, actions: []string{"stop v2"}, reason: "abort requested"},
		{name: "seen again: the hold leaves the reason",
			r: rollout(PhaseWatching, flipped, func(r *Rollout) { r.Reason = "switched" + holding + why + ")" }), obs: obs(), after: time.Second,
			phase: PhaseWatching, weights: flipped, reason: "switched"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, tt.obs, t0.Add(tt.after))
			if d.Phase != tt.phase || !maps.Equal(d.Weights, tt.weights) {
				t.Fatalf("got %s %v (%s), want %s %v", d.Phase, d.Weights, d.Reason, tt.phase, tt.weights)
			}
			if got := actionStrings(d.Actions); !slices.Equal(got, tt.actions) {
				t.Errorf("actions %v, want %v", got, tt.actions)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tt.reason)
			}
			if tt.name == "seen again: the hold leaves the reason" && strings.Contains(d.Reason, "holding") {
				t.Errorf("reason %q still says holding", d.Reason)
			}
			if d.Settled {
				t.Errorf("settled while a version is unknown")
			}
		})
	}
}
