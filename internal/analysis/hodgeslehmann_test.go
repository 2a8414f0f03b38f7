package analysis

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// TestHodgesLehmann checks the estimate and interval against values
// worked out by hand. For x = y + s with five distinct values a side the
// 25 differences are s-4 … s+4 with multiplicities 1 2 3 4 5 4 3 2 1, so
// the estimate (their median) is s. The interval's lower bound is where
// the corrected z of x - d against y falls through z_q: σ = √(25/12·11)
// = 4.787 without ties. At 95% (z_q 1.960): for d just above s-3, U = 22
// and z = (22 - 12.5 - 0.5)/4.787 = 1.880 < 1.960, while at d = s-3 the
// two tied pairs give U = 23, σ = √(25/12·(11 - 12/90)) = 4.758 and z =
// 2.102 > 1.960: the bound is s-3. At 98% (z_q 2.326): at d = s-4, U =
// 24.5, σ = 4.773, z = 2.409, and just above it U = 24, z = 2.298: the
// bound is s-4. At 80% (z_q 1.282): at d = s-2, U = 20.5, σ = 4.743, z =
// 1.581, just above it U = 19, z = 1.253: s-2. Upper bounds mirror them.
func TestHodgesLehmann(t *testing.T) {
	y := []float64{1, 2, 3, 4, 5}
	shifted := func(s float64) []float64 {
		out := make([]float64, len(y))
		for i, v := range y {
			out[i] = v + s
		}
		return out
	}
	tests := []struct {
		s, conf, est, lo, hi float64
	}{
		{10, 0.95, 10, 7, 13},
		{5, 0.98, 5, 1, 9},
		{2.5, 0.80, 2.5, 0.5, 4.5},
		{3, 0.80, 3, 1, 5},
		{0, 0.95, 0, -3, 3},
	}
	for _, tt := range tests {
		est, lo, hi := HodgesLehmann(shifted(tt.s), y, tt.conf)
		if math.Abs(est-tt.est) > 1e-9 || math.Abs(lo-tt.lo) > 1e-9 || math.Abs(hi-tt.hi) > 1e-9 {
			t.Errorf("shift %v at %v: (%v, %v, %v), want (%v, %v, %v)", tt.s, tt.conf, est, lo, hi, tt.est, tt.lo, tt.hi)
		}
	}
	if est, lo, hi := HodgesLehmann([]float64{4, 4}, []float64{4, 4, 4}, 0.98); est != 0 || lo != 0 || hi != 0 {
		t.Errorf("all tied: (%v, %v, %v), want zeros", est, lo, hi)
	}
}

// TestHodgesLehmannBruteForce checks random samples against the
// definitions computed the slow way: the estimate lies between the two
// middle pairwise differences, and each bound is a pairwise difference
// where the corrected z of x - d, counted pair by pair, falls through
// the quantile.
func TestHodgesLehmannBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	for run := range 20 {
		x, y := make([]float64, 30+run), make([]float64, 40)
		for i := range x {
			x[i] = math.Round(100*math.Exp(0.5*rng.NormFloat64())+10) / 10 // ties, as a timer's resolution gives
		}
		for i := range y {
			y[i] = math.Round(100*math.Exp(0.5*rng.NormFloat64())) / 10
		}
		var diffs []float64
		for _, a := range x {
			for _, b := range y {
				diffs = append(diffs, a-b)
			}
		}
		slices.Sort(diffs)
		n := len(diffs)
		est, lo, hi := HodgesLehmann(x, y, 0.95)
		if mid := diffs[(n-1)/2 : n/2+1]; est < mid[0]-1e-9 || est > mid[len(mid)-1]+1e-9 {
			t.Errorf("run %d: estimate %v not between the middle differences %v", run, est, mid)
		}
		q := 1.959963984540054
		// Pair by pair: U(d) = #{x-d > y} + ½#{x-d = y}.
		z := func(d float64) float64 {
			var u float64
			for _, a := range x {
				for _, b := range y {
					switch {
					case a-d > b:
						u++
					case a-d == b:
						u += 0.5
					}
				}
			}
			_, zz, _ := MannWhitneyU(shift(x, d), y) // same z, via ranks
			if dz := u - float64(len(x)*len(y))/2; dz == 0 && zz != 0 || dz > 0 && zz <= 0 || dz < 0 && zz >= 0 {
				t.Fatalf("run %d: at d=%v U %v disagrees with z %v", run, d, u, zz)
			}
			return zz
		}
		near := func(v float64) bool {
			i, _ := slices.BinarySearch(diffs, v-1e-9)
			return i < n && math.Abs(diffs[i]-v) < 1e-9
		}
		eps := 1e-7
		if !near(lo) || !(z(lo-eps) > q && z(lo+eps) <= q) {
			t.Errorf("run %d: lower bound %v: z %v before, %v after, want crossing %v at a difference", run, lo, z(lo-eps), z(lo+eps), q)
		}
		if !near(hi) || !(z(hi-eps) >= -q && z(hi+eps) < -q) {
			t.Errorf("run %d: upper bound %v: z %v before, %v after, want crossing %v at a difference", run, hi, z(hi-eps), z(hi+eps), -q)
		}
	}
}

func shift(x []float64, d float64) []float64 {
	out := make([]float64, len(x))
	for i, v := range x {
		out[i] = v - d
	}
	return out
}

// TestMannWhitneyKayentaRule: Kayenta's classifier fails a significant
// difference only when the Hodges-Lehmann interval's bound clears 25% of
// the shift estimate; the plain p-value rule (tolerance < 0) fails on p
// alone. Hand-computed samples (TestHodgesLehmann) at confidence 0.8: a
// shift of 2.5 has interval 0.5 to 4.5, whose lower bound is below 0.625
// (p 0.060 < 0.2); a shift of 3 has 1 to 5, above 0.75.
func TestMannWhitneyKayentaRule(t *testing.T) {
	y := []float64{101, 102, 103, 104, 105}
	in := func(s float64) Input {
		x := make([]float64, len(y))
		for i, v := range y {
			x[i] = v + s
		}
		return Input{Canary: metrics.Sample{Requests: 5, Latencies: x}, Baseline: metrics.Sample{Requests: 5, Latencies: y}, MinRequests: 5}
	}
	tests := []struct {
		name      string
		tolerance float64
		s         float64
		want      Verdict
	}{
		{"kayenta: within tolerance", 0, 2.5, Pass},
		{"p-value rule: significant", -1, 2.5, Fail},
		{"kayenta: beyond tolerance", 0, 3, Fail},
		{"kayenta: a slower decrease is no increase", 0, -3, Pass},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Compile(Metric{Name: "latency", Judge: JudgeMannWhitney, Confidence: 0.8, Tolerance: tt.tolerance})
			if err != nil {
				t.Fatal(err)
			}
			if r := j.Evaluate(in(tt.s)); r.Verdict != tt.want {
				t.Errorf("verdict %s, want %s: %s", r.Verdict, tt.want, r.Reason)
			}
		})
	}
	if _, err := Compile(Metric{Name: "latency", Judge: JudgeMannWhitney, Tolerance: 1}); err == nil {
		t.Error("tolerance 1 compiled; want an error")
	}
}
