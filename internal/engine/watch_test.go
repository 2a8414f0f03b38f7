package engine

import (
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// TestWatchAgainstBefore pins the blue-green half of the bug where a
// version that broke with all the traffic was judged against nothing:
// the watch's only test was maxErrorRate (5%), so a new version failing
// 5% of its requests replaced one that had failed 0.1%. Judged against
// the old version's errors before the switch it flips back; a version as
// good as the old one, or with no record of the old one, is not.
func TestWatchAgainstBefore(t *testing.T) {
	before := func(req, errs int64) func(*Rollout) {
		return func(r *Rollout) { r.Before = map[string]metrics.Counts{"v1": {Requests: req, Errors: errs}} }
	}
	traffic := func(req, errs int64) Observation {
		return obs(func(o *Observation) { o.Traffic = metrics.Counts{Requests: req, Errors: errs} })
	}
	tests := []struct {
		name  string
		r     Rollout
		obs   Observation
		phase Phase
	}{
		{"5% against 0.1% before flips back", rollout(PhaseWatching, flipped, before(20_000, 20)), traffic(400, 20), PhaseRolledBack},
		{"as good as before stays", rollout(PhaseWatching, flipped, before(20_000, 20)), traffic(400, 0), PhaseWatching},
		{"the old version's own rate stays", rollout(PhaseWatching, flipped, before(20_000, 1000)), traffic(400, 20), PhaseWatching},
		{"no record of the old version: maxErrorRate only", rollout(PhaseWatching, flipped), traffic(400, 20), PhaseWatching},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, tt.obs, t0.Add(5*time.Second))
			if d.Phase != tt.phase {
				t.Errorf("phase %s, want %s: %s", d.Phase, tt.phase, d.Reason)
			}
			if d.Phase == PhaseRolledBack && (!strings.Contains(d.Reason, "before the switch") || d.Weights["v1"] != 100) {
				t.Errorf("flip back: reason %q, weights %v", d.Reason, d.Weights)
			}
		})
	}
}
