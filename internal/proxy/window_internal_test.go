package proxy

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/sampling"
)

// t0 is a time on a bucket boundary, for every bucket width used here.
var t0 = time.Unix(1_700_000_000, 0)

func testRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

func mean(xs []float64) float64 {
	var sum float64
	for _, x := range xs {
		sum += x
	}
	return sum / float64(len(xs))
}

func TestReservoirIsBoundedAndUniform(t *testing.T) {
	rng := testRand(1)
	const n, size, trials = 1000, 100, 2000
	// hits[d] counts sampled values of decile d over all trials: a
	// uniform sample holds size/10 of each decile on average.
	var hits [10]int
	for range trials {
		r := newReservoir(size)
		for v := range n {
			r.add(float64(v), rng)
		}
		if len(r.vals) != size || r.seen != n {
			t.Fatalf("reservoir holds %d of %d seen, want %d of %d", len(r.vals), r.seen, size, n)
		}
		for _, v := range r.vals {
			hits[int(v)*10/n]++
		}
	}
	want := float64(trials * size / 10)
	for d, h := range hits {
		// Each decile count is binomial(trials·size, 0.1): σ ≈ 134 here.
		if math.Abs(float64(h)-want) > 5*math.Sqrt(want*0.9) {
			t.Errorf("decile %d sampled %d times, want %.0f: the sample is not uniform", d, h, want)
		}
	}
}

func TestReservoirKeepsEverythingUntilFull(t *testing.T) {
	r := newReservoir(4)
	for _, v := range []float64{3, 1, 2} {
		r.add(v, testRand(2))
	}
	if len(r.vals) != 3 || r.vals[0] != 3 || r.vals[2] != 2 {
		t.Errorf("vals = %v, want [3 1 2]", r.vals)
	}
	r.reset()
	if len(r.vals) != 0 || r.seen != 0 || cap(r.vals) != 4 {
		t.Errorf("after reset: %+v, want empty with capacity 4", r)
	}
}

func TestShares(t *testing.T) {
	tests := []struct {
		name   string
		seen   []int64
		held   []int
		limit  int
		offset float64
		want   []int
	}{
		{"nothing", []int64{0, 0}, []int{0, 0}, 2048, 0.5, []int{0, 0}},
		{"everything fits", []int64{300, 300}, []int{300, 300}, 2048, 0.5, []int{300, 300}},
		{"limit shared evenly", []int64{1000, 1000}, []int{512, 512}, 1000, 0, []int{500, 500}},
		// k = 512·10100/10000 = 517.12: the busy stream gives all its 512,
		// the quiet one 5.12, 5 or 6 depending on the offset.
		{"busy stream caps k, low offset", []int64{10000, 100}, []int{512, 100}, 2048, 0.1, []int{512, 5}},
		{"busy stream caps k, high offset", []int64{10000, 100}, []int{512, 100}, 2048, 0.99, []int{512, 6}},
		// 204.8 each, rounded so that the total is the limit.
		{"10 streams at the limit", []int64{300, 300, 300, 300, 300, 300, 300, 300, 300, 300},
			[]int{300, 300, 300, 300, 300, 300, 300, 300, 300, 300}, 2048, 0.3,
			[]int{205, 204, 205, 205, 205, 205, 204, 205, 205, 205}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := sampling.Shares(tt.seen, tt.held, tt.limit, tt.offset)
			if !slices.Equal(got, tt.want) {
				t.Errorf("shares = %v, want %v", got, tt.want)
			}
		})
	}
}

