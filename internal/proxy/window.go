package proxy

import (
	"cmp"
	"math/bits"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
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
	// significant digits (a value is known within 1%). Latencies outside
	// the range are recorded at its ends.
	minLatencyMicros = 1
	maxLatencyMicros = 60_000_000
	latencyDigits    = 2
	// latencyBits is how many leading bits of a latency in µs the
	// histogram tells apart with latencyDigits: the smallest power of two
	// at least 2 × 10^latencyDigits is 2^8 (HDR's sub-bucket count).
	latencyBits = 8
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
//
// What a series keeps follows its traffic (issue 22: thousands of
// services on one proxy): a slot's bucket is made when a request first
// finishes into it, its latencies are kept sparse (see latencies), its
// reservoir grows with the requests up to bucketSample, and its random
// source is made only once it has to draw. A version that took no
// request keeps a ring of nil pointers (1 KiB for two minutes of
// seconds); one that took a few requests a second about 200 bytes per
// second of the ring.
type series struct {
	width   time.Duration
	buckets []atomic.Pointer[bucket] // the bucket of index i lives at buckets[i mod len]; nil until used

	mu  sync.Mutex // guards rng; taken after a bucket's lock, never before
	rng *rand.Rand // for merging samples, and the seeds of the buckets' sources
}

func newSeries(width time.Duration, n int, seed1, seed2 uint64) *series {
	return &series{width: width, buckets: make([]atomic.Pointer[bucket], n), rng: rand.New(rand.NewPCG(seed1, seed2))}
}

// newRand returns a random source seeded from the series'.
func (s *series) newRand() *rand.Rand {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rand.New(rand.NewPCG(s.rng.Uint64(), s.rng.Uint64()))
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
		b.add(latency, failed, s)
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

// slot returns the bucket where the bucket of index i lives, made on
// first use.
func (s *series) slot(i int64) *bucket {
	p := &s.buckets[floorMod(i, int64(len(s.buckets)))]
	if b := p.Load(); b != nil {
		return b
	}
	p.CompareAndSwap(nil, &bucket{sample: newReservoir(bucketSample)})
	return p.Load()
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
		hist  = histograms.Get().(*hdrhistogram.Histogram)
		sum   time.Duration
		parts []*bucket
		index []int64
		seen  []int64
		held  []int
	)
	for i := range s.buckets {
		b := s.buckets[i].Load()
		if b == nil {
			continue
		}
		b.mu.Lock()
		if b.used && b.index >= oldest && s.overlaps(b.index, from, to) {
			out.Requests += b.requests
			out.Errors += b.errors
			sum += b.sum
			b.lat.mergeInto(hist)
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
	hist.Reset()
	histograms.Put(hist)
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
			out.Latencies = appendRandom(out.Latencies, b.sample.vals, min(n, len(b.sample.vals)), b.random(s))
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
	used     bool  // index is set
	index    int64 // start time / width
	requests int64
	errors   int64
	sum      time.Duration // of the latencies in lat
	lat      latencies
	sample   reservoir  // of latencies in ms
	rng      *rand.Rand // for sample; nil until it has to draw
}

// random returns b's random source, made on first use. The caller holds
// b.mu.
func (b *bucket) random(s *series) *rand.Rand {
	if b.rng == nil {
		b.rng = s.newRand()
	}
	return b.rng
}

// moveTo readies b for the bucket of index i: it empties b if it held an
// older bucket, and reports false if it holds a newer one (i left the
// ring). The caller holds b.mu.
func (b *bucket) moveTo(i int64) bool {
	switch {
	case !b.used:
		b.used = true
	case b.index < i:
		b.requests, b.errors, b.sum = 0, 0, 0
		b.lat.reset()
		b.sample.reset()
	case b.index > i:
		return false
	}
	b.index = i
	return true
}

// add counts a request and records its latency, unless it is negative
// (unknown). The caller holds b.mu.
func (b *bucket) add(latency time.Duration, failed bool, s *series) {
	b.requests++
	if failed {
		b.errors++
	}
	if latency < 0 {
		return
	}
	b.lat.add(min(max(latency.Microseconds(), minLatencyMicros), maxLatencyMicros))
	b.sum += latency
	var rng *rand.Rand
	if b.sample.full() {
		rng = b.random(s)
	}
	b.sample.add(float64(latency)/float64(time.Millisecond), rng)
}

// latencies are one bucket's latencies in µs as the window's HDR
// histogram counts them, kept sparse: a count for each value that
// holds one, sorted by value. Each latency is rounded down to the
// lowest value the histogram holds it as equal to (latencyBits leading
// bits), so merging them into the histogram gives the quantiles it would
// give had it recorded every latency. A bucket that took a few requests
// keeps a few entries (8 bytes each) where a dense histogram takes 20
// KiB; the range has about 2,600 distinct values, so the sparse form
// never outgrows the dense one.
type latencies []latencyCount

type latencyCount struct {
	us uint32 // a lowest equivalent value
	n  uint32
}

// add counts a latency in µs within the histogram's range.
func (l *latencies) add(us int64) {
	v := uint32(equivalentMicros(us))
	i, found := slices.BinarySearchFunc(*l, v, func(e latencyCount, v uint32) int { return cmp.Compare(e.us, v) })
	if found {
		(*l)[i].n++
		return
	}
	*l = slices.Insert(*l, i, latencyCount{us: v, n: 1})
}

func (l *latencies) reset() { *l = (*l)[:0] }

// mergeInto records the latencies in h.
func (l latencies) mergeInto(h *hdrhistogram.Histogram) {
	for _, e := range l {
		_ = h.RecordValues(int64(e.us), int64(e.n)) // cannot fail: in the histogram's range
	}
}

// equivalentMicros is the lowest value that the histogram holds as equal
// to us: us with all but its latencyBits leading bits cleared.
func equivalentMicros(us int64) int64 {
	shift := max(bits.Len64(uint64(us))-latencyBits, 0)
	return us >> shift << shift
}

// histograms are the merge histograms of Window (20 KiB each), reused:
// the controller reads each version's window under analysis every tick,
// and with thousands of services a fresh histogram per read made most of
// the garbage the GC's headroom (and so the RSS) is sized by.
var histograms = sync.Pool{New: func() any { return newLatencyHistogram() }}

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
