package main

import (
	"math/rand/v2"
	"sync"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// fullTraffic simulates a canary that has all the traffic after a step
// at the canary share: the stable version's requests in that step are
// the baseline before; then every request goes to the canary for the
// analysis, and the sequential judge, looking at every interval and at
// every failure, judges it against that baseline (Input.Before). Without
// Before (the old inputs) there is no baseline and it never fails.
func fullTraffic(cfg config, index int, sc scenario, n int, stepIntervals int, p params) []outcome {
	j := compiled(analysis.Metric{Name: "seq", Judge: analysis.JudgeSequential})
	outs := make([]outcome, n)
	next := make(chan int)
	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Go(func() {
			for r := range next {
				rng := rand.New(rand.NewPCG(cfg.seed, 1<<63|uint64(index)<<32|uint64(r)))
				outs[r] = fullRun(cfg, sc, j, stepIntervals, p, rng)
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

func fullRun(cfg config, sc scenario, j *analysis.Judge, stepIntervals int, p params, rng *rand.Rand) outcome {
	var before metrics.Counts
	for range stepIntervals * cfg.perInterval {
		if rng.Float64() < cfg.share {
			continue // the canary's requests in the step are not the baseline's
		}
		before.Requests++
		if rng.Float64() < sc.errBase {
			before.Errors++
		}
	}
	var c metrics.Sample
	fails := func() bool {
		return j.Evaluate(analysis.Input{Canary: c, Before: before, MinRequests: p.minRequests}).Verdict == analysis.Fail
	}
	for range cfg.intervals {
		for range cfg.perInterval {
			c.Requests++
			if rng.Float64() < sc.errCan {
				c.Errors++
				if fails() {
					return outcome{failed: true, requests: c.Requests, errs: c.Errors}
				}
			}
		}
		if fails() {
			return outcome{failed: true, requests: c.Requests, errs: c.Errors}
		}
	}
	return outcome{}
}
