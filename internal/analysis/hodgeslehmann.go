package analysis

import (
	"math"
	"slices"

	"gonum.org/v1/gonum/stat/distuv"
)

// HodgesLehmann returns the Hodges-Lehmann estimate of the shift of x
// against y (the median of the differences x_i - y_j) and its confidence
// interval at level conf, as Kayenta's MannWhitney and R's
// wilcox.test(x, y, conf.int = TRUE, exact = FALSE, correct = TRUE)
// compute them: by inverting the Mann-Whitney z statistic of x - d
// against y, which falls as the shift d grows.
//
//	lo: z(d) = +z_{1-α/2}    hi: z(d) = -z_{1-α/2}    est: z(d) = 0
//
// with the continuity correction for the interval and without it for the
// estimate. z is a step function of d, so each root is one of the
// differences x_i - y_j (where z jumps across the quantile), found here
// by bisection to float precision where R and Kayenta stop at 1e-4. With
// an empty side, or every value equal, all three are 0.
func HodgesLehmann(x, y []float64, conf float64) (est, lo, hi float64) {
	if len(x) == 0 || len(y) == 0 {
		return 0, 0, 0
	}
	xs, ys := slices.Clone(x), slices.Clone(y)
	slices.Sort(xs)
	slices.Sort(ys)
	if xs[0] == xs[len(xs)-1] && ys[0] == ys[len(ys)-1] && xs[0] == ys[0] {
		return 0, 0, 0
	}
	q := distuv.UnitNormal.Quantile(1 - (1-conf)/2)
	return shiftRoot(xs, ys, 0, false), shiftRoot(xs, ys, q, true), shiftRoot(xs, ys, -q, true)
}

// shiftRoot finds the shift d where z(d) crosses zq, between the
// smallest and the largest difference (returned as they are when z does
// not cross there, as R does).
func shiftRoot(xs, ys []float64, zq float64, correct bool) float64 {
	lo, hi := xs[0]-ys[len(ys)-1], xs[len(xs)-1]-ys[0]
	f := func(d float64) float64 { return shiftZ(xs, ys, d, correct) - zq }
	if f(lo) <= 0 {
		return lo
	}
	if f(hi) >= 0 {
		return hi
	}
	// f(lo) > 0 >= f(hi): halve until the two are adjacent floats.
	for range 200 {
		mid := lo + (hi-lo)/2
		if mid <= lo || mid >= hi {
			break
		}
		if f(mid) > 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo + (hi-lo)/2
}

// shiftZ is the Mann-Whitney z of x - d against y, both sorted, merged
// in one pass: the same statistic as MannWhitneyU.
func shiftZ(xs, ys []float64, d float64, correct bool) float64 {
	nx, ny := float64(len(xs)), float64(len(ys))
	var i, j int
	var rx, ties, ranked float64
	for i < len(xs) || j < len(ys) {
		v := math.Inf(1)
		if i < len(xs) {
			v = xs[i] - d
		}
		if j < len(ys) {
			v = min(v, ys[j])
		}
		ci, cj := i, j
		for i < len(xs) && xs[i]-d == v {
			i++
		}
		for j < len(ys) && ys[j] == v {
			j++
		}
		inX, t := float64(i-ci), float64(i-ci+j-cj)
		rx += inX * (ranked + (t+1)/2)
		ties += t*t*t - t
		ranked += t
	}
	n := nx + ny
	sigma := math.Sqrt(nx * ny / 12 * ((n + 1) - ties/(n*(n-1))))
	if sigma == 0 {
		return 0
	}
	dz := rx - nx*(nx+1)/2 - nx*ny/2
	if correct && dz != 0 {
		dz -= math.Copysign(0.5, dz)
	}
	return dz / sigma
}
