package proxy

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/sampling"
)

// Defaults of the latency windows.
const (
	// DefaultWindowBucket is the WindowBucket used when Proxy.WindowBucket
	// is zero.
	DefaultWindowBucket = time.Second
	// DefaultWindowBuckets is the WindowBuckets used when
	// Proxy.WindowBuckets is zero: two minutes of one-second buckets.
	DefaultWindowBuckets = 120
)

const (
	// bucketSample is how many latencies each bucket's reservoir keeps.
	bucketSample = 512
	// windowSample is the most latencies Window returns.
	windowSample = 2048

	// The histograms record microseconds from 1µs to 60s with two
	// significant digits (a value is known within 1%): about 20 KiB each.
	// Latencies outside the range are recorded at its ends.
	minLatencyMicros = 1
	maxLatencyMicros = 60_000_000
	latencyDigits    = 2
)

// Window returns the measurements of the service's version over the
// requests that finished in [from, to): how many, how many failed (as in
// Counts), the latency quantiles from a merged HDR histogram (within 1%),
// the exact mean latency, and a uniform random sample of up to 2048
// latencies in milliseconds. Latency is the time from the proxy taking
// the request to the upstream's response headers, or to the failure.
// Unlike Counts, which counts a request once it is forwarded, Window
// counts it once it finished.
//
// The proxy keeps each version's requests in buckets of WindowBucket, so
// a window is measured in whole buckets: every bucket that overlaps
// [from, to) counts entirely. Windows whose ends fall on bucket
// boundaries (multiples of WindowBucket since the Unix epoch, which for a
// width that divides a day is what t.Truncate(WindowBucket) gives) are
// exact, and adjacent ones share no request; a window that ends at the
// current time includes the bucket still filling. Buckets older than
// WindowBuckets × WindowBucket before the current time are gone and
// count no longer.
//
// A version that never took a request, and an empty window, give a zero
// Sample. Window takes one bucket's lock at a time, so requests finishing
// meanwhile wait for at most one bucket's merge (some 20µs).
func (p *Proxy) Window(service, version string, from, to time.Time) metrics.Sample {
	c := p.lookupCounters(service, version)
	if c == nil {
		return metrics.Sample{}
	}
	return c.window.sample(from, to, p.now())
}

// series is one version's recent requests: a ring of buckets, each
// covering width of time, the oldest overwritten as time moves on.
//
// Each bucket has its own lock. Requests finish into the current bucket
// only, so Window, which holds one bucket's lock at a time while it
// merges, delays them only while it merges the current bucket.
type series struct {
	width   time.Duration
	buckets []bucket // the bucket of index i lives at buckets[i mod len]

	mu  sync.Mutex // guards rng
	rng *rand.Rand // for merging samples
}

func newSeries(width time.Duration, n int, seed1, seed2 uint64) *series {
	s := &series{width: width, buckets: make([]bucket, n), rng: rand.New(rand.NewPCG(seed1, seed2))}
	for i := range s.buckets {
		s.buckets[i].rng = rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64()))
	}
	return s
}

// record adds a request that finished at at, with its latency (negative
// when unknown) and whether it failed. A time older than the ring is
// dropped.
func (s *series) record(at time.Time, latency time.Duration, failed bool) {
	i := s.index(at)
	b := s.slot(i)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.moveTo(i) {
		b.add(latency, failed)
	}
}

// addError counts a failure of a request that record counted, as a
// success, at at.
func (s *series) addError(at time.Time) {
	i := s.index(at)
	b := s.slot(i)
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.moveTo(i) && b.requests > b.errors {
		b.errors++
	}
}

// index returns the index of the bucket that holds time t: the number of
// widths since the Unix epoch.
func (s *series) index(t time.Time) int64 {
	return floorDiv(t.UnixNano(), int64(s.width))
}

// slot returns the bucket where the bucket of index i lives.
func (s *series) slot(i int64) *bucket {
	return &s.buckets[floorMod(i, int64(len(s.buckets)))]
}