// TestSampleIsProportional pins the weighting of a merge: a quiet
// bucket's latencies must not be over-represented because its reservoir
// is not full, as they would be if the reservoirs were concatenated.
func TestSampleIsProportional(t *testing.T) {
	s := newSeries(time.Second, 4, 3, 4)
	for range 10000 {
		s.record(t0, time.Millisecond, false)
	}
	for range 100 {
		s.record(t0.Add(time.Second), 2*time.Millisecond, false)
	}
	var twos, total int
	for range 200 {
		got := s.sample(t0, t0.Add(2*time.Second), t0)
		// k = 512·10100/10000 = 517.12: 517 or 518 values.
		if n := len(got.Latencies); n < 517 || n > 518 {
			t.Fatalf("merged %d latencies, want 517 or 518", n)
		}
		for _, v := range got.Latencies {
			if v == 2 {
				twos++
			}
		}
		total += len(got.Latencies)
	}
	if share, want := float64(twos)/float64(total), 100.0/10100; math.Abs(share-want) > 0.002 {
		t.Errorf("quiet bucket's share of the sample = %.4f, want %.4f, its share of the requests", share, want)
	}
}

func TestSampleLimit(t *testing.T) {
	s := newSeries(time.Second, 20, 5, 6)
	for i := range 10 {
		for range 300 {
			s.record(t0.Add(time.Duration(i)*time.Second), time.Millisecond, false)
		}
	}
	now := t0.Add(10 * time.Second)
	if got := s.sample(t0, now, now); len(got.Latencies) != windowSample {
		t.Errorf("sampled %d latencies of 3000, want the limit %d", len(got.Latencies), windowSample)
	}
	if got := s.sample(t0, t0.Add(2*time.Second), now); len(got.Latencies) != 600 {
		t.Errorf("sampled %d latencies of 600, want all of them", len(got.Latencies))
	}
}

// TestSeriesSampleMeanIsUnbiased records synthetic latencies into buckets
// of different traffic and latency: the merged sample's mean must match
// the mean of every request, which a sample favouring quiet buckets would
// miss by far.
func TestSeriesSampleMeanIsUnbiased(t *testing.T) {
	s := newSeries(time.Second, 10, 5, 6)
	rng := testRand(7)
	var sum float64
	var n int
	for i := range 10 {
		at := t0.Add(time.Duration(i) * time.Second)
		for range 200 * (i + 1) * (i + 1) { // 200 to 20000 requests
			ms := max(float64(10*(i+1))+5*rng.NormFloat64(), 0.5)
			s.record(at, time.Duration(ms*float64(time.Millisecond)), false)
			sum += ms
			n++
		}
	}
	got := s.sample(t0, t0.Add(10*time.Second), t0.Add(9*time.Second))
	if got.Requests != int64(n) {
		t.Fatalf("Requests = %d, want %d", got.Requests, n)
	}
	if len(got.Latencies) == 0 || len(got.Latencies) > windowSample {
		t.Fatalf("sample of %d latencies, want 1..%d", len(got.Latencies), windowSample)
	}
	trueMean := sum / float64(n)
	if math.Abs(got.Mean-trueMean) > 1e-6 {
		t.Errorf("Mean = %.6f, want exactly %.6f", got.Mean, trueMean)
	}
	// Latencies range over 10..100 ms (σ ≈ 20 ms over all requests): the
	// standard error of a mean of ≥ 500 values is under 1 ms.
	if m := mean(got.Latencies); math.Abs(m-trueMean) > 3 {
		t.Errorf("mean of the %d sampled latencies = %.2f ms, want %.2f ± 3 (the true mean)", len(got.Latencies), m, trueMean)
	}
}

func TestSeriesQuantiles(t *testing.T) {
	s := newSeries(time.Second, 4, 1, 2)
	for ms := 1; ms <= 1000; ms++ {
		s.record(t0, time.Duration(ms)*time.Millisecond, ms%100 == 0)
	}
	got := s.sample(t0, t0.Add(time.Second), t0)
	for _, q := range []struct {
		name      string
		got, want float64
	}{{"p50", got.P50, 500}, {"p90", got.P90, 900}, {"p99", got.P99, 990}} {
		// Two significant digits: within 1%.
		if math.Abs(q.got-q.want) > q.want/100 {
			t.Errorf("%s = %.3f ms, want %.0f within 1%%", q.name, q.got, q.want)
		}
	}
	if got.Mean != 500.5 || got.Requests != 1000 || got.Errors != 10 {
		t.Errorf("mean %.3f, %d requests, %d errors; want 500.5, 1000, 10", got.Mean, got.Requests, got.Errors)
	}
	if len(got.Latencies) != bucketSample {
		t.Errorf("sample of %d, want one full bucket's %d", len(got.Latencies), bucketSample)
	}
}

