package engine

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// TestRouterRefusalIsNotObedience pins the bug where, with an NGINX whose
// `nginx -t` refused every render, the first rollout still ended
// Completed "takes all traffic": a rollout never moves on past a split the
// router did not confirm, and the refusal is the reason; retreats and the
// progress deadline still go through.
func TestRouterRefusalIsNotObedience(t *testing.T) {
	const refusal = "nginx -t refused the new config (the previous one stays): nginx: [emerg] unknown directive"
	refused := func(o *Observation) { o.Route = refusal }
	smokePassed := func(o *Observation) { o.Smoke = &SmokeResult{Passed: true} }
	first := func(r *Rollout) { r.From = platform.Version{}; r.Weights = map[string]int{} }
	deadline := func(r *Rollout) { r.Params.ProgressDeadline = time.Minute }
	tests := []struct {
		name     string
		r        Rollout
		obs      Observation
		after    time.Duration
		phase    Phase
		weights  map[string]int
		reason   string
		rejected string
	}{
		{name: "a first version's empty route refused: smoke passed, no traffic moved, not Completed",
			r: rollout(PhaseSmoke, map[string]int{}, first), obs: obs(refused, smokePassed),
			phase: PhaseSmoke, weights: map[string]int{}, reason: "the router has not applied the split (no version): " + refusal},
		{name: "a first version routed but refused is not Completed",
			r: rollout(PhaseSmoke, nil, first, func(r *Rollout) { r.Weights = newOnly }), obs: obs(refused, smokePassed),
			phase: PhaseSmoke, weights: newOnly, reason: "v2=100: nginx -t refused"},
		{name: "the switch waits while the preview's split is refused",
			r: rollout(PhasePreview, preview), obs: obs(refused, served(40)), after: 10 * time.Second,
			phase: PhasePreview, weights: preview, reason: "v1=99 v2=1: nginx -t refused"},
		{name: "a refused switch does not complete the watch",
			r: rollout(PhaseWatching, flipped), obs: obs(refused, served(40)), after: time.Minute,
			phase: PhaseWatching, weights: flipped, reason: "v1=0 v2=100: nginx -t"},
		{name: "a canary step does not move on",
			r: canaryRollout(PhaseProgressing, 0, at5), obs: obs(refused),
			phase: PhaseProgressing, weights: at5, reason: "nginx -t refused"},
		{name: "errors still flip back",
			r: rollout(PhaseWatching, flipped), obs: obs(refused, func(o *Observation) { o.Traffic.Requests, o.Traffic.Errors = 10, 10 }),
			phase: PhaseRolledBack, weights: stable},
		{name: "the deadline ends a refusal that lasts",
			r: rollout(PhaseSmoke, stable, deadline), obs: obs(refused, smokePassed), after: time.Minute,
			phase: PhaseFailed, weights: stable, reason: "nginx -t refused"},
		{name: "promote is refused with the router's answer",
			r:   rollout(PhaseWatching, flipped, func(r *Rollout) { r.Params.AutoPromote = false }),
			obs: obs(refused, command(CmdPromote)), phase: PhaseWatching, weights: flipped, rejected: "cannot promote: the router has not applied"},
		{name: "confirmed: the watch completes",
			r: rollout(PhaseWatching, flipped), obs: obs(served(40)), after: time.Minute,
			phase: PhaseCompleted, weights: newOnly},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, tt.obs, t0.Add(tt.after))
			if d.Phase != tt.phase || !maps.Equal(d.Weights, tt.weights) {
				t.Fatalf("got %s %v (%s), want %s %v", d.Phase, d.Weights, d.Reason, tt.phase, tt.weights)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tt.reason)
			}
			if !strings.Contains(d.Rejected, tt.rejected) || (tt.rejected == "") != (d.Rejected == "") {
				t.Errorf("rejected %q, want %q", d.Rejected, tt.rejected)
			}
		})
	}
}
