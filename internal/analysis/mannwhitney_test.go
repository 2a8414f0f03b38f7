package analysis

import (
	"math"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

func TestMannWhitneyU(t *testing.T) {
	tests := []struct {
		name    string
		x, y    []float64
		u, z, p float64
	}{
		// x wholly below y. R_x = 1+2+3+4+5 = 15, u = 15 - 5·6/2 = 0.
		// No ties: σ² = 5·5/12 · 11 = 22.9167, σ = 4.78714.
		// d = u - 25/2 = -12.5; z = (-12.5 + 0.5)/4.78714 = -2.50672.
		// p = 2Φ(-2.50672) = 0.012186 (R: wilcox.test(1:5, 6:10,
		// exact=FALSE) gives W = 0, p-value = 0.01219).
		{"separated", []float64{1, 2, 3, 4, 5}, []float64{6, 7, 8, 9, 10}, 0, -2.506718, 0.012186},
		// The mirror: u = 25 - 0, z and p mirrored.
		{"separated mirrored", []float64{6, 7, 8, 9, 10}, []float64{1, 2, 3, 4, 5}, 25, 2.506718, 0.012186},
		// Ties. Pooled: 1x 2x 2x 2y 3x 3y 4y 5y; ranks 1, 3,3,3, 5.5,5.5, 7, 8.
		// R_x = 1+3+3+5.5 = 12.5, u = 12.5 - 4·5/2 = 2.5 (pairs: x=2 ties
		// y=2 twice → 1; x=3 beats y=2 and ties y=3 → 1.5).
		// Tie groups 3 and 2: Σ(t³-t) = 24+6 = 30; n = 8.
		// σ² = 4·4/12 · (9 - 30/56) = 11.285714, σ = 3.359422.
		// z = (2.5 - 8 + 0.5)/3.359422 = -1.488351; p = 2Φ(-1.488351) = 0.136658.
		{"ties", []float64{1, 2, 2, 3}, []float64{2, 3, 4, 5}, 2.5, -1.488351, 0.136658},
		// Identical samples: u = n_x·n_y/2 exactly, no evidence.
		{"identical", []float64{1, 2}, []float64{1, 2}, 2, 0, 1},
		// Every value tied: σ = 0, no evidence.
		{"all tied", []float64{3, 3}, []float64{3, 3, 3}, 3, 0, 1},
		{"empty", nil, []float64{1}, 0, 0, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, z, p := MannWhitneyU(tt.x, tt.y)
			if math.Abs(u-tt.u) > 1e-9 || math.Abs(z-tt.z) > 1e-4 || math.Abs(p-tt.p) > 1e-4 {
				t.Errorf("MannWhitneyU = (%v, %v, %v), want (%v, %v, %v)", u, z, p, tt.u, tt.z, tt.p)
			}
		})
	}
}

func latencies(base float64, n int, scale float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = scale * (base + float64(i%50)) // 50 distinct values, evenly spread
	}
	return out
}

// subms are latencies around 0.4 ms, times scale.
func subms(scale float64) []float64 {
	out := latencies(100, 200, scale)
	for i := range out {
		out[i] /= 300
	}
	return out
}

