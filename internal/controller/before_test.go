package controller

import (
	"maps"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// TestAddBefore: the baseline a canary at 100% is judged against sums
// the stable version's counts over the steps in which it had a share,
// never the canary's, nor a step where the stable version had none, nor
// a counter that went back.
func TestAddBefore(t *testing.T) {
	c := func(req, errs int64) metrics.Counts { return metrics.Counts{Requests: req, Errors: errs} }
	r := engine.Rollout{From: platform.Version{Label: "v1"}, To: platform.Version{Label: "v2"}}
	tests := []struct {
		name    string
		weights map[string]int
		before  map[string]metrics.Counts
		start   map[string]metrics.Counts
		now     map[string]metrics.Counts
		want    map[string]metrics.Counts
	}{
		{"a step at 20%", map[string]int{"v1": 80, "v2": 20}, nil,
			map[string]metrics.Counts{"v1": c(1000, 1), "v2": c(10, 0)},
			map[string]metrics.Counts{"v1": c(1800, 3), "v2": c(210, 5)},
			map[string]metrics.Counts{"v1": c(800, 2)}},
		{"adds up", map[string]int{"v1": 50, "v2": 50}, map[string]metrics.Counts{"v1": c(800, 2)},
			map[string]metrics.Counts{"v1": c(1800, 3)},
			map[string]metrics.Counts{"v1": c(2300, 4)},
			map[string]metrics.Counts{"v1": c(1300, 3)}},
		{"no share at 100%", map[string]int{"v1": 0, "v2": 100}, map[string]metrics.Counts{"v1": c(800, 2)},
			map[string]metrics.Counts{"v1": c(1800, 3)},
			map[string]metrics.Counts{"v1": c(1805, 3)},
			map[string]metrics.Counts{"v1": c(800, 2)}},
		{"counter went back", map[string]int{"v1": 80, "v2": 20}, map[string]metrics.Counts{"v1": c(800, 2)},
			map[string]metrics.Counts{"v1": c(1800, 3)},
			map[string]metrics.Counts{"v1": c(10, 0)},
			map[string]metrics.Counts{"v1": c(800, 2)}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := r
			r.Weights, r.Before, r.StepCounts = tt.weights, tt.before, tt.start
			kept := maps.Clone(tt.before)
			got := addBefore(r, tt.now)
			if !maps.Equal(got, tt.want) {
				t.Errorf("addBefore = %v, want %v", got, tt.want)
			}
			if !maps.Equal(r.Before, kept) {
				t.Errorf("addBefore changed the rollout's Before: %v", r.Before)
			}
		})
	}
}
