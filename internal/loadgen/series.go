package loadgen

import (
	"math/rand/v2"
	"sync"
	"time"

	"github.com/HdrHistogram/hdrhistogram-go"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

const (
	// baseWidth is the width of a series' buckets until it coarsens.
	baseWidth = time.Second
	// maxBuckets is the most buckets a series keeps: more, and it
	// coarsens.
	maxBuckets = 64
	// sampleCap is the size of each bucket's reservoir and the most
	// latencies a Sample holds. Buckets keep as many as a Sample returns,
	// so a Sample's latencies are an exact uniform draw (see draw).
	sampleCap = 2048

	// The histograms record microseconds from 1µs to 60s with two
	// significant digits (a value is known within 1%), like the proxy's:
	// about 20 KiB each. Latencies outside the range are recorded at its
	// ends.
	minLatencyMicros = 1
	maxLatencyMicros = 60_000_000
	latencyDigits    = 2
)

// series is one version's measurements since its first request: buckets
// of width time by index (the start time over width, from the Unix
// epoch), at most maxBuckets of them. When one more is needed the series
// coarsens: the width doubles and bucket i merges into i/2, so a bucket
// always covers whole buckets of the finer widths and a window counts the
// same requests before and after. Synthetic load is modest, so one lock
// guards it all.
type series struct {
	mu      sync.Mutex
	width   time.Duration
	buckets map[int64]*bucket
	rng     *rand.Rand
}

func newSeries(seed1, seed2 uint64) *series {
	return &series{
		width:   baseWidth,
		buckets: map[int64]*bucket{},
		rng:     rand.New(rand.NewPCG(seed1, seed2)),
	}
}

// record adds a request that finished at at, with its latency and whether
// it failed.
func (s *series) record(at time.Time, latency time.Duration, failed bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := s.index(at)
	b := s.buckets[i]
	for b == nil && len(s.buckets) >= maxBuckets {
		s.coarsen()
		i = s.index(at)
		b = s.buckets[i]
	}
	if b == nil {
		b = &bucket{hist: newLatencyHistogram()}
		s.buckets[i] = b
	}
	b.add(latency, failed, s.rng)
}

// coarsen doubles the width, merging buckets pairwise. The caller holds
// s.mu.
func (s *series) coarsen() {
	s.width *= 2
	old := s.buckets
	s.buckets = make(map[int64]*bucket, len(old)/2+1)
	for i, b := range old {
		j := floorDiv(i, 2)
		if into := s.buckets[j]; into != nil {
			into.merge(b, s.rng)
		} else {
			s.buckets[j] = b
		}
	}
}

// sample merges the buckets that overlap [from, to): counts add,
// histograms merge, and the latencies are a uniform draw of up to
// sampleCap from all their requests.
func (s *series) sample(from, to time.Time) metrics.Sample {
	if !from.Before(to) {
		return metrics.Sample{}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var (
		out   metrics.Sample
		hist  = newLatencyHistogram()
		sum   time.Duration
		pools [][]float64
		seen  []int64
	)
	for i, b := range s.buckets {
		if !s.overlaps(i, from, to) {
			continue
		}
		out.Requests += b.requests
		out.Errors += b.errors
		sum += b.sum
		hist.Merge(b.hist)
		pools = append(pools, b.sample)
		seen = append(seen, b.requests)
	}
	if n := hist.TotalCount(); n > 0 {
		q := hist.ValueAtPercentilesSlice([]float64{50, 90, 99})
		out.P50, out.P90, out.P99 = microsToMillis(q[0]), microsToMillis(q[1]), microsToMillis(q[2])
		out.Mean = float64(sum) / float64(n) / float64(time.Millisecond)
	}
	out.Latencies = draw(nil, pools, seen, sampleCap, s.rng)
	return out
}

// index returns the index of the bucket that holds t. Times are compared
// as Unix nanoseconds, defined for years 1678 to 2262.
func (s *series) index(t time.Time) int64 {
	return floorDiv(t.UnixNano(), int64(s.width))
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
	requests int64
	errors   int64
	sum      time.Duration           // of the latencies in hist
	hist     *hdrhistogram.Histogram // in µs
	sample   []float64               // reservoir of latencies in ms; requests were offered
}

// add counts a request and records its latency.
func (b *bucket) add(latency time.Duration, failed bool, rng *rand.Rand) {
	b.requests++
	if failed {
		b.errors++
	}
	us := min(max(latency.Microseconds(), minLatencyMicros), maxLatencyMicros)
	_ = b.hist.RecordValue(us) // cannot fail: us is in the histogram's range
	b.sum += latency
	b.sample = offer(b.sample, b.requests, float64(latency)/float64(time.Millisecond), rng)
}

// merge adds o's requests to b. b's reservoir becomes a uniform draw from
// both, which is what a reservoir offered both streams would hold, so it
// keeps taking values as one.
func (b *bucket) merge(o *bucket, rng *rand.Rand) {
	b.sample = draw(nil, [][]float64{b.sample, o.sample}, []int64{b.requests, o.requests}, sampleCap, rng)
	b.requests += o.requests
	b.errors += o.errors
	b.sum += o.sum
	b.hist.Merge(o.hist)
}

func newLatencyHistogram() *hdrhistogram.Histogram {
	return hdrhistogram.New(minLatencyMicros, maxLatencyMicros, latencyDigits)
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