// sample merges the buckets that overlap [from, to) and are still in the
// ring at now. A first pass merges the counts and histograms and notes
// how many latencies each bucket saw; the sample is then drawn from the
// buckets in proportion (see shares) in a second pass, which skips a
// bucket that the ring reused in between.
func (s *series) sample(from, to, now time.Time) metrics.Sample {
	if !from.Before(to) {
		return metrics.Sample{}
	}
	oldest := s.index(now) - int64(len(s.buckets)) + 1
	var (
		out   metrics.Sample
		hist  = newLatencyHistogram()
		sum   time.Duration
		parts []*bucket
		index []int64
		seen  []int64
		held  []int
	)
	for i := range s.buckets {
		b := &s.buckets[i]
		b.mu.Lock()
		if b.hist != nil && b.index >= oldest && s.overlaps(b.index, from, to) {
			out.Requests += b.requests
			out.Errors += b.errors
			sum += b.sum
			hist.Merge(b.hist)
			parts = append(parts, b)
			index = append(index, b.index)
			seen = append(seen, b.sample.seen)
			held = append(held, len(b.sample.vals))
		}
		b.mu.Unlock()
	}
	if n := hist.TotalCount(); n > 0 {
		q := hist.ValueAtPercentilesSlice([]float64{50, 90, 99})
		out.P50, out.P90, out.P99 = microsToMillis(q[0]), microsToMillis(q[1]), microsToMillis(q[2])
		out.Mean = float64(sum) / float64(n) / float64(time.Millisecond)
	}
	s.mu.Lock()
	offset := s.rng.Float64()
	s.mu.Unlock()
	take := sampling.Shares(seen, held, windowSample, offset)
	if n := sumInts(take); n > 0 {
		out.Latencies = make([]float64, 0, n)
	}
	for i, n := range take {
		if n == 0 {
			continue
		}
		b := parts[i]
		b.mu.Lock()
		if b.index == index[i] {
			out.Latencies = appendRandom(out.Latencies, b.sample.vals, min(n, len(b.sample.vals)), b.rng)
		}
		b.mu.Unlock()
	}
	return out
}

// overlaps reports whether bucket i overlaps [from, to). It compares
// times rather than Unix nanoseconds, which are undefined for times such
// as the zero Time.
func (s *series) overlaps(i int64, from, to time.Time) bool {
	start := time.Unix(0, i*int64(s.width))
	return start.Before(to) && start.Add(s.width).After(from)
}

// bucket holds the requests of one version that finished in one width of
// time.
type bucket struct {
	mu       sync.Mutex
	index    int64 // start time / width
	requests int64
	errors   int64
	sum      time.Duration           // of the latencies in hist
	hist     *hdrhistogram.Histogram // in µs; nil until the slot is first used
	sample   reservoir               // of latencies in ms
	rng      *rand.Rand              // for sample
}

// moveTo readies b for the bucket of index i: it empties b if it held an
// older bucket, and reports false if it holds a newer one (i left the
// ring). The caller holds b.mu.
func (b *bucket) moveTo(i int64) bool {
	switch {
	case b.hist == nil:
		b.hist = newLatencyHistogram()
		b.sample = newReservoir(bucketSample)
	case b.index < i:
		b.requests, b.errors, b.sum = 0, 0, 0
		b.hist.Reset()
		b.sample.reset()
	case b.index > i:
		return false
	}
	b.index = i
	return true
}

// add counts a request and records its latency, unless it is negative
// (unknown). The caller holds b.mu.
func (b *bucket) add(latency time.Duration, failed bool) {
	b.requests++
	if failed {
		b.errors++
	}
	if latency < 0 {
		return
	}
	us := min(max(latency.Microseconds(), minLatencyMicros), maxLatencyMicros)
	_ = b.hist.RecordValue(us) // cannot fail: us is in the histogram's range
	b.sum += latency
	b.sample.add(float64(latency)/float64(time.Millisecond), b.rng)
}

func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatencyMicros, maxLatencyMicros, latencyDigits)
}

func sumInts(xs []int) int {
	var sum int
	for _, x := range xs {
		sum += x
	}
	return sum
}

func microsToMillis(us int64) float64 { return float64(us) / 1000 }

// floorDiv returns a/b rounded towards minus infinity, for b > 0.
func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q
}

// floorMod returns a mod b in [0, b), for b > 0.
func floorMod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}
