package loadgen

import (
	"math"
	"math/rand/v2"
	"slices"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/sampling"
)

// Merge combines two samples of one version over the same window,
// typically the proxy's (real users) and the generator's (synthetic), into
// one, as if one source had measured both streams of requests:
//
//   - Requests and Errors add.
//   - Mean is the mean of both weighted by their requests.
//   - Latencies are a uniform random sample of both, at most 2048: each
//     side gives the same share of its Requests, taken at random from its
//     Latencies, so each request is equally likely to be in it. A side
//     whose Latencies hold fewer than its share caps the share of both
//     (as in the proxy's windows), so a sample that kept few latencies
//     for many requests shrinks the result rather than biasing it.
//   - P50, P90 and P99 are those of the merged Latencies when both sides
//     have requests: an approximation, since quantiles of two
//     distributions cannot be combined exactly from the quantiles alone.
//     From 2048 latencies a p50 or p90 is close; a p99 rests on the top
//     20 or so and is noisier than a histogram's. Should neither side
//     have kept latencies, they are the request-weighted means of the
//     sides' quantiles, a cruder guess. When one side has no requests,
//     the other's quantiles are taken as they are.
//
// Neither input is modified. Samples with no requests are empty whatever
// their other fields hold.
func Merge(a, b metrics.Sample) metrics.Sample {
	switch {
	case b.Requests <= 0:
		return only(a)
	case a.Requests <= 0:
		return only(b)
	}
	total := a.Requests + b.Requests
	wa, wb := float64(a.Requests)/float64(total), float64(b.Requests)/float64(total)
	out := metrics.Sample{
		Requests: total,
		Errors:   a.Errors + b.Errors,
		Mean:     wa*a.Mean + wb*b.Mean,
	}
	take := sampling.Shares([]int64{a.Requests, b.Requests}, []int{len(a.Latencies), len(b.Latencies)}, sampleCap, rand.Float64())
	if n := take[0] + take[1]; n > 0 {
		out.Latencies = make([]float64, 0, n)
		out.Latencies = appendRandomCopy(out.Latencies, a.Latencies, take[0])
		out.Latencies = appendRandomCopy(out.Latencies, b.Latencies, take[1])
		sorted := slices.Sorted(slices.Values(out.Latencies))
		out.P50, out.P90, out.P99 = quantile(sorted, 0.50), quantile(sorted, 0.90), quantile(sorted, 0.99)
		return out
	}
	out.P50 = wa*a.P50 + wb*b.P50
	out.P90 = wa*a.P90 + wb*b.P90
	out.P99 = wa*a.P99 + wb*b.P99
	return out
}

// only returns s as the merge of s and an empty sample, its latencies
// copied and capped at sampleCap.
func only(s metrics.Sample) metrics.Sample {
	if s.Requests <= 0 {
		return metrics.Sample{}
	}
	s.Latencies = appendRandomCopy(nil, s.Latencies, min(len(s.Latencies), sampleCap))
	return s
}

// appendRandomCopy appends n values of vals picked uniformly at random
// without replacement, leaving vals as it was.
func appendRandomCopy(dst, vals []float64, n int) []float64 {
	if n <= 0 {
		return dst
	}
	if n >= len(vals) {
		return append(dst, vals...)
	}
	for _, i := range rand.Perm(len(vals))[:n] {
		dst = append(dst, vals[i])
	}
	return dst
}

// quantile returns the q-quantile of sorted values by nearest rank: the
// smallest value with at least q of the values at or below it, as an HDR
// histogram reports it.
func quantile(sorted []float64, q float64) float64 {
	if len(sorted) == 0 {
		return 0
	}
	i := int(math.Ceil(q*float64(len(sorted)))) - 1
	return sorted[min(max(i, 0), len(sorted)-1)]
}
