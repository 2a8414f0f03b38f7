package main

import (
	"fmt"
	"math"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
)

// check is one look of a judge at a run: whether it rolls back now, and
// whether it will look again.
type check func(s *state) (fail, again bool)

// benchJudge is one judge as the controller would run it.
type benchJudge struct {
	name string
	// perFailure judges look at every failed canary request as well as
	// at every interval (the controller's fail-side fast path).
	perFailure bool
	check      check
}

// params are the simulation's knobs the judges depend on.
type params struct {
	minRequests int64
	horizon     int64 // canary requests of the fixed-horizon tests
}

func errorJudges(p params) []benchJudge {
	seed := compiled(analysis.Metric{Name: "seed", Condition: "canary.errorRate <= baseline.errorRate * 1.5"})
	seq := compiled(analysis.Metric{Name: "seq", Judge: analysis.JudgeSequential})
	seq0 := compiled(analysis.Metric{Name: "seq0", Judge: analysis.JudgeSequential, Margin: analysis.NoMargin})
	return []benchJudge{
		{name: "seed rule (×1.5, ≥100 req)", check: evaluate(seed, p, false)},
		{name: "z-test, fixed horizon", check: zTest(p, true)},
		{name: "z-test, every interval", check: zTest(p, false)},
		{name: fmt.Sprintf("sequential (margin %g%%)", analysis.DefaultMargin*100), check: evaluate(seq, p, false)},
		{name: fmt.Sprintf("sequential (margin %g%%), per failure", analysis.DefaultMargin*100), perFailure: true, check: evaluate(seq, p, false)},
		{name: "sequential (margin 0)", check: evaluate(seq0, p, false)},
	}
}

func latencyJudges(p params) []benchJudge {
	seed := compiled(analysis.Metric{Name: "seed", Condition: "canary.p99 <= baseline.p99 * 1.2"})
	mwp := compiled(analysis.Metric{Name: "mw", Judge: analysis.JudgeMannWhitney, Tolerance: -1})
	mwk := compiled(analysis.Metric{Name: "mwk", Judge: analysis.JudgeMannWhitney})
	mw12 := compiled(analysis.Metric{Name: "mw12", Judge: analysis.JudgeMannWhitney, EffectSize: 1.2})
	seq := compiled(analysis.Metric{Name: "seq", Judge: analysis.JudgeSequential, On: analysis.OnLatency})
	return []benchJudge{
		{name: "seed rule (p99 ×1.2, ≥100 req)", check: evaluate(seed, p, false)},
		{name: "mann-whitney p-value rule, fixed horizon", check: evaluate(mwp, p, true)},
		{name: "mann-whitney p-value rule, every interval", check: evaluate(mwp, p, false)},
		{name: "mann-whitney Kayenta rule, fixed horizon", check: evaluate(mwk, p, true)},
		{name: "mann-whitney Kayenta rule, every interval", check: evaluate(mwk, p, false)},
		{name: "mann-whitney effect 1.2, every interval", check: evaluate(mw12, p, false)},
		{name: fmt.Sprintf("sequential p99 exceedances (margin %g%%)", analysis.DefaultMargin*100), check: evaluate(seq, p, false)},
	}
}

func compiled(m analysis.Metric) *analysis.Judge {
	j, err := analysis.Compile(m)
	if err != nil {
		panic(fmt.Sprintf("bench judge %q: %v", m.Name, err))
	}
	return j
}

// evaluate runs an analysis judge on the run's cumulative samples; a
// fixed-horizon one looks once, when the canary reaches the horizon (or
// the analysis ends).
func evaluate(j *analysis.Judge, p params, fixed bool) check {
	return func(s *state) (bool, bool) {
		if fixed && s.canary.requests < p.horizon && !s.last {
			return false, true
		}
		r := j.Evaluate(analysis.Input{
			Canary:      s.canary.sample(s.latency),
			Baseline:    s.baseline.sample(s.latency),
			MinRequests: p.minRequests,
		})
		return r.Verdict == analysis.Fail, !fixed
	}
}

// zOne is the one-sided critical value at alpha 0.01: a rollback needs
// the canary worse.
var zOne = distuv.UnitNormal.Quantile(0.99)

// zTest is the pooled two-proportion z-test of canary errors against
// baseline errors, at alpha 0.01 one-sided, once the canary has
// minRequests: at the horizon only, or at every interval (peeking).
func zTest(p params, fixed bool) check {
	return func(s *state) (bool, bool) {
		c, b := s.canary, s.baseline
		if c.requests < p.minRequests || (fixed && c.requests < p.horizon && !s.last) {
			return false, true
		}
		nc, nb := float64(c.requests), float64(b.requests)
		pooled := float64(c.errors+b.errors) / (nc + nb)
		se := math.Sqrt(pooled * (1 - pooled) * (1/nc + 1/nb))
		if se == 0 {
			return false, !fixed
		}
		z := (float64(c.errors)/nc - float64(b.errors)/nb) / se
		return z > zOne, !fixed
	}
}
