package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"gonum.org/v1/gonum/stat/distuv"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// defaultWeights are the default canary's steps (spec.defaultSteps): an
// analysis of -step-duration after each, then 100%.
var defaultWeights = []float64{0.01, 0.05, 0.10, 0.25, 0.50}

// defaultRuns are the analysis runs of a default rollout with its
// background analysis: 5 analysis steps, and one background run per step
// (11 steps: 5 setWeight, 5 analysis, setWeight 100), as the controller
// counts them (rolloutRuns).
const defaultRuns = 5 + 11

// rolloutJudge is the seed's error-rate metric with one run's alpha.
type rolloutJudge struct {
	name string
	j    *analysis.Judge
}

func rolloutJudges() []rolloutJudge {
	seed := analysis.Seed()[0] // error-rate: sequential, margin 25%, minRateDelta 0.1 points, the ×1.5 condition
	perRun, spent := seed, seed
	perRun.Alpha = analysis.DefaultAlpha
	spent.Alpha = analysis.SpendAlpha(analysis.DefaultAlpha, defaultRuns)
	// Margin 0 and no floor: the A/A canary sits on the boundary of H0,
	// where the false-rollback rate is as high as alpha allows.
	strict := func(m analysis.Metric) analysis.Metric {
		m.Margin, m.MinRateDelta, m.Name = analysis.NoMargin, -1, m.Name+"-strict"
		return m
	}
	return []rolloutJudge{
		{fmt.Sprintf("seed, alpha %.2f per run (before)", perRun.Alpha), compiled(perRun)},
		{fmt.Sprintf("seed, alpha %.2f per rollout (%.6f per run)", analysis.DefaultAlpha, spent.Alpha), compiled(spent)},
		{"margin 0, no floor, alpha per run (before)", compiled(strict(perRun))},
		{"margin 0, no floor, alpha per rollout", compiled(strict(spent))},
	}
}

// wholeRollout simulates default rollouts: at each weight the canary
// takes each request with that probability for -step-duration, and the
// seed's error-rate judge looks at the step's counts at every interval
// and at every failed canary request. A stable baseline makes the
// background run see the step run's data, so one simulation stands for
// both (it is the alpha spent on it that differs). A Fail at any step
// rolls the rollout back.
func wholeRollout(cfg config, index int, sc scenario, n int, stepIntervals int, p params) [][]outcome {
	js := rolloutJudges()
	outs := make([][]outcome, len(js))
	for k := range outs {
		outs[k] = make([]outcome, n)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Go(func() {
			for r := range next {
				rng := rand.New(rand.NewPCG(cfg.seed, 3<<62|uint64(index)<<32|uint64(r)))
				for k, o := range rolloutRun(cfg, sc, js, stepIntervals, p, rng) {
					outs[k][r] = o
				}
			}
		})
	}
	for r := range n {
		next <- r
	}
	close(next)
	wg.Wait()
	return outs
}

func rolloutRun(cfg config, sc scenario, js []rolloutJudge, stepIntervals int, p params, rng *rand.Rand) []outcome {
	outs := make([]outcome, len(js))
	done := make([]bool, len(js))
	var total metrics.Counts // the canary's requests over the rollout
	look := func(c, b metrics.Sample) {
		for k, j := range js {
			if !done[k] && j.j.Evaluate(analysis.Input{Canary: c, Baseline: b, MinRequests: p.minRequests}).Verdict == analysis.Fail {
				done[k], outs[k] = true, outcome{failed: true, requests: total.Requests, errs: total.Errors}
			}
		}
	}
	for _, w := range defaultWeights {
		var c, b metrics.Sample
		for range stepIntervals {
			nc := int64(distuv.Binomial{N: float64(cfg.perInterval), P: w, Src: rng}.Rand())
			b.Requests += int64(cfg.perInterval) - nc
			if nb := int64(cfg.perInterval) - nc; nb > 0 {
				b.Errors += int64(distuv.Binomial{N: float64(nb), P: sc.errBase, Src: rng}.Rand())
			}
			for range nc {
				c.Requests++
				total.Requests++
				if rng.Float64() < sc.errCan {
					c.Errors++
					total.Errors++
					look(c, b)
				}
			}
			look(c, b)
			if !slices.Contains(done, false) {
				return outs
			}
		}
	}
	return outs
}

// rolloutTable prints the whole-rollout false rollbacks and detections.
func rolloutTable(cfg config, scenarios []scenario, only string, d, interval time.Duration, aaRuns, runs int, p params) {
	cfg.intervals = int(d / interval)
	cfg.perInterval = int(float64(cfg.rps) * interval.Seconds())
	var rows []row
	for i, sc := range scenarios {
		if sc.latency || !strings.Contains("rollout "+sc.name, only) {
			continue
		}
		n := runs
		if sc.aa {
			n = aaRuns
		}
		outs := wholeRollout(cfg, i, sc, n, cfg.intervals, p)
		for k, j := range rolloutJudges() {
			rows = append(rows, summarize(sc, j.name, outs[k]))
		}
	}
	if len(rows) == 0 {
		return
	}
	fmt.Printf("\nwhole rollout: the default steps (1, 5, 10, 25, 50%%, an analysis of %s after each) with the background analysis, %d runs counted, the seed's error-rate judge; requests are the canary's over the rollout\n\n", d, defaultRuns)
	printTable(os.Stdout, rows)
}
