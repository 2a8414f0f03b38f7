package analysis

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

func TestBayesFactor(t *testing.T) {
	tests := []struct {
		name           string
		xc, nc, xb, nb int64
		margin         float64
		bf, p0         float64
	}{
		// p0 = 1.5·10/(1.5·10 + 990) = 15/1005.
		// B(1+2, 1+0)/B(1,1) = Γ(3)Γ(1)/Γ(4) = 2/6 = 1/3.
		// BF = (1/3)/p0² = (1/3)·(1005/15)² = 67²/3 = 4489/3 = 1496.333.
		{"two canary errors", 2, 10, 0, 990, 0.5, 4489.0 / 3, 15.0 / 1005},
		// Margin 0: p0 = 100/1000 = 0.1. B(4, 2) = 3!·1!/5! = 1/20.
		// BF = (1/20)/(0.1³·0.9) = 55.556.
		{"no margin", 3, 100, 1, 900, 0, 1 / 20.0 / (0.001 * 0.9), 0.1},
		// No events: B(1,1)/B(1,1) = 1.
		{"no events", 0, 100, 0, 900, 0.5, 1, 150.0 / 1050},
		// No canary trials: p0 = 0 and BF = B(1, 1+3) = 1/4.
		{"no canary trials", 0, 0, 3, 900, 0.5, 0.25, 0},
		{"no trials", 0, 0, 0, 0, 0.5, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			bf, p0 := BayesFactor(tt.xc, tt.nc, tt.xb, tt.nb, tt.margin)
			if math.Abs(bf-tt.bf) > 1e-9*tt.bf || math.Abs(p0-tt.p0) > 1e-12 {
				t.Errorf("BayesFactor = (%v, %v), want (%v, %v)", bf, p0, tt.bf, tt.p0)
			}
		})
	}
}

func TestSequentialJudge(t *testing.T) {
	s := func(req, errs int64) metrics.Sample { return metrics.Sample{Requests: req, Errors: errs} }
	cond := "canary.errorRate <= baseline.errorRate * 1.5 + 0.001"
	tests := []struct {
		name           string
		m              Metric
		canary, base   metrics.Sample
		want           Verdict
		bayesFactorMin float64
	}{
		// p0 = 6/82; BF = B(5,2)/(p0⁴(1-p0)) = (1/30)/(2.87e-5·0.927) ≈ 1254.
		{"broken canary fails below minRequests", Metric{}, s(4, 4), s(76, 1), Fail, 1000},
		// BF = 1496 (above): conclusive though the canary has 10 requests.
		{"two errors in ten fail", Metric{}, s(10, 2), s(990, 0), Fail, 1496},
		// One error: BF = (1/2)/p0 = 33.5 < 100.
		{"one error is not enough", Metric{}, s(10, 1), s(990, 0), Inconclusive, 0},
		{"healthy passes", Metric{Condition: cond}, s(1000, 10), s(19000, 190), Pass, 0},
		{"healthy below minRequests", Metric{Condition: cond}, s(99, 0), s(1881, 19), Inconclusive, 0},
		{"no data", Metric{Condition: cond}, s(0, 0), s(0, 0), Inconclusive, 0},
		{"baseline without data", Metric{}, s(1000, 0), s(0, 0), Inconclusive, 0},
		// 1.8% vs 1%: above the condition's ×1.5 + 0.1 points, but 18
		// errors against 190 is no proof beyond the 50% margin.
		{"condition false, evidence weak", Metric{Condition: cond}, s(1000, 18), s(19000, 190), Inconclusive, 0},
		// The canary is better: never a rejection, whatever the factor.
		{"better canary", Metric{Margin: NoMargin}, s(1000, 0), s(1000, 60), Pass, 0},
		{"bad counts", Metric{}, s(10, 11), s(10, 0), Error, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.Name, tt.m.Judge = "error-rate", JudgeSequential
			j, err := Compile(tt.m)
			if err != nil {
				t.Fatal(err)
			}
			r := j.Evaluate(Input{Canary: tt.canary, Baseline: tt.base, MinRequests: 100})
			if r.Verdict != tt.want {
				t.Errorf("verdict %s, want %s: %s", r.Verdict, tt.want, r.Reason)
			}
			if r.Numbers["bayesFactor"] < tt.bayesFactorMin {
				t.Errorf("bayesFactor %v, want >= %v", r.Numbers["bayesFactor"], tt.bayesFactorMin)
			}
		})
	}
}

