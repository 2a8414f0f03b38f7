package loadgen_test

import (
	"fmt"
	"math"
	"slices"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/loadgen"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// fill returns n latencies of value v, so a merged sample shows which side
// each came from.
func fill(n int, v float64) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = v
	}
	return out
}

func TestMerge(t *testing.T) {
	tests := []struct {
		name string
		a, b metrics.Sample
		// want's Latencies are ignored: fromA and fromB say how many
		// latencies come from each side (a's are 1, b's 2), within one
		// for rounding.
		want         metrics.Sample
		fromA, fromB int
	}{
		{
			name: "both empty",
		},
		{
			name:  "synthetic only",
			b:     metrics.Sample{Requests: 3, Errors: 1, P50: 5, P90: 6, P99: 7, Mean: 5.5, Latencies: fill(3, 2)},
			want:  metrics.Sample{Requests: 3, Errors: 1, P50: 5, P90: 6, P99: 7, Mean: 5.5},
			fromB: 3,
		},
		{
			name:  "proxy only, a side with latencies but no requests is empty",
			a:     metrics.Sample{Requests: 4, P50: 5, P90: 6, P99: 7, Mean: 5.5, Latencies: fill(4, 1)},
			b:     metrics.Sample{Latencies: fill(3, 2)},
			want:  metrics.Sample{Requests: 4, P50: 5, P90: 6, P99: 7, Mean: 5.5},
			fromA: 4,
		},
		{
			name:  "one side capped at 2048",
			b:     metrics.Sample{Requests: 5000, Mean: 2, Latencies: fill(3000, 2)},
			want:  metrics.Sample{Requests: 5000, Mean: 2},
			fromB: 2048,
		},
		{
			name:  "equal sides: counts add, all latencies kept, quantiles from them",
			a:     metrics.Sample{Requests: 100, Errors: 1, Mean: 1, Latencies: fill(100, 1)},
			b:     metrics.Sample{Requests: 100, Errors: 3, Mean: 2, Latencies: fill(100, 2)},
			want:  metrics.Sample{Requests: 200, Errors: 4, P50: 1, P90: 2, P99: 2, Mean: 1.5},
			fromA: 100, fromB: 100,
		},
		{
			name:  "mean weighted by requests",
			a:     metrics.Sample{Requests: 100, Mean: 10, Latencies: fill(100, 1)},
			b:     metrics.Sample{Requests: 300, Mean: 30, Latencies: fill(300, 2)},
			want:  metrics.Sample{Requests: 400, P50: 2, P90: 2, P99: 2, Mean: 25},
			fromA: 100, fromB: 300,
		},
		{
			name: "over 2048: each side gives its share of requests",
			// 2048 × 100/3100 = 66.1 from the proxy, 1981.9 synthetic.
			a:     metrics.Sample{Requests: 100, Mean: 1, Latencies: fill(100, 1)},
			b:     metrics.Sample{Requests: 3000, Errors: 30, Mean: 2, Latencies: fill(2048, 2)},
			want:  metrics.Sample{Requests: 3100, Errors: 30, P50: 2, P90: 2, P99: 2, Mean: (100*1 + 3000*2) / 3100.0},
			fromA: 66, fromB: 1982,
		},
		{
			name: "a sparsely sampled side shrinks the sample rather than bias it",
			// The proxy kept 100 latencies of 10,000 requests: k is
			// capped at 100 × 11,000/10,000 = 110, of which 10 synthetic.
			a:     metrics.Sample{Requests: 10_000, Mean: 1, Latencies: fill(100, 1)},
			b:     metrics.Sample{Requests: 1_000, Mean: 2, Latencies: fill(1000, 2)},
			want:  metrics.Sample{Requests: 11_000, P50: 1, P90: 1, P99: 2, Mean: (10_000*1 + 1_000*2) / 11_000.0},
			fromA: 100, fromB: 10,
		},
		{
			name: "no latencies kept: quantiles weighted by requests",
			a:    metrics.Sample{Requests: 100, P50: 10, P90: 20, P99: 40, Mean: 12},
			b:    metrics.Sample{Requests: 300, P50: 30, P90: 40, P99: 80, Mean: 32},
			want: metrics.Sample{Requests: 400, P50: 25, P90: 35, P99: 70, Mean: 27},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a, b := slices.Clone(tt.a.Latencies), slices.Clone(tt.b.Latencies)
			got := loadgen.Merge(tt.a, tt.b)
			lat := got.Latencies
			got.Latencies, tt.want.Latencies = nil, nil
			if !sameSample(got, tt.want) {
				t.Errorf("Merge = %+v, want %+v", got, tt.want)
			}
			var fromA, fromB int
			for _, l := range lat {
				switch l {
				case 1:
					fromA++
				case 2:
					fromB++
				}
			}
			if abs(fromA-tt.fromA) > 1 || abs(fromB-tt.fromB) > 1 || len(lat) > 2048 {
				t.Errorf("%d latencies from a and %d from b, want %d and %d (±1), at most 2048",
					fromA, fromB, tt.fromA, tt.fromB)
			}
			if !slices.Equal(a, tt.a.Latencies) || !slices.Equal(b, tt.b.Latencies) {
				t.Errorf("Merge modified its inputs' latencies")
			}
		})
	}
}

// Merging each side's proxy and synthetic samples is how analysis sees
// both: the judges then compare the merged canary with the merged
// baseline.
func ExampleMerge() {
	proxy := metrics.Sample{Requests: 12, Errors: 0, Mean: 40, Latencies: fill(12, 40)}
	synthetic := metrics.Sample{Requests: 288, Errors: 3, Mean: 15, Latencies: fill(288, 15)}
	s := loadgen.Merge(proxy, synthetic)
	fmt.Printf("requests %d, errors %d, error rate %.2f%%, mean %.0fms, p50 %.0fms, %d latencies\n",
		s.Requests, s.Errors, 100*s.ErrorRate(), s.Mean, s.P50, len(s.Latencies))
	// Output: requests 300, errors 3, error rate 1.00%, mean 16ms, p50 15ms, 300 latencies
}

func abs(x int) int { return max(x, -x) }

// sameSample compares counts exactly and latency figures within 1e-9.
func sameSample(a, b metrics.Sample) bool {
	near := func(x, y float64) bool { return math.Abs(x-y) <= 1e-9*max(1, math.Abs(y)) }
	return a.Requests == b.Requests && a.Errors == b.Errors && near(a.P50, b.P50) &&
		near(a.P90, b.P90) && near(a.P99, b.P99) && near(a.Mean, b.Mean)
}