func TestSeriesClampsLatency(t *testing.T) {
	s := newSeries(time.Second, 4, 1, 2)
	s.record(t0, 0, false)
	s.record(t0, 2*time.Minute, false)
	s.record(t0, -1, true) // unknown latency: counted, not timed
	got := s.sample(t0, t0.Add(time.Second), t0)
	if got.Requests != 3 || got.Errors != 1 {
		t.Errorf("%d requests, %d errors; want 3, 1", got.Requests, got.Errors)
	}
	if got.P50 > 0.01 || got.P99 < 59_000 || got.P99 > 61_000 {
		t.Errorf("p50 %.3f ms, p99 %.0f ms; want the histogram's ends, 1µs and 60s", got.P50, got.P99)
	}
	if got.Mean != 60_000 || len(got.Latencies) != 2 {
		t.Errorf("mean %.0f ms of %d latencies, want the exact 60000 of 2", got.Mean, len(got.Latencies))
	}
}

func TestSeriesAddErrorStaysInItsBucket(t *testing.T) {
	s := newSeries(time.Second, 4, 1, 2)
	s.record(t0, time.Millisecond, false)
	s.addError(t0)
	s.addError(t0) // more errors than requests: ignored
	if got := s.sample(t0, t0.Add(time.Second), t0); got.Requests != 1 || got.Errors != 1 {
		t.Errorf("%d requests, %d errors; want 1, 1", got.Requests, got.Errors)
	}
}

func TestFloorDivMod(t *testing.T) {
	for _, tt := range []struct{ a, b, div, mod int64 }{
		{7, 2, 3, 1}, {-7, 2, -4, 1}, {-8, 2, -4, 0}, {0, 5, 0, 0}, {-1, 120, -1, 119},
	} {
		if d, m := floorDiv(tt.a, tt.b), floorMod(tt.a, tt.b); d != tt.div || m != tt.mod {
			t.Errorf("floorDiv, floorMod(%d, %d) = %d, %d; want %d, %d", tt.a, tt.b, d, m, tt.div, tt.mod)
		}
	}
}

// BenchmarkRecord measures the bucket update of one finished request
// alone: the per-version lock, the counts, the histogram and the
// reservoir, moving to a new bucket every 10000 requests.
func BenchmarkRecord(b *testing.B) {
	s := newSeries(time.Second, DefaultWindowBuckets, 1, 2)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		at := t0.Add(time.Duration(i/10000) * time.Second)
		s.record(at, time.Duration(1000+i%50000)*time.Microsecond, i%100 == 0)
		i++
	}
}

// BenchmarkRecordParallel is BenchmarkRecord from every CPU at once into
// one version: the worst case for its lock.
func BenchmarkRecordParallel(b *testing.B) {
	s := newSeries(time.Second, DefaultWindowBuckets, 1, 2)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		i := 0
		for pb.Next() {
			s.record(t0, time.Duration(1000+i%50000)*time.Microsecond, false)
			i++
		}
	})
}