func TestMannWhitneyJudge(t *testing.T) {
	side := func(n int64, lat []float64) metrics.Sample {
		return metrics.Sample{Requests: n, Latencies: lat}
	}
	slow := latencies(100, 200, 1.5)
	same := latencies(100, 200, 1)
	fast := latencies(100, 200, 1/1.5)
	tests := []struct {
		name   string
		m      Metric
		canary metrics.Sample
		base   metrics.Sample
		want   Verdict
	}{
		{"slower fails", Metric{}, side(200, slow), side(200, same), Fail},
		{"same passes", Metric{}, side(200, same), side(200, same), Pass},
		{"faster passes under increase", Metric{}, side(200, fast), side(200, same), Pass},
		{"faster fails under decrease", Metric{Direction: DirectionDecrease}, side(200, fast), side(200, same), Fail},
		{"faster fails under either", Metric{Direction: DirectionEither}, side(200, fast), side(200, same), Fail},
		{"slower passes under decrease", Metric{Direction: DirectionDecrease}, side(200, slow), side(200, same), Pass},
		// ×1.5 is significant but below an effect size of 2.
		{"below effect size passes", Metric{EffectSize: 2}, side(200, slow), side(200, same), Pass},
		// A fixed-horizon test never fails below minRequests.
		{"slower below minRequests", Metric{}, side(99, slow), side(200, same), Inconclusive},
		{"baseline below minRequests", Metric{}, side(200, slow), side(99, same), Inconclusive},
		{"no samples", Metric{}, side(200, nil), side(200, same), Inconclusive},
		{"condition gates pass", Metric{Condition: "canary.requests > 1000"}, side(200, same), side(200, same), Inconclusive},
		// Sub-millisecond services: ×1.5 of 0.4 ms is significant but
		// 0.2 ms slower, under the default 1 ms floor.
		{"below min delta passes", Metric{}, side(200, subms(1.5)), side(200, subms(1)), Pass},
		{"no floor fails", Metric{MinDelta: -1}, side(200, subms(1.5)), side(200, subms(1)), Fail},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Name, tt.m.Judge = "latency", JudgeMannWhitney
			j, err := Compile(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			r := j.Evaluate(Input{Canary: tt.canary, Baseline: tt.base, MinRequests: 100})
			if r.Verdict != tt.want {
				t.Errorf("verdict %s, want %s: %s", r.Verdict, tt.want, r.Reason)
			}
		})
	}
}

func TestMannWhitneyNumbers(t *testing.T) {
	j, err := Compile(Metric{Name: "latency", Judge: JudgeMannWhitney})
	if err != nil {
		t.Fatal(err)
	}
	// The separated samples above, each side with 5 requests.
	r := j.Evaluate(Input{
		Canary:      metrics.Sample{Requests: 5, Latencies: []float64{6, 7, 8, 9, 10}},
		Baseline:    metrics.Sample{Requests: 5, Latencies: []float64{1, 2, 3, 4, 5}},
		MinRequests: 5,
	})
	want := map[string]float64{"u": 25, "z": 2.506718, "pValue": 0.012186, "alpha": 0.02,
		"canary.meanLatency": 8, "baseline.meanLatency": 3, "meanRatio": 8.0 / 3}
	for k, v := range want {
		if math.Abs(r.Numbers[k]-v) > 1e-4 {
			t.Errorf("Numbers[%q] = %v, want %v", k, r.Numbers[k], v)
		}
	}
	// Kayenta's rule: the 98% interval of the shift is 1 to 9 ms around
	// an estimate of 5 (see TestHodgesLehmann): its lower bound does not
	// clear 25% of 5 ms, so five points a side do not fail.
	for k, v := range map[string]float64{"hlEstimate": 5, "hlLower": 1, "hlUpper": 9, "tolerance": 0.25} {
		if math.Abs(r.Numbers[k]-v) > 1e-9 {
			t.Errorf("Numbers[%q] = %v, want %v", k, r.Numbers[k], v)
		}
	}
	if r.Verdict != Pass {
		t.Errorf("verdict %s, want Pass (interval lower bound 1 <= 0.25 × 5): %s", r.Verdict, r.Reason)
	}
	// The plain p-value rule fails it.
	pv, err := Compile(Metric{Name: "latency", Judge: JudgeMannWhitney, Tolerance: -1})
	if err != nil {
		t.Fatal(err)
	}
	r = pv.Evaluate(Input{
		Canary:      metrics.Sample{Requests: 5, Latencies: []float64{6, 7, 8, 9, 10}},
		Baseline:    metrics.Sample{Requests: 5, Latencies: []float64{1, 2, 3, 4, 5}},
		MinRequests: 5,
	})
	if r.Verdict != Fail {
		t.Errorf("p-value rule: verdict %s, want Fail (p 0.0122 < 0.02, ratio 2.67 >= 1): %s", r.Verdict, r.Reason)
	}
}
