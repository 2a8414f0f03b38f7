package main

import (
	"fmt"
	"math/rand/v2"
	"sync"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
)

// promoJudge is a rule that ends a step analysis: rolled back on a Fail
// at any look, else promoted when its verdict at the step's end is Pass,
// else paused (Inconclusive).
type promoJudge struct {
	name    string
	verdict func(s *state) analysis.Verdict
}

func promotionJudges(p params) []promoJudge {
	seq := compiled(analysis.Metric{Name: "seq", Judge: analysis.JudgeSequential})
	seqSeed := compiled(analysis.Metric{Name: "seq-seed", Judge: analysis.JudgeSequential,
		Condition: "canary.errorRate <= baseline.errorRate * 1.5 + 0.001"})
	in := func(s *state) analysis.Input {
		return analysis.Input{Canary: s.canary.sample(false), Baseline: s.baseline.sample(false), MinRequests: p.minRequests}
	}
	return []promoJudge{
		// The rule before the fix: Pass on no Fail and minRequests a side.
		{name: "sequential, old rule (no Fail, ≥ minRequests)", verdict: func(s *state) analysis.Verdict {
			r := seq.Evaluate(in(s))
			switch {
			case r.Verdict == analysis.Fail:
				return analysis.Fail
			case s.canary.requests >= p.minRequests && s.baseline.requests >= p.minRequests:
				return analysis.Pass
			}
			return analysis.Inconclusive
		}},
		{name: "sequential, Pass rule (odds of worse ≤ 1)", verdict: func(s *state) analysis.Verdict { return seq.Evaluate(in(s)).Verdict }},
		{name: "sequential, Pass rule + seed condition", verdict: func(s *state) analysis.Verdict { return seqSeed.Evaluate(in(s)).Verdict }},
	}
}

// promoOutcome counts how a step analysis ended, per judge.
type promoOutcome struct{ promoted, rolledBack, paused int }

// runPromotion runs n seeded step analyses of a scenario, each judge
// looking at every interval, and counts their endings.
func runPromotion(cfg config, index int, sc scenario, n int, judges func() []promoJudge) []promoOutcome {
	nj := len(judges())
	ends := make([][]analysis.Verdict, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Go(func() {
			js := judges()
			for r := range next {
				rng := rand.New(rand.NewPCG(cfg.seed, 1<<62|uint64(index)<<32|uint64(r)))
				ends[r] = promote(cfg, sc, js, rng)
			}
		})
	}
	for r := range n {
		next <- r
	}
	close(next)
	wg.Wait()
	outs := make([]promoOutcome, nj)
	for _, e := range ends {
		for k, v := range e {
			switch v {
			case analysis.Pass:
				outs[k].promoted++
			case analysis.Fail:
				outs[k].rolledBack++
			default:
				outs[k].paused++
			}
		}
	}
	return outs
}

// promote simulates one step analysis: a Fail at any interval ends it;
// the verdict at the last interval is its ending.
func promote(cfg config, sc scenario, js []promoJudge, rng *rand.Rand) []analysis.Verdict {
	st := &state{}
	out := make([]analysis.Verdict, len(js))
	for t := range cfg.intervals {
		for range cfg.perInterval {
			request(cfg, sc, st, rng)
		}
		for k, j := range js {
			if out[k] == analysis.Fail {
				continue
			}
			if v := j.verdict(st); v == analysis.Fail || t == cfg.intervals-1 {
				out[k] = v
			}
		}
	}
	return out
}

func promotionRows(sc scenario, js []promoJudge, outs []promoOutcome, n int) [][]string {
	var rows [][]string
	for k, j := range js {
		o := outs[k]
		rows = append(rows, []string{j.name, sc.name, frac(o.promoted, n), frac(o.rolledBack, n), frac(o.paused, n)})
	}
	return rows
}

func frac(x, n int) string { return fmt.Sprintf("%d/%d (%.1f%%)", x, n, 100*float64(x)/float64(n)) }