// BenchmarkWindow measures Window over a version whose 120 buckets each
// took 2000 requests, for the whole ring and for the last 10 seconds.
func BenchmarkWindow(b *testing.B) {
	s := newSeries(time.Second, DefaultWindowBuckets, 1, 2)
	rng := testRand(1)
	for i := range DefaultWindowBuckets {
		at := t0.Add(time.Duration(i) * time.Second)
		for range 2000 {
			s.record(at, time.Duration(20_000+rng.IntN(30_000))*time.Microsecond, false)
		}
	}
	end := t0.Add(DefaultWindowBuckets * time.Second)
	now := end.Add(-time.Second)
	for _, span := range []int{120, 10} {
		b.Run(time.Duration(span*int(time.Second)).String(), func(b *testing.B) {
			b.ReportAllocs()
			from := end.Add(-time.Duration(span) * time.Second)
			for b.Loop() {
				if got := s.sample(from, end, now); got.Requests != int64(2000*span) {
					b.Fatalf("Requests = %d", got.Requests)
				}
			}
		})
	}
}

// seriesBytes is the heap that n series take, each after fill, per series.
func seriesBytes(n int, fill func(*series)) float64 {
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	all := make([]*series, n)
	for i := range all {
		all[i] = newSeries(time.Second, DefaultWindowBuckets, uint64(i), 2)
		fill(all[i])
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	runtime.KeepAlive(all)
	return float64(after.HeapAlloc-before.HeapAlloc) / float64(n)
}

// TestSeriesMemory bounds what the proxy keeps of a version for its
// windows (issue 22: thousands of services on one proxy): one that took
// nothing, and a quiet one that took 3 requests in every second of the
// two-minute ring, whose quantiles stay those of the HDR histogram.
func TestSeriesMemory(t *testing.T) {
	idle := seriesBytes(200, func(*series) {})
	quiet := seriesBytes(50, func(s *series) {
		for sec := range DefaultWindowBuckets {
			for k := range 3 {
				s.record(t0.Add(time.Duration(sec)*time.Second), time.Duration(1000+sec*100+k*37)*time.Microsecond, false)
			}
		}
	})
	t.Logf("heap per version: %.0f B idle, %.0f B quiet (3 requests/s over %d s)", idle, quiet, DefaultWindowBuckets)
	if idle > 2<<10 {
		t.Errorf("a version that took no request keeps %.0f B for its windows, want ≤ 2 KiB", idle)
	}
	if quiet > 32<<10 {
		t.Errorf("a quiet version keeps %.0f B for its windows, want ≤ 32 KiB", quiet)
	}
}

// TestSparseLatenciesMatchTheHistogram checks that the buckets' sparse
// latencies give the quantiles of an HDR histogram that recorded every
// latency: each is kept as the lowest value the histogram holds equal.
func TestSparseLatenciesMatchTheHistogram(t *testing.T) {
	h := newLatencyHistogram()
	for us := int64(minLatencyMicros); us <= maxLatencyMicros; us = us*21/20 + 1 {
		q := equivalentMicros(us)
		if !h.ValuesAreEquivalent(us, q) || q > us || (q > minLatencyMicros && h.ValuesAreEquivalent(q-1, q)) {
			t.Fatalf("equivalentMicros(%d) = %d, not the lowest value the histogram holds equal", us, q)
		}
	}
	rng := testRand(3)
	want := newLatencyHistogram()
	var l latencies
	for range 20_000 {
		us := int64(math.Exp(rng.NormFloat64()*1.5+8)) + 1 // log-normal around 3 ms
		us = min(us, maxLatencyMicros)
		_ = want.RecordValue(us)
		l.add(us)
	}
	got := newLatencyHistogram()
	l.mergeInto(got)
	ps := []float64{1, 10, 50, 90, 99, 99.9, 100}
	if g, w := got.ValueAtPercentilesSlice(ps), want.ValueAtPercentilesSlice(ps); !slices.Equal(g, w) || got.TotalCount() != want.TotalCount() {
		t.Errorf("quantiles %v of %v at %v; want %v of %v", g, got.TotalCount(), ps, w, want.TotalCount())
	}
	if len(l) > 2600 {
		t.Errorf("%d sparse entries, more than the histogram's distinct values", len(l))
	}
}
