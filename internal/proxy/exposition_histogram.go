package proxy

import (
	"sync/atomic"
	"time"
)

// latencyBounds are the upper bounds of the buckets of each version's
// latency histogram: Prometheus's default buckets, with 1ms and 2.5ms
// added below, where a proxied local service answers.
var latencyBounds = [...]time.Duration{
	time.Millisecond, 2500 * time.Microsecond, 5 * time.Millisecond,
	10 * time.Millisecond, 25 * time.Millisecond, 50 * time.Millisecond,
	100 * time.Millisecond, 250 * time.Millisecond, 500 * time.Millisecond,
	time.Second, 2500 * time.Millisecond, 5 * time.Second, 10 * time.Second,
}

// LatencyBounds returns the upper bounds, in seconds, of the buckets of
// [Histogram]: .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5
// and 10. Latencies above 10s count in Count only.
func LatencyBounds() []float64 {
	out := make([]float64, len(latencyBounds))
	for i, b := range latencyBounds {
		out[i] = b.Seconds()
	}
	return out
}

// Histogram is a version's latencies in the fixed buckets of
// LatencyBounds, in the form Prometheus exposes: cumulative counts. The
// latency is the one Window measures: from the proxy taking a request to
// the upstream's response headers, or to the failure.
type Histogram struct {
	// Bounds are the buckets' upper bounds in seconds (LatencyBounds).
	Bounds []float64
	// Counts[i] is how many latencies were at most Bounds[i].
	Counts []uint64
	// Count is how many latencies were observed; Sum is their total in
	// seconds.
	Count uint64
	Sum   float64
}

// latencyHistogram counts latencies in the buckets of latencyBounds. It
// keeps each bucket's own count, not the cumulative one, so that an
// observation is one atomic add and a bucket search rather than up to
// fourteen adds; snapshot accumulates them.
type latencyHistogram struct {
	counts [len(latencyBounds) + 1]atomic.Uint64 // the last is above every bound
	// sumMicros is the sum in whole microseconds: in nanoseconds an
	// int64 holds 292 years of summed latency, which a version taking
	// 10,000 requests/s of 100ms sums in about 100 days.
	sumMicros atomic.Int64
}

// observe counts a latency. It takes no lock and does not allocate.
func (h *latencyHistogram) observe(d time.Duration) {
	d = max(d, 0) // an injected clock may step back
	i := 0
	for i < len(latencyBounds) && d > latencyBounds[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumMicros.Add(int64((d + time.Microsecond/2) / time.Microsecond))
}

// snapshot returns the counts in Prometheus form. Count is the sum of the
// buckets it read, so the cumulative counts never exceed it even while
// requests finish; Sum, read apart, may miss or include a latency that
// is being observed.
func (h *latencyHistogram) snapshot() Histogram {
	out := Histogram{Bounds: LatencyBounds(), Counts: make([]uint64, len(latencyBounds))}
	var cum uint64
	for i := range latencyBounds {
		cum += h.counts[i].Load()
		out.Counts[i] = cum
	}
	out.Count = cum + h.counts[len(latencyBounds)].Load()
	out.Sum = float64(h.sumMicros.Load()) / 1e6
	return out
}
