package analysis

import (
	"math"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// TestUndefinedConditionIsInconclusive pins the bug where a ratio in a
// condition rolled back good canaries: canary.errorRate /
// baseline.errorRate with both rates 0 is NaN, NaN <= 1.5 is false, and
// a false threshold condition was a Fail. A condition with a NaN or
// infinite term, or reading a NaN measurement (custom values included),
// is Inconclusive, naming the term, whatever the judge.
func TestUndefinedConditionIsInconclusive(t *testing.T) {
	s := func(req, errs int64, p99 float64, custom map[string]float64) metrics.Sample {
		return metrics.Sample{Requests: req, Errors: errs, P99: p99, Custom: custom}
	}
	tests := []struct {
		name, cond   string
		canary, base metrics.Sample
		judge        string
		wantVerdict  Verdict
		wantInReason string
	}{
		{"0/0 error rates", "canary.errorRate / baseline.errorRate <= 1.5",
			s(200, 0, 10, nil), s(4000, 0, 10, nil), JudgeThreshold, Inconclusive,
			"canary.errorRate / baseline.errorRate is NaN"},
		{"0/0 p99", "canary.p99 / baseline.p99 <= 1.2",
			s(200, 0, 0, nil), s(4000, 0, 0, nil), JudgeThreshold, Inconclusive,
			"canary.p99 / baseline.p99 is NaN"},
		{"x/0 is +Inf", "canary.errorRate / baseline.errorRate <= 1.5",
			s(200, 2, 10, nil), s(4000, 0, 10, nil), JudgeThreshold, Inconclusive,
			"canary.errorRate / baseline.errorRate is +Inf"},
		// The innermost undefined term is named, not the whole side.
		{"inside a sum", "canary.p99 / baseline.p99 * 100 + 5 < 200",
			s(200, 0, 0, nil), s(4000, 0, 0, nil), JudgeThreshold, Inconclusive,
			"canary.p99 / baseline.p99 is NaN"},
		{"NaN custom value", "canary.custom.saturation < 0.9",
			s(200, 0, 10, map[string]float64{"saturation": math.NaN()}), s(4000, 0, 10, nil), JudgeThreshold, Inconclusive,
			"canary.custom.saturation is NaN"},
		{"NaN p99", "canary.p99 < 100",
			s(200, 0, math.NaN(), nil), s(4000, 0, 10, nil), JudgeThreshold, Inconclusive,
			"canary.p99 is NaN"},
		{"Inf p99", "canary.p99 < 100",
			s(200, 0, math.Inf(1), nil), s(4000, 0, 10, nil), JudgeThreshold, Inconclusive,
			"canary.p99 is +Inf"},
		// The sequential judge's condition only gates Pass: undefined,
		// it cannot pass either.
		{"sequential, 0/0", "canary.errorRate / baseline.errorRate <= 1.5",
			s(2000, 0, 10, nil), s(40000, 0, 10, nil), JudgeSequential, Inconclusive,
			"canary.errorRate / baseline.errorRate is NaN"},
		// Defined terms still decide.
		{"defined ratio holds", "canary.errorRate / baseline.errorRate <= 1.5",
			s(200, 2, 10, nil), s(4000, 40, 10, nil), JudgeThreshold, Pass, "holds"},
		{"defined ratio fails", "canary.errorRate / baseline.errorRate <= 1.5",
			s(200, 20, 10, nil), s(4000, 40, 10, nil), JudgeThreshold, Fail, "is false"},
		// A NaN the condition does not read changes nothing.
		{"unread NaN", "canary.errorRate <= 0.05",
			s(200, 2, math.NaN(), nil), s(4000, 40, 10, nil), JudgeThreshold, Pass, "holds"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Compile(Metric{Name: "m", Judge: tt.judge, Condition: tt.cond})
			if err != nil {
				t.Fatal(err)
			}
			r := j.Evaluate(Input{Canary: tt.canary, Baseline: tt.base, MinRequests: 100})
			if r.Verdict != tt.wantVerdict || !strings.Contains(r.Reason, tt.wantInReason) {
				t.Errorf("got %s: %q\nwant %s with %q", r.Verdict, r.Reason, tt.wantVerdict, tt.wantInReason)
			}
		})
	}
}
