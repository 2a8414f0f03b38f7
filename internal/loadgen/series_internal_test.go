package loadgen

import (
	"math/rand/v2"
	"testing"
	"time"
)

// epoch is a time on a boundary of every bucket width a test reaches.
var epoch = time.Unix(1<<30, 0)

func TestSeriesWindows(t *testing.T) {
	s := newSeries(1, 2)
	s.record(epoch.Add(100*time.Millisecond), 10*time.Millisecond, false)
	s.record(epoch.Add(1500*time.Millisecond), 20*time.Millisecond, true)
	s.record(epoch.Add(2999*time.Millisecond), 30*time.Millisecond, false)
	s.record(epoch.Add(3000*time.Millisecond), 40*time.Millisecond, false)
	sec := func(x float64) time.Time { return epoch.Add(time.Duration(x * float64(time.Second))) }
	tests := []struct {
		name                   string
		from, to               time.Time
		wantRequests, wantErrs int64
		wantMean               float64
	}{
		{"all", sec(0), sec(4), 4, 1, 25},
		{"first second", sec(0), sec(1), 1, 0, 10},
		{"adjacent windows share nothing", sec(1), sec(3), 2, 1, 25},
		{"to is exclusive", sec(3), sec(4), 1, 0, 40},
		{"a partial bucket counts whole", sec(1.9), sec(2.1), 2, 1, 25},
		{"before any", sec(-5), sec(0), 0, 0, 0},
		{"after all", sec(4), sec(60), 0, 0, 0},
		{"zero times", time.Time{}, time.Time{}, 0, 0, 0},
		{"from the zero time", time.Time{}, sec(1), 1, 0, 10},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := s.sample(tt.from, tt.to)
			if got.Requests != tt.wantRequests || got.Errors != tt.wantErrs || got.Mean != tt.wantMean {
				t.Errorf("%d requests, %d errors, mean %v; want %d, %d, %v",
					got.Requests, got.Errors, got.Mean, tt.wantRequests, tt.wantErrs, tt.wantMean)
			}
			if int64(len(got.Latencies)) != got.Requests {
				t.Errorf("%d latencies of %d requests, want all", len(got.Latencies), got.Requests)
			}
		})
	}
}

func TestSeriesQuantiles(t *testing.T) {
	s := newSeries(1, 2)
	for i := range 100 { // 1ms to 100ms
		s.record(epoch, time.Duration(i+1)*time.Millisecond, false)
	}
	got := s.sample(epoch, epoch.Add(time.Second))
	// Within the histogram's 1%.
	for _, q := range []struct {
		name      string
		got, want float64
	}{{"p50", got.P50, 50}, {"p90", got.P90, 90}, {"p99", got.P99, 99}, {"mean", got.Mean, 50.5}} {
		if q.got < q.want*0.99 || q.got > q.want*1.01 {
			t.Errorf("%s = %v, want %v within 1%%", q.name, q.got, q.want)
		}
	}
}

// A long run coarsens its buckets instead of growing: memory stays
// bounded, nothing is lost, and windows on the coarser boundaries stay
// exact.
func TestSeriesCoarsens(t *testing.T) {
	s := newSeries(1, 2)
	const seconds, perSecond = 300, 20
	for sec := range seconds {
		for range perSecond {
			s.record(epoch.Add(time.Duration(sec)*time.Second), time.Duration(sec+1)*time.Millisecond, false)
		}
	}
	if len(s.buckets) > maxBuckets || s.width != 8*time.Second {
		t.Fatalf("%d buckets of %v, want at most %d of 8s (300s fit in 64 buckets of 8s, not of 4s)", len(s.buckets), s.width, maxBuckets)
	}
	whole := s.sample(epoch, epoch.Add(seconds*time.Second))
	if whole.Requests != seconds*perSecond || len(whole.Latencies) != sampleCap {
		t.Errorf("%d requests, %d latencies; want %d and %d", whole.Requests, len(whole.Latencies), seconds*perSecond, sampleCap)
	}
	if got := s.sample(epoch, epoch.Add(80*time.Second)).Requests; got != 80*perSecond {
		t.Errorf("[0, 80s) holds %d requests, want %d", got, 80*perSecond)
	}
	if got := s.sample(epoch, epoch.Add(81*time.Second)).Requests; got != 88*perSecond {
		t.Errorf("[0, 81s) holds %d requests, want %d: the 8s bucket [80s, 88s) whole", got, 88*perSecond)
	}
	// The latencies are still a uniform sample: as many from the first
	// half of the run as from the second (latency = second + 1 ms).
	var early int
	for _, l := range whole.Latencies {
		if l <= seconds/2 {
			early++
		}
	}
	if frac := float64(early) / float64(len(whole.Latencies)); frac < 0.45 || frac > 0.55 {
		t.Errorf("%.3f of the sampled latencies from the first half of the run, want 0.5", frac)
	}
}

// A reservoir merged from two keeps each value with the same probability
// as one that saw both streams: here a stream of 10,000 zeros and one of
// 1,000 ones give 1/11 ones, on average over many merges.
func TestDrawIsUniform(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const trials = 200
	var ones int
	for range trials {
		var zeros, onesPool []float64
		for i := range int64(10_000) {
			zeros = offer(zeros, i+1, 0, rng)
		}
		for i := range int64(1_000) {
			onesPool = offer(onesPool, i+1, 1, rng)
		}
		got := draw(nil, [][]float64{zeros, onesPool}, []int64{10_000, 1_000}, sampleCap, rng)
		if len(got) != sampleCap {
			t.Fatalf("drew %d values, want %d", len(got), sampleCap)
		}
		for _, v := range got {
			ones += int(v)
		}
	}
	want := float64(trials*sampleCap) / 11
	if got := float64(ones); got < want*0.97 || got > want*1.03 {
		t.Errorf("%v ones in %d draws, want %.0f within 3%%", got, trials, want)
	}
}

func TestDrawSmallStreams(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	got := draw(nil, [][]float64{{1, 2}, {3}, nil}, []int64{2, 1, 0}, sampleCap, rng)
	if len(got) != 3 {
		t.Errorf("drew %v, want all three values", got)
	}
	if got := draw(nil, nil, nil, sampleCap, rng); len(got) != 0 {
		t.Errorf("drew %v from nothing", got)
	}
}
