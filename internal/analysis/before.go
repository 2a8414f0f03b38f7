package analysis

import (
	"fmt"
	"math"
)

// before judges the errors of a canary that has all the traffic, so no
// baseline beside it, against the baseline measured before (in.Before,
// xb errors in nb requests). The baseline's rate is bounded above by its
// Clopper-Pearson bound at 1-alpha, rb+, and the canary's requests are
// tested one by one against
//
//	q0 = max((1+margin)·rb+, rb+ + minRateDelta)
//
// with the one-sided mixture (Beta(1,1) on p > q0) against q0
// (logWorseFactor, the canary's errors and successes as the split). Every component p > q0 is
// a supermartingale under any canary rate at most q0, so the chance that
// it ever reaches 1/alpha is at most alpha, plus alpha that rb+ is below
// the baseline's true rate: 2·alpha in all. A broken canary (every
// request failing) is caught within a few failures, as at 1%. It passes
// as the two-sided test does, on the odds of worse than q0.
func (j *Judge) before(in Input) Result {
	nums := j.base(in)
	xc, nc, xb, nb := in.Canary.Errors, in.Canary.Requests, in.Before.Errors, in.Before.Requests
	up := upperRate(xb, nb, j.m.Alpha)
	q0 := max((1+j.m.Margin)*up, up+j.m.MinRateDelta)
	bound := 1 / j.m.Alpha
	nums["before.requests"], nums["before.errors"], nums["before.errorRateUpper"] = float64(nb), float64(xb), up
	nums["q0"], nums["alpha"], nums["margin"], nums["minRateDelta"], nums["threshold"] = q0, j.m.Alpha, j.m.Margin, j.m.MinRateDelta, bound
	counts := fmt.Sprintf("canary %d/%d errors (%s) with all the traffic vs baseline %d/%d (%s, at most %s) before",
		xc, nc, pct(ratio(xc, nc)), xb, nb, pct(ratio(xb, nb)), pct(up))
	if q0 >= 1 {
		return j.result(Inconclusive, nums, "%s: too few baseline requests before to bound its error rate", counts)
	}
	logBF := logWorseFactor(xc, nc-xc, q0)
	logWorse := logWorseOdds(xc, nc-xc, q0)
	nums["bayesFactor"], nums["worseFactor"] = math.Exp(logBF), math.Exp(logWorse)
	test := fmt.Sprintf("sequential test Bayes factor %s against %s", num(math.Exp(logBF)), pct(q0))
	params := fmt.Sprintf("(alpha %s, margin %s%%, minRateDelta %s)", num(j.m.Alpha), num(100*j.m.Margin), pct(j.m.MinRateDelta))
	if float64(xc) > q0*float64(nc) && logBF >= math.Log(bound) {
		return j.result(Fail, nums, "%s; %s >= 1/alpha %s %s", counts, test, num(bound), params)
	}
	need := max(in.MinRequests, 1)
	if r, short := j.tooLittle(in, false, nums); short {
		r.Reason += fmt.Sprintf("; %s; %s < 1/alpha %s %s", counts, test, num(bound), params)
		return r
	}
	if nb < need {
		return j.result(Inconclusive, nums, "too little data: %d of %d baseline requests before; %s", nb, need, counts)
	}
	// The condition reads the baseline before as the baseline's counts.
	cond := in
	cond.Baseline.Requests, cond.Baseline.Errors = nb, xb
	t := seqTest{logBF: logBF, logWorse: logWorse, bound: bound, params: params}
	return j.pass(cond, nums, counts, t, "")
}