func TestSequentialReason(t *testing.T) {
	j, err := Compile(Metric{Name: "error-rate", Judge: JudgeSequential, Margin: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	r := j.Evaluate(Input{
		Canary:      metrics.Sample{Requests: 40, Errors: 12},
		Baseline:    metrics.Sample{Requests: 2000, Errors: 3},
		MinRequests: 100,
	})
	// p0 = 60/2060; BF = B(13,4)/(p0¹²(1-p0)³), B(13,4) = 12!3!/16! = 1/7280.
	want := "error-rate: Fail: canary 12/40 errors (30.0%) vs baseline 3/2000 (0.15%); " +
		"sequential test Bayes factor 4e14 >= 1/alpha 100 (alpha 0.01, margin 50%)"
	if r.Reason != want {
		t.Errorf("reason\n %s\nwant\n %s", r.Reason, want)
	}
	if got := r.Numbers["bayesFactor"]; math.Abs(got-4.02691010421e14)/got > 1e-9 {
		t.Errorf("bayesFactor %v, want 4.02691e14", got)
	}
}

// TestSequentialReasonNamesTheErrors: the reason says what the errors
// are when the input names them (a gRPC service's failed calls).
func TestSequentialReasonNamesTheErrors(t *testing.T) {
	j, err := Compile(Metric{Name: "error-rate", Judge: JudgeSequential})
	if err != nil {
		t.Fatal(err)
	}
	r := j.Evaluate(Input{
		Canary:    metrics.Sample{Requests: 40, Errors: 12},
		Baseline:  metrics.Sample{Requests: 2000, Errors: 3},
		ErrorsAre: "failed gRPC calls (grpc-status UNAVAILABLE)", MinRequests: 100,
	})
	if want := "canary 12/40 failed gRPC calls (grpc-status UNAVAILABLE) (30.0%) vs baseline 3/2000"; !strings.Contains(r.Reason, want) {
		t.Errorf("reason %q, want it to contain %q", r.Reason, want)
	}
}

func TestSequentialLatency(t *testing.T) {
	j, err := Compile(Metric{Name: "latency-p99", Judge: JudgeSequential, On: OnLatency})
	if err != nil {
		t.Fatal(err)
	}
	base := latencies(100, 1000, 1) // 100…149 ms, 20 of each
	// A canary whose every tenth request is 10 s: its 10 slow requests
	// are the pooled sample's top 1% all on the canary.
	slow := latencies(100, 100, 1)
	for i := 0; i < len(slow); i += 10 {
		slow[i] = 10_000
	}
	r := j.Evaluate(Input{
		Canary:      metrics.Sample{Requests: 100, Latencies: slow},
		Baseline:    metrics.Sample{Requests: 1000, Latencies: base},
		MinRequests: 100,
	})
	// 1100 pooled, p99 at rank 1089: 149 ms (the 10 slow ones rank
	// above it, and 1 of the 149s). Canary 10 above and 2 at it (12 of
	// 100), baseline 20 at it (of 1000).
	if r.Verdict != Fail || r.Numbers["canary.exceedances"] != 12 || r.Numbers["latencyThreshold"] != 149 {
		t.Errorf("verdict %s, numbers %v: %s", r.Verdict, r.Numbers, r.Reason)
	}
	same := j.Evaluate(Input{
		Canary:      metrics.Sample{Requests: 100, Latencies: latencies(100, 100, 1)},
		Baseline:    metrics.Sample{Requests: 1000, Latencies: base},
		MinRequests: 100,
	})
	if same.Verdict != Pass {
		t.Errorf("same latencies: verdict %s: %s", same.Verdict, same.Reason)
	}
}

// TestSequentialAA is the property the sequential judge exists for: two
// versions with the same 1% error rate, the canary on 5% of the traffic,
// checked after every 100 requests up to 20,000, are told apart (a false
// rollback) in at most alpha of runs, at the margin's boundary too.
func TestSequentialAA(t *testing.T) {
	runs := 500
	if testing.Short() {
		runs = 100
	}
	for _, margin := range []float64{0, NoMargin} { // default 0.5, and equal rates
		j, err := Compile(Metric{Name: "error-rate", Judge: JudgeSequential, Margin: margin,
			Condition: "canary.errorRate <= baseline.errorRate * 1.5 + 0.001"})
		if err != nil {
			t.Fatal(err)
		}
		fails := 0
		for run := range runs {
			rng := rand.New(rand.NewPCG(uint64(run), 42))
			var c, b metrics.Sample
			for range 200 {
				for range 100 { // one draw a request: canary?, then failed?
					switch u := rng.Float64(); {
					case u < 0.05:
						c.Requests++
						if u < 0.05*0.01 {
							c.Errors++
						}
					default:
						b.Requests++
						if u < 0.05+0.95*0.01 {
							b.Errors++
						}
					}
				}
				if j.Evaluate(Input{Canary: c, Baseline: b, MinRequests: 100}).Verdict == Fail {
					fails++
					break
				}
			}
		}
		rate := float64(fails) / float64(runs)
		t.Logf("margin %v: %d false rollbacks in %d A/A runs (%.2f%%)", j.Metric().Margin, fails, runs, 100*rate)
		if rate > j.Metric().Alpha {
			t.Errorf("margin %v: false rollback rate %.3f > alpha %v", j.Metric().Margin, rate, j.Metric().Alpha)
		}
	}
}

// TestSequentialLatencyTiesAtTheQuantile pins the bug where ties hid a
// regression: a canary with a fifth of its latencies exactly at a 30 s
// timeout makes 30 s the pooled p99, and exceedances counted with a
// strict > found none of them, so the canary passed.
func TestSequentialLatencyTiesAtTheQuantile(t *testing.T) {
	j, err := Compile(Metric{Name: "latency-p99", Judge: JudgeSequential, On: OnLatency})
	if err != nil {
		t.Fatal(err)
	}
	canary := latencies(100, 100, 1)
	for i := range 20 {
		canary[5*i] = 30_000 // the timeout
	}
	r := j.Evaluate(Input{
		Canary:      metrics.Sample{Requests: 100, Latencies: canary},
		Baseline:    metrics.Sample{Requests: 1000, Latencies: latencies(100, 1000, 1)},
		MinRequests: 100,
	})
	if r.Verdict != Fail || r.Numbers["latencyThreshold"] != 30_000 || r.Numbers["canary.exceedances"] != 20 {
		t.Errorf("verdict %s, numbers %v: %s", r.Verdict, r.Numbers, r.Reason)
	}
}

// TestSequentialCountsOverflow pins the int64 overflow of xc+xb: a canary
// failing nearly all of 2^63 requests beside a baseline with 100 errors
// summed to a negative count of events, read as "not worse", and passed.
func TestSequentialCountsOverflow(t *testing.T) {
	j, err := Compile(Metric{Name: "error-rate", Judge: JudgeSequential})
	if err != nil {
		t.Fatal(err)
	}
	r := j.Evaluate(Input{
		Canary:      metrics.Sample{Requests: math.MaxInt64, Errors: math.MaxInt64 - 10},
		Baseline:    metrics.Sample{Requests: 1000, Errors: 100},
		MinRequests: 100,
	})
	if r.Verdict != Fail {
		t.Errorf("verdict %s, want Fail: %s", r.Verdict, r.Reason)
	}
}
