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
// reservoirs. With in.Before set it judges errors against the baseline
// measured before the canary took all traffic (before).
func (j *Judge) sequential(in Input) Result {
	if j.m.On == OnErrorRate && in.Before.Requests > 0 {
		return j.before(in)
	}
	nums := j.base(in)
	xc, nc, xb, nb := in.Canary.Errors, in.Canary.Requests, in.Baseline.Errors, in.Baseline.Requests
	what := in.ErrorsAre
	if what == "" {
		what = "errors"
	}
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
	logWorse := logWorseOdds(xc, xb, p0)
	bound := 1 / j.m.Alpha
	nums["bayesFactor"], nums["worseFactor"], nums["p0"] = math.Exp(logBF), math.Exp(logWorse), p0
	nums["alpha"], nums["margin"], nums["threshold"] = j.m.Alpha, j.m.Margin, bound
	counts := fmt.Sprintf("canary %d/%d %s (%s) vs baseline %d/%d (%s)",
		xc, nc, what, pct(ratio(xc, nc)), xb, nb, pct(ratio(xb, nb)))
	t := seqTest{logBF: logBF, logWorse: logWorse, bound: bound,
		params: fmt.Sprintf("(alpha %s, margin %s%%)", num(j.m.Alpha), num(100*j.m.Margin))}

	// Only evidence that the canary is worse rejects: its share of the
	// events must exceed p0 (xc/(xc+xb) > p0, cross-multiplied in floats:
	// xc+xb may overflow int64, and both round to 1 at huge counts).
	// Dropping rejections keeps Ville's bound; so does the floor on the
	// difference of error rates.
	worse := float64(xc)*float64(nb) > (1+j.m.Margin)*float64(nc)*float64(xb)
	floor := true
	if j.m.On == OnErrorRate {
		nums["minRateDelta"] = j.m.MinRateDelta
		floor = ratio(xc, nc)-ratio(xb, nb) > j.m.MinRateDelta
	}
	if worse && floor && logBF >= math.Log(bound) {
		return j.result(Fail, nums, "%s; %s >= 1/alpha %s %s", counts, t.test(), num(bound), t.params)
	}
	if r, short := j.tooLittle(in, true, nums); short {
		r.Reason += fmt.Sprintf("; %s; %s < 1/alpha %s %s", counts, t.test(), num(bound), t.params)
		return r
	}
	if j.m.On == OnLatency && (nc == 0 || nb == 0) {
		return j.result(Inconclusive, nums, "no latency samples: %d canary, %d baseline", nc, nb)
	}
	within := ""
	if j.m.On == OnErrorRate && !floor {
		// The difference is below the floor; pass on the canary's
		// upper bound being below it too, whatever the ratio.
		up := upperRate(xc, nc, j.m.Alpha)
		nums["canary.errorRateUpper"] = up
		if up-ratio(xb, nb) <= j.m.MinRateDelta {
			within = fmt.Sprintf("canary error rate at most %s (%s%% upper bound), within minRateDelta %s of the baseline's",
				pct(up), num(100*(1-j.m.Alpha)), pct(j.m.MinRateDelta))
		}
	}
	return j.pass(in, nums, counts, t, within)
}

// passSlack absorbs rounding in the log of a Bayes factor of exactly 1
// (no events).
const passSlack = 1e-9

// seqTest is a sequential test's figures, for reasons.
type seqTest struct {
	logBF, logWorse, bound float64
	params                 string
}

func (t seqTest) test() string {
	return fmt.Sprintf("sequential test Bayes factor %s", num(math.Exp(t.logBF)))
}

// pass is the sequential judge's verdict once it did not fail and has
// its minimum: Pass only when the evidence does not favour a canary worse
// than the margin — the Bayes factor of "worse" against "not worse" at
// most 1 (logWorseOdds) — or, for error rates, shows it within
// minRateDelta (within, the reason, "" if not shown); and the condition,
// if any, must hold.
func (j *Judge) pass(in Input, nums map[string]float64, counts string, t seqTest, within string) Result {
	evidence := fmt.Sprintf("%s; %s < 1/alpha %s, Bayes factor for worse than the margin %s %s",
		counts, t.test(), num(t.bound), num(math.Exp(t.logWorse)), t.params)
	if t.logWorse > passSlack && within == "" {
		return j.result(Inconclusive, nums, "%s: no evidence yet that the canary is within the margin (want a Bayes factor for worse of at most 1)", evidence)
	}
	ok, undefined, err := j.condition(in, nums)
	switch {
	case err != nil:
		return j.result(Error, nums, "%v", err)
	case undefined != "":
		return j.undefinedResult(nums, undefined, in)
	case !ok:
		return j.result(Inconclusive, nums, "%s is false with %s, but the evidence is not conclusive: %s",
			j.cond(), j.values(nums), evidence)
	}
	if t.logWorse > passSlack {
		return j.result(Pass, nums, "%s; %s", evidence, within)
	}
	return j.result(Pass, nums, "%s", evidence)
}

// logWorseOdds is the log of the Bayes factor of "worse" (p > p0)
// against "not worse" (p <= p0), the Beta(1,1) prior split at p0 into
// two halves of equal weight: the posterior odds of worse, P(p > p0 | x)
// / P(p <= p0 | x), over the prior's, (1-p0)/p0. It is 1 without events
// (no evidence either way), above 1 when the split favours a canary
// worse than the margin. With p0 0 or 1 it is +Inf.
func logWorseOdds(xc, xb int64, p0 float64) float64 {
	if !(p0 > 0 && p0 < 1) {
		return math.Inf(1)
	}
	fc, fb := float64(xc), float64(xb)
	worse := mathext.RegIncBeta(priorB+fb, priorA+fc, 1-p0) // P(p > p0 | x)
	better := mathext.RegIncBeta(priorA+fc, priorB+fb, p0)  // P(p <= p0 | x)
	return math.Log(worse) - math.Log(better) - math.Log1p(-p0) + math.Log(p0)
}

// logWorseFactor is the log of the one-sided Bayes factor for "worse":
// the Beta(1,1) mixture restricted to p > p0 (renormalized) against p0,
//
//	BF+ = [B(1+xc, 1+xb) · I_{1-p0}(1+xb, 1+xc) / (1-p0)] / [p0^xc · (1-p0)^xb]
//
// (I the regularized incomplete beta function). It is 1 without events,
// grows when the canary takes more than p0 of them and shrinks towards 0
// when it takes less. With no canary trials or no baseline (p0 0 or 1)
// it is +Inf: nothing shows the canary within the margin.
func logWorseFactor(xc, xb int64, p0 float64) float64 {
	if !(p0 > 0 && p0 < 1) {
		return math.Inf(1)
	}
	fc, fb := float64(xc), float64(xb)
	tail := mathext.RegIncBeta(priorB+fb, priorA+fc, 1-p0)
	l := mathext.Lbeta(priorA+fc, priorB+fb) + math.Log(tail) - math.Log1p(-p0) - mathext.Lbeta(priorA, priorB)
	return l - fc*math.Log(p0) - fb*math.Log1p(-p0)
}

// upperRate is the Clopper-Pearson upper bound of a rate at confidence
// 1-alpha, from x events in n trials (1 without trials).
func upperRate(x, n int64, alpha float64) float64 {
	if n <= 0 || x >= n {
		return 1
	}
	return mathext.InvRegIncBeta(float64(x)+1, float64(n-x), 1-alpha)
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
