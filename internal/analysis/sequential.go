package analysis

import (
	"container/heap"
	"fmt"
	"math"

	"gonum.org/v1/gonum/mathext"
)

// Prior of the sequential test's mixture over p, the chance that an
// event lands on the canary: Beta(1, 1), uniform.
const priorA, priorB = 1.0, 1.0

// latencyQuantile is the pooled quantile above which a latency counts as
// an exceedance event for the sequential latency test.
const latencyQuantile = 0.99

// BayesFactor is the sequential test's evidence that the canary's event
// rate exceeds (1+margin) × the baseline's, from xc events in nc canary
// trials and xb in nb baseline trials. Given the xc+xb events, under H0
// each lands on the canary with probability
//
//	p0 = (1+margin)·nc / ((1+margin)·nc + nb)
//
// and with a Beta(1,1) mixture over p under the alternative
//
//	BF = [B(1+xc, 1+xb) / B(1, 1)] / [p0^xc · (1-p0)^xb].
//
// It returns BF (+Inf past float64's range) and p0. With no events, or
// no trials on a side, BF is at most 1: nothing to go on.
func BayesFactor(xc, nc, xb, nb int64, margin float64) (bf, p0 float64) {
	logBF, p0 := logBayesFactor(xc, nc, xb, nb, margin)
	return math.Exp(logBF), p0
}

func logBayesFactor(xc, nc, xb, nb int64, margin float64) (logBF, p0 float64) {
	wc := (1 + margin) * float64(nc)
	if wc+float64(nb) == 0 {
		return 0, 0
	}
	p0 = wc / (wc + float64(nb))
	fc, fb := float64(xc), float64(xb)
	logBF = mathext.Lbeta(priorA+fc, priorB+fb) - mathext.Lbeta(priorA, priorB)
	if xc > 0 { // 0·log 0 = 0: with p0 = 0 there are no canary events
		logBF -= fc * math.Log(p0)
	}
	if xb > 0 {
		logBF -= fb * math.Log1p(-p0)
	}
	return logBF, p0
}

// sequential is the mixture SPRT on the events the metric counts: errors
// among requests, or latencies at or above the pooled p99 among the
// reservoirs.
func (j *Judge) sequential(in Input) Result {
	nums := j.base(in)
	xc, nc, xb, nb := in.Canary.Errors, in.Canary.Requests, in.Baseline.Errors, in.Baseline.Requests
	what := "errors"
	if j.m.On == OnLatency {
		var q float64
		q, xc, xb = exceedances(in.Canary.Latencies, in.Baseline.Latencies)
		nc, nb = int64(len(in.Canary.Latencies)), int64(len(in.Baseline.Latencies))
		nums["latencyThreshold"] = q
		nums["canary.samples"], nums["baseline.samples"] = float64(nc), float64(nb)
		nums["canary.exceedances"], nums["baseline.exceedances"] = float64(xc), float64(xb)
		what = fmt.Sprintf("latencies at or above the pooled p99 %s ms", num(q))
	}
	logBF, p0 := logBayesFactor(xc, nc, xb, nb, j.m.Margin)
	bound := 1 / j.m.Alpha
	nums["bayesFactor"], nums["p0"] = math.Exp(logBF), p0
	nums["alpha"], nums["margin"], nums["threshold"] = j.m.Alpha, j.m.Margin, bound
	counts := fmt.Sprintf("canary %d/%d %s (%s) vs baseline %d/%d (%s)",
		xc, nc, what, pct(ratio(xc, nc)), xb, nb, pct(ratio(xb, nb)))
	test := fmt.Sprintf("sequential test Bayes factor %s", num(math.Exp(logBF)))
	params := fmt.Sprintf("(alpha %s, margin %s%%)", num(j.m.Alpha), num(100*j.m.Margin))

	// Only evidence that the canary is worse rejects: its share of the
	// events must exceed p0. Dropping rejections keeps Ville's bound.
	// xc/(xc+xb) > p0, cross-multiplied in floats: xc+xb may overflow
	// int64, and p0 and the share both round to 1 at huge counts.
	worse := float64(xc)*float64(nb) > (1+j.m.Margin)*float64(nc)*float64(xb)
	if worse && logBF >= math.Log(bound) {
		return j.result(Fail, nums, "%s; %s >= 1/alpha %s %s", counts, test, num(bound), params)
	}
	if r, short := j.tooLittle(in, true, nums); short {
		r.Reason += fmt.Sprintf("; %s; %s < 1/alpha %s %s", counts, test, num(bound), params)
		return r
	}
	if j.m.On == OnLatency && (nc == 0 || nb == 0) {
		return j.result(Inconclusive, nums, "no latency samples: %d canary, %d baseline", nc, nb)
	}
	ok, undefined, err := j.condition(in, nums)
	switch {
	case err != nil:
		return j.result(Error, nums, "%v", err)
	case undefined != "":
		return j.undefinedResult(nums, undefined, in)
	case !ok:
		return j.result(Inconclusive, nums, "%s is false with %s, but the evidence is not conclusive: %s; %s < 1/alpha %s %s",
			j.cond(), j.values(nums), counts, test, num(bound), params)
	}
	return j.result(Pass, nums, "%s; %s < 1/alpha %s %s", counts, test, num(bound), params)
}

func ratio(x, n int64) float64 {
	if n == 0 {
		return 0
	}
	return float64(x) / float64(n)
}

// exceedances returns the pooled latencyQuantile of both samples (the
// nearest-rank quantile: the ⌈q·n⌉-th smallest) and how many of each
// side's latencies lie at or above it. At, not only above: a canary with
// a fifth of its latencies at one timeout value makes that value the
// quantile, and a strict > would count none of them. Which values of an
// exchangeable pooled sample lie at or above its own order statistic is
// still a uniformly random subset, so the test stays valid with ties.
func exceedances(c, b []float64) (q float64, xc, xb int64) {
	n := len(c) + len(b)
	if n == 0 {
		return 0, 0, 0
	}
	// The quantile is the k-th largest: keep the k largest in a min-heap
	// rather than sort the pool, since k is about 1% of n.
	k := n - int(math.Ceil(latencyQuantile*float64(n))) + 1
	top := make(minHeap, 0, k)
	for _, s := range [][]float64{c, b} {
		for _, v := range s {
			switch {
			case len(top) < k:
				heap.Push(&top, v)
			case v > top[0]:
				top[0] = v
				heap.Fix(&top, 0)
			}
		}
	}
	q = top[0]
	for _, v := range c {
		if v >= q {
			xc++
		}
	}
	for _, v := range b {
		if v >= q {
			xb++
		}
	}
	return q, xc, xb
}

type minHeap []float64

func (h minHeap) Len() int           { return len(h) }
func (h minHeap) Less(i, j int) bool { return h[i] < h[j] }
func (h minHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *minHeap) Push(x any)        { *h = append(*h, x.(float64)) }
func (h *minHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}
