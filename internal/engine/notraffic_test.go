package engine

import (
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// TestSuccessOnNoData pins the bug where a blue-green whose preview and
// watch saw no request ended "watched 30s: 0/0 requests failed …
// Completed": a preview or a watch passes only on minRequests requests;
// short of them it watches on until the progress deadline, then pauses
// for a person (or goes on with onNoTraffic: complete), never rolls back.
func TestSuccessOnNoData(t *testing.T) {
	deadline := func(r *Rollout) { r.Params.ProgressDeadline = 10 * time.Minute }
	complete := func(r *Rollout) { r.Params.CompleteOnNoTraffic = true }
	manual := func(r *Rollout) { r.Params.AutoPromote = false }
	abortOnDeadline := func(r *Rollout) { r.Params.PauseOnDeadline = false }
	// the watch plans Watch + ReadyTimeout (30s + 2m); the deadline comes on top
	watchDeadline := 30*time.Second + 2*time.Minute + 10*time.Minute
	tests := []struct {
		name    string
		r       Rollout
		served  int64
		after   time.Duration
		phase   Phase
		hold    Phase
		weights map[string]int
		reason  string
	}{
		{name: "a watch over with no request keeps watching",
			r: rollout(PhaseWatching, flipped, deadline), after: 30 * time.Second,
			phase: PhaseWatching, weights: flipped, reason: "too little traffic came to judge v2: 0/20 requests"},
		{name: "a watch over one request short of minRequests keeps watching",
			r: rollout(PhaseWatching, flipped, deadline), served: 19, after: 5 * time.Minute,
			phase: PhaseWatching, weights: flipped, reason: "19/20 requests"},
		{name: "a watch over with minRequests completes",
			r: rollout(PhaseWatching, flipped, deadline), served: 20, after: 30 * time.Second,
			phase: PhaseCompleted, weights: newOnly, reason: "0/20 requests failed"},
		{name: "minRequests 0 judges from the first request: no request completes",
			r: rollout(PhaseWatching, flipped, deadline, func(r *Rollout) { r.Params.MinRequests = 0 }), after: 30 * time.Second,
			phase: PhaseCompleted, weights: newOnly},
		{name: "a preview over with no request keeps previewing",
			r: rollout(PhasePreview, preview, deadline), after: 10 * time.Second,
			phase: PhasePreview, weights: preview, reason: "preview window of 10s over but too little traffic"},
		{name: "a watch without traffic at the deadline pauses for a person, not a rollback",
			r: rollout(PhaseWatching, flipped, deadline, abortOnDeadline), served: 3, after: watchDeadline,
			phase: PhasePaused, hold: PhaseWatching, weights: flipped, reason: "no traffic came: v2 served 3/20 requests"},
		{name: "a preview without traffic at the deadline pauses",
			r: rollout(PhasePreview, preview, deadline), after: 10*time.Second + 10*time.Minute,
			phase: PhasePaused, hold: PhasePreview, weights: preview, reason: "no traffic came"},
		{name: "onNoTraffic complete completes the watch at the deadline",
			r: rollout(PhaseWatching, flipped, deadline, complete), after: watchDeadline,
			phase: PhaseCompleted, weights: newOnly, reason: "no traffic came: v2 served 0/20 requests (minRequests) in Watching for 12m30s (progressDeadline 10m0s past the planned 2m30s); onNoTraffic complete"},
		{name: "onNoTraffic complete switches after the preview",
			r: rollout(PhasePreview, preview, deadline, complete), after: 10*time.Second + 10*time.Minute,
			phase: PhaseWatching, weights: flipped, reason: "onNoTraffic complete; switched all traffic to v2"},
		{name: "onNoTraffic complete without autoPromote still waits for promote",
			r: rollout(PhasePreview, preview, deadline, complete, manual), after: 10*time.Second + 10*time.Minute,
			phase: PhasePaused, weights: preview, reason: "waiting for promote"},
		{name: "errors within few requests still flip back during the wait",
			r: rollout(PhaseWatching, flipped, deadline), after: 5 * time.Minute,
			phase: PhaseRolledBack, weights: stable, reason: "3/3 requests failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := obs(served(tt.served))
			if tt.phase == PhaseRolledBack {
				o.Traffic = metrics.Counts{Requests: 3, Errors: 3}
			}
			d := Step(tt.r, o, t0.Add(tt.after))
			if d.Phase != tt.phase {
				t.Fatalf("phase %s (%s), want %s", d.Phase, d.Reason, tt.phase)
			}
			if !maps.Equal(d.Weights, tt.weights) {
				t.Errorf("weights %v, want %v", d.Weights, tt.weights)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tt.reason)
			}
			if tt.hold != "" && (d.Hold == nil || d.Hold.Phase != tt.hold) {
				t.Errorf("hold %+v, want one in %s", d.Hold, tt.hold)
			}
		})
	}
}

// TestNoTrafficPauseResumeAndPromote: a person decides a watch that saw
// no traffic: resume watches again from the start, promote completes.
func TestNoTrafficPauseResumeAndPromote(t *testing.T) {
	r := rollout(PhaseWatching, flipped, func(r *Rollout) { r.Params.ProgressDeadline = 10 * time.Minute })
	now := t0.Add(13 * time.Minute)
	r = apply(r, Step(r, obs(), now), now)
	if r.Phase != PhasePaused {
		t.Fatalf("phase %s (%s), want Paused", r.Phase, r.Reason)
	}
	now = now.Add(time.Hour)
	resumed := apply(r, Step(r, obs(command(CmdResume)), now), now)
	if resumed.Phase != PhaseWatching || !resumed.PhaseSince.Equal(now) {
		t.Fatalf("resumed to %s since %s, want Watching since %s", resumed.Phase, resumed.PhaseSince, now)
	}
	if d := Step(resumed, obs(served(20)), now.Add(30*time.Second)); d.Phase != PhaseCompleted {
		t.Fatalf("resumed watch with traffic: %s (%s), want Completed", d.Phase, d.Reason)
	}
	if d := Step(r, obs(command(CmdPromote)), now); d.Phase != PhaseCompleted {
		t.Fatalf("promote: %s (%s), want Completed", d.Phase, d.Reason)
	}
}
