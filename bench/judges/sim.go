package main

import (
	"math"
	"math/rand/v2"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// scenario is one canary against its baseline.
type scenario struct {
	name    string
	latency bool    // a latency scenario, else an error-rate one
	aa      bool    // canary and baseline alike: every rollback is false
	errBase float64 // error rates
	errCan  float64
	scale   float64 // canary latency = scale × a baseline-like latency
	// rolloutOnly: only in the whole-rollout table.
	rolloutOnly bool
}

// side is one version's cumulative measurements in a run.
type side struct {
	requests, errors int64
	sketch           sketch
	res              reservoir
}

func (s *side) sample(latency bool) metrics.Sample {
	m := metrics.Sample{Requests: s.requests, Errors: s.errors}
	if latency {
		m.P99, m.Mean, m.Latencies = s.sketch.quantile(0.99), s.sketch.mean(), s.res.items
	}
	return m
}

// state is a run in progress: what the judges see.
type state struct {
	canary, baseline side
	latency          bool // fill the samples' latencies
	last             bool // the analysis's last interval: fixed-horizon tests look now at the latest
}

// latency draws a lognormal latency in ms: median 50 ms, σ 0.5 (p99 ≈ 160 ms).
func latency(rng *rand.Rand) float64 {
	return 50 * math.Exp(0.5*rng.NormFloat64())
}

// sketch is a log-bucketed histogram with 1% relative buckets, as the
// proxy's latency sketch: quantiles over every request, not a sample.
type sketch struct {
	counts [1500]int64
	n      int64
	sum    float64
}

const bucketGrowth = 1.01

var logGrowth = math.Log(bucketGrowth)

func (s *sketch) add(ms float64) {
	i := int(math.Log(max(ms, 1)) / logGrowth)
	s.counts[min(i, len(s.counts)-1)]++
	s.n++
	s.sum += ms
}

func (s *sketch) quantile(q float64) float64 {
	if s.n == 0 {
		return 0
	}
	rank := int64(math.Ceil(q * float64(s.n)))
	var c int64
	for i, k := range s.counts {
		if c += k; c >= rank {
			return math.Pow(bucketGrowth, float64(i)+0.5)
		}
	}
	return 0
}

func (s *sketch) mean() float64 {
	if s.n == 0 {
		return 0
	}
	return s.sum / float64(s.n)
}

// reservoir is a uniform sample of every latency seen (Algorithm R).
type reservoir struct {
	items []float64
	seen  int64
	size  int
}

func (r *reservoir) add(rng *rand.Rand, ms float64) {
	r.seen++
	if len(r.items) < r.size {
		r.items = append(r.items, ms)
		return
	}
	if j := rng.Int64N(r.seen); j < int64(r.size) {
		// Evaluate reads items only between adds; replacing in place
		// keeps the sample uniform.
		r.items[j] = ms
	}
}
