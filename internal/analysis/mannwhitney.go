package analysis

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// MannWhitneyU is the two-sided Mann-Whitney U test of x against y by
// the normal approximation, with the tie and continuity corrections (as
// R's wilcox.test(x, y, exact = FALSE, correct = TRUE)). u is x's
// statistic, the number of pairs with x above y plus half the ties:
//
//	u = R_x - n_x(n_x+1)/2
//	σ² = n_x·n_y/12 · ((n+1) - Σ(t³-t) / (n(n-1)))
//	z = (u - n_x·n_y/2 - sign·½) / σ
//	p = 2·Φ(-|z|)
//
// where R_x is the sum of x's ranks in the pooled sample (ties share
// their average rank), n = n_x+n_y and t runs over the sizes of tied
// groups. z > 0 means x tends to be larger. With an empty side, or every
// value tied, z = 0 and p = 1; with a NaN in either, all three are NaN.
func MannWhitneyU(x, y []float64) (u, z, p float64) {
	nx, ny := float64(len(x)), float64(len(y))
	if nx == 0 || ny == 0 {
		return 0, 0, 1
	}
	if slices.ContainsFunc(x, math.IsNaN) || slices.ContainsFunc(y, math.IsNaN) {
		return math.NaN(), math.NaN(), math.NaN()
	}
	rx, ties := rankSum(x, y)
	n := nx + ny
	u = rx - nx*(nx+1)/2
	sigma := math.Sqrt(nx * ny / 12 * ((n + 1) - ties/(n*(n-1))))
	if sigma == 0 {
		return u, 0, 1
	}
	d := u - nx*ny/2
	z = (d - math.Copysign(0.5, d)) / sigma
	if d == 0 {
		z = 0
	}
	return u, z, 2 * distuv.UnitNormal.CDF(-math.Abs(z))
}

// rankSum returns the sum of x's ranks in x and y pooled, tied values
// sharing their average rank, and Σ(t³-t) over the tied groups. It sorts
// copies of each side and merges them.
func rankSum(x, y []float64) (rx, ties float64) {
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	var i, j int
	var ranked float64 // values ranked so far
	for i < len(xs) || j < len(ys) {
		v := math.Inf(1)
		if i < len(xs) {
			v = xs[i]
		}
		if j < len(ys) {
			v = min(v, ys[j])
		}
		ci, cj := i, j
		for i < len(xs) && xs[i] == v {
			i++
		}
		for j < len(ys) && ys[j] == v {
			j++
		}
		inX, t := float64(i-ci), float64(i-ci+j-cj)
		rx += inX * (ranked + (t+1)/2) // ranks ranked+1 … ranked+t, averaged
		ties += t*t*t - t
		ranked += t
	}
	return rx, ties
}

// mannWhitney is Kayenta's classifier on the per-request latency samples.
func (j *Judge) mannWhitney(in Input) Result {
	nums := j.base(in)
	c, b := in.Canary.Latencies, in.Baseline.Latencies
	nums["canary.samples"], nums["baseline.samples"] = float64(len(c)), float64(len(b))
	if r, short := j.tooLittle(in, true, nums); short {
		return r
	}
	if len(c) == 0 || len(b) == 0 {
		return j.result(Inconclusive, nums, "no latency samples: %d canary, %d baseline", len(c), len(b))
	}
	u, z, p := MannWhitneyU(c, b)
	mc, mb := mean(c), mean(b)
	ratio := mc / mb
	if mb == 0 {
		ratio = 1 // both means 0 only if every latency is 0
		if mc > 0 {
			ratio = math.Inf(1)
		}
	}
	alpha := 1 - j.m.Confidence
	for k, v := range map[string]float64{"u": u, "z": z, "pValue": p, "alpha": alpha,
		"confidence": j.m.Confidence, "canary.meanLatency": mc, "baseline.meanLatency": mb,
		"meanRatio": ratio, "effectSize": j.m.EffectSize} {
		nums[k] = v
	}
	nums["minDelta"], nums["tolerance"] = j.m.MinDelta, j.m.Tolerance
	sig := p < alpha
	up, down := sig && z > 0, sig && z < 0
	stats := fmt.Sprintf("canary mean %s ms vs baseline %s ms (ratio %s, effect size %s, min delta %s ms) over %d and %d samples; Mann-Whitney z %s, p %s",
		num(mc), num(mb), num(ratio), num(j.m.EffectSize), num(j.m.MinDelta), len(c), len(b), num(z), num(p))
	if sig && j.m.Tolerance > 0 {
		// Kayenta's rule; the interval excludes 0 only when p < alpha,
		// so it is computed only then.
		est, lo, hi := HodgesLehmann(c, b, j.m.Confidence)
		nums["hlEstimate"], nums["hlLower"], nums["hlUpper"] = est, lo, hi
		tol := j.m.Tolerance * math.Abs(est)
		up, down = lo > tol, hi < -tol
		stats += fmt.Sprintf("; Hodges-Lehmann shift %s ms, %s%% interval %s to %s, tolerance %s ms (%s%% of the shift)",
			num(est), num(100*j.m.Confidence), num(lo), num(hi), num(tol), num(100*j.m.Tolerance))
	}
	up = up && ratio >= j.m.EffectSize && mc-mb >= j.m.MinDelta
	down = down && ratio <= 1/j.m.EffectSize && mb-mc >= j.m.MinDelta
	failing := (up && j.m.Direction != DirectionDecrease) || (down && j.m.Direction != DirectionIncrease)
	if failing {
		return j.result(Fail, nums, "%s < %s (confidence %s, direction %s)", stats, num(alpha), num(j.m.Confidence), j.m.Direction)
	}
	ok, undefined, err := j.condition(in, nums)
	switch {
	case err != nil:
		return j.result(Error, nums, "%v", err)
	case undefined != "":
		return j.undefinedResult(nums, undefined, in)
	case !ok:
		return j.result(Inconclusive, nums, "%s is false with %s, but the test does not fail: %s", j.cond(), j.values(nums), stats)
	}
	return j.result(Pass, nums, "%s: no %s that fails at confidence %s", stats, j.m.Direction, num(j.m.Confidence))
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
