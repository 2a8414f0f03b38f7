package analysis

import (
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// TestSequentialNoPassOnSampleSizeAlone pins the bug where the
// sequential judge passed on sample size alone: with no condition, a
// canary failing 5 of 100 requests beside a baseline failing 19 of 1900
// (5× worse, Bayes factor 3.5, below 1/alpha) was a Pass. It passes only
// when the evidence does not favour a canary worse than the margin.
func TestSequentialNoPassOnSampleSizeAlone(t *testing.T) {
	j, err := Compile(Metric{Name: "error-rate", Judge: JudgeSequential})
	if err != nil {
		t.Fatal(err)
	}
	s := func(req, errs int64) metrics.Sample { return metrics.Sample{Requests: req, Errors: errs} }
	tests := []struct {
		name         string
		canary, base metrics.Sample
		pass         bool
	}{
		{"5x worse", s(100, 5), s(1900, 19), false},
		{"2x worse", s(1000, 20), s(19000, 190), false},
		{"equal rates", s(1000, 10), s(19000, 190), true},
		{"no errors either side", s(100, 0), s(1900, 0), true},
		{"better", s(1000, 2), s(19000, 190), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := j.Evaluate(Input{Canary: tt.canary, Baseline: tt.base, MinRequests: 100})
			if (r.Verdict == Pass) != tt.pass {
				t.Errorf("verdict %s, want Pass %v: %s", r.Verdict, tt.pass, r.Reason)
			}
		})
	}
}

// TestSequentialMinRateDelta pins the missing floor on error rates: 3
// errors in 50,000 requests (0.006%) against none in a million failed,
// though no user would call it a regression. A difference below
// minRateDelta (default 0.1 percentage points) never fails, and passes
// once the canary's upper bound is within it.
func TestSequentialMinRateDelta(t *testing.T) {
	in := Input{Canary: metrics.Sample{Requests: 50_000, Errors: 3},
		Baseline: metrics.Sample{Requests: 1_000_000}, MinRequests: 100}
	j, err := Compile(Metric{Name: "error-rate", Judge: JudgeSequential})
	if err != nil {
		t.Fatal(err)
	}
	if got := j.Metric().MinRateDelta; got != 0.001 {
		t.Errorf("default minRateDelta %v, want 0.001", got)
	}
	if r := j.Evaluate(in); r.Verdict != Pass || !strings.Contains(r.Reason, "within minRateDelta 0.1%") {
		t.Errorf("3/50000 vs 0/1e6: %s, want Pass within the floor: %s", r.Verdict, r.Reason)
	}
	// No floor: the old behaviour, a Fail.
	nofloor, err := Compile(Metric{Name: "error-rate", Judge: JudgeSequential, MinRateDelta: -1})
	if err != nil {
		t.Fatal(err)
	}
	if r := nofloor.Evaluate(in); r.Verdict != Fail {
		t.Errorf("without a floor: %s, want Fail: %s", r.Verdict, r.Reason)
	}
	// Above the floor a regression still fails: 0.5% against 0.
	in.Canary.Errors = 250
	if r := j.Evaluate(in); r.Verdict != Fail {
		t.Errorf("250/50000 vs 0/1e6: %s, want Fail: %s", r.Verdict, r.Reason)
	}
	if _, err := Compile(Metric{Name: "e", Judge: JudgeSequential, MinRateDelta: 1}); err == nil {
		t.Error("minRateDelta 1 compiled; want an error")
	}
}

// TestSequentialBeforeAtFullTraffic pins the bug where a canary that
// broke once it had all the traffic completed: with no stable traffic
// left the baseline had no requests, p0 was 1 and the judge could never
// fail. Judged against the baseline measured before the switch, a canary
// that fails every request is rolled back after a few failures, a
// healthy one passes, and one as good as the baseline is not failed.
func TestSequentialBeforeAtFullTraffic(t *testing.T) {
	j, err := Compile(Metric{Name: "error-rate", Judge: JudgeSequential})
	if err != nil {
		t.Fatal(err)
	}
	before := metrics.Counts{Requests: 2000, Errors: 0}
	// Without Before (today's inputs at 100%): never a Fail.
	broken := Input{Canary: metrics.Sample{Requests: 300, Errors: 150}, MinRequests: 100}
	if r := j.Evaluate(broken); r.Verdict == Fail {
		t.Fatalf("without a baseline: %s", r.Reason)
	}
	broken.Before = before
	if r := j.Evaluate(broken); r.Verdict != Fail || !strings.Contains(r.Reason, "before") {
		t.Errorf("150 of 300 failing at 100%%: %s, want Fail: %s", r.Verdict, r.Reason)
	}
	// How many failures, after 150 good requests, until the Fail?
	failures := 0
	for k := int64(1); k <= 50; k++ {
		in := Input{Canary: metrics.Sample{Requests: 150 + k, Errors: k}, Before: before, MinRequests: 100}
		if j.Evaluate(in).Verdict == Fail {
			failures = int(k)
			break
		}
	}
	t.Logf("a canary failing every request after 150 good ones fails after %d failures (baseline before: %d/%d)", failures, before.Errors, before.Requests)
	if failures == 0 || failures > 10 {
		t.Errorf("failed after %d failures, want 1 to 10", failures)
	}
	healthy := Input{Canary: metrics.Sample{Requests: 3000, Errors: 0}, Before: before, MinRequests: 100}
	if r := j.Evaluate(healthy); r.Verdict != Pass {
		t.Errorf("healthy at 100%%: %s, want Pass: %s", r.Verdict, r.Reason)
	}
	// As bad as the baseline was (1%): not a Fail.
	same := Input{Canary: metrics.Sample{Requests: 5000, Errors: 50}, Before: metrics.Counts{Requests: 5000, Errors: 50}, MinRequests: 100}
	if r := j.Evaluate(same); r.Verdict == Fail {
		t.Errorf("same rate as before: %s", r.Reason)
	}
}
