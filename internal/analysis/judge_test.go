package analysis

import (
	"math"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		m    Metric
		want []string // substrings of the error
	}{
		{"no name", Metric{Condition: "canary.cpu < 0.9"}, []string{"without a name"}},
		{"threshold without condition", Metric{Name: "cpu"}, []string{`"cpu"`, "threshold judge needs a condition"}},
		{"unknown judge", Metric{Name: "x", Judge: "t-test", Condition: "canary.cpu < 1"}, []string{`judge "t-test"`, "threshold, sequential or mann-whitney"}},
		{"unknown field", Metric{Name: "x", Condition: "canary.latency < 5"}, []string{"latency", "errorRate, requests"}},
		{"unknown name", Metric{Name: "x", Condition: "canari.p99 < 5"}, []string{"unknown name canari at column 1"}},
		{"not a bool", Metric{Name: "x", Condition: "canary.p99 * 2"}, []string{"expected bool"}},
		{"syntax", Metric{Name: "x", Condition: "canary.p99 <"}, []string{`condition "canary.p99 <"`}},
		{"never reads the canary", Metric{Name: "x", Condition: "baseline.p99 < 5"}, []string{"never reads the canary"}},
		{"bad on", Metric{Name: "x", Judge: JudgeSequential, On: "cpu"}, []string{`on "cpu"`, "errorRate or latency"}},
		{"mann-whitney on errors", Metric{Name: "x", Judge: JudgeMannWhitney, On: OnErrorRate}, []string{"latency"}},
		{"bad alpha", Metric{Name: "x", Judge: JudgeSequential, Alpha: 1.5}, []string{"alpha 1.5"}},
		{"bad margin", Metric{Name: "x", Judge: JudgeSequential, Margin: -0.5}, []string{"margin -0.5"}},
		{"bad confidence", Metric{Name: "x", Judge: JudgeMannWhitney, Confidence: 98}, []string{"confidence 98"}},
		{"bad direction", Metric{Name: "x", Judge: JudgeMannWhitney, Direction: "up"}, []string{`direction "up"`, "increase, decrease or either"}},
		{"bad effect size", Metric{Name: "x", Judge: JudgeMannWhitney, EffectSize: 0.8}, []string{"effectSize 0.8"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Compile(tt.m)
			if err == nil {
				t.Fatal("Compile succeeded, want an error")
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
		})
	}
}

func TestCompileDefaults(t *testing.T) {
	j, err := Compile(Metric{Name: "e", Judge: JudgeSequential})
	if err != nil {
		t.Fatal(err)
	}
	got := j.Metric()
	if got.On != OnErrorRate || got.Alpha != 0.01 || got.Margin != DefaultMargin || !j.AnytimeValid() {
		t.Errorf("sequential defaults: %+v", got)
	}
	j, err = Compile(Metric{Name: "l", Judge: JudgeMannWhitney, Condition: "canary.p99 <= baseline.p99 * 1.2 + 5"})
	if err != nil {
		t.Fatal(err)
	}
	got = j.Metric()
	if got.On != OnLatency || got.Confidence != 0.98 || got.Direction != DirectionIncrease || got.EffectSize != 1 || j.AnytimeValid() {
		t.Errorf("mann-whitney defaults: %+v", got)
	}
	if f := j.Fields(); len(f) != 2 || f[0] != "canary.p99" || f[1] != "baseline.p99" {
		t.Errorf("Fields() = %v", f)
	}
	if j, _ := Compile(Metric{Name: "t", Condition: "canary.cpu < 0.9"}); j.Metric().Judge != JudgeThreshold {
		t.Errorf("default judge %q", j.Metric().Judge)
	}
}

func TestThreshold(t *testing.T) {
	s := func(req, errs int64, p99 float64) metrics.Sample {
		return metrics.Sample{Requests: req, Errors: errs, P99: p99}
	}
	tests := []struct {
		name       string
		cond       string
		in         Input
		want       Verdict
		wantReason string
	}{
		{"holds", "canary.errorRate <= baseline.errorRate * 1.5 + 0.001",
			Input{Canary: s(200, 2, 0), Baseline: s(4000, 40, 0), MinRequests: 100}, Pass,
			`e: Pass: condition "canary.errorRate <= baseline.errorRate * 1.5 + 0.001" holds with canary.errorRate=0.01, baseline.errorRate=0.01 (canary 200 requests)`},
		{"false", "canary.p99 <= baseline.p99 * 1.2 + 5",
			Input{Canary: s(200, 0, 250), Baseline: s(4000, 0, 120), MinRequests: 100}, Fail,
			`e: Fail: condition "canary.p99 <= baseline.p99 * 1.2 + 5" is false with canary.p99=250, baseline.p99=120 (canary 200 requests)`},
		// The seed's rule fires on one error in 12 requests; not here.
		{"too little data", "canary.errorRate <= baseline.errorRate * 1.5",
			Input{Canary: s(12, 1, 0), Baseline: s(228, 2, 0), MinRequests: 100}, Inconclusive,
			"e: Inconclusive: too little data: 12 of 100 canary requests"},
		{"baseline too little", "canary.errorRate <= baseline.errorRate * 1.5",
			Input{Canary: s(100, 50, 0), Baseline: s(10, 0, 0), MinRequests: 100}, Inconclusive,
			"e: Inconclusive: too little data: 10 of 100 baseline requests"},
		// Without the baseline in the condition, its count does not matter.
		{"canary only", "canary.cpu < 0.9",
			Input{Canary: s(100, 0, 0), CanaryRes: Resources{CPU: 0.95}, MinRequests: 100}, Fail,
			`e: Fail: condition "canary.cpu < 0.9" is false with canary.cpu=0.95 (canary 100 requests)`},
		// Never pass on no data, even with a minimum of 0.
		{"no data, no minimum", "canary.errorRate < 0.01",
			Input{}, Inconclusive, "e: Inconclusive: too little data: 0 of 1 canary requests"},
		{"runtime error", "canary.requests % canary.errors == 0",
			Input{Canary: s(100, 0, 0), MinRequests: 100}, Error, `e: Error: condition "canary.requests % canary.errors == 0" failed: runtime error: integer divide by zero at column 17`},
		{"NaN input", "canary.p99 < 100",
			Input{Canary: s(100, 0, math.NaN()), MinRequests: 100}, Inconclusive, `e: Inconclusive: condition "canary.p99 < 100" is undefined: canary.p99 is NaN`},
		{"bad counts", "canary.p99 < 100",
			Input{Canary: s(100, 101, 0), MinRequests: 100}, Error, "e: Error: bad canary counts: 101 errors of 100 requests"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j, err := Compile(Metric{Name: "e", Condition: tt.cond})
			if err != nil {
				t.Fatal(err)
			}
			r := j.Evaluate(tt.in)
			if r.Verdict != tt.want || !strings.HasPrefix(r.Reason, tt.wantReason) {
				t.Errorf("got %s: %q\nwant %s: %q", r.Verdict, r.Reason, tt.want, tt.wantReason)
			}
		})
	}
}

// TestNoPassOnNoData runs every judge of the seed on a canary below the
// minimum that looks perfect, and on one that looks broken: none passes,
// and only the sequential judges fail.
func TestNoPassOnNoData(t *testing.T) {
	good := metrics.Sample{Requests: 20, Errors: 0, P99: 10, Latencies: latencies(10, 20, 1)}
	bad := metrics.Sample{Requests: 20, Errors: 20, P99: 5000, Latencies: latencies(5000, 20, 1)}
	baseline := metrics.Sample{Requests: 380, Errors: 3, P99: 60, Latencies: latencies(10, 380, 1)}
	for _, m := range Seed() {
		j, err := Compile(m)
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range []struct {
			name   string
			canary metrics.Sample
		}{{"good", good}, {"bad", bad}} {
			r := j.Evaluate(Input{Canary: c.canary, Baseline: baseline,
				CanaryRes: Resources{CPU: 2, Memory: 1}, MinRequests: SeedMinRequests})
			want := Inconclusive
			if c.name == "bad" && j.AnytimeValid() {
				want = Fail
			}
			if r.Verdict != want {
				t.Errorf("%s with a %s canary of 20 requests: %s, want %s: %s", m.Name, c.name, r.Verdict, want, r.Reason)
			}
		}
	}
}

func TestSeedCompiles(t *testing.T) {
	names := map[string]bool{}
	for _, m := range Seed() {
		if _, err := Compile(m); err != nil {
			t.Errorf("seed metric %q: %v", m.Name, err)
		}
		names[m.Name] = true
	}
	for _, n := range []string{"error-rate", "latency", "latency-p99", "cpu", "memory"} {
		if !names[n] {
			t.Errorf("seed lacks %q", n)
		}
	}
}

func TestAggregate(t *testing.T) {
	r := func(vs ...Verdict) []Result {
		out := make([]Result, len(vs))
		for i, v := range vs {
			out[i] = Result{Verdict: v}
		}
		return out
	}
	tests := []struct {
		name    string
		results []Result
		want    Verdict
	}{
		{"no metrics", nil, Inconclusive},
		{"all pass", r(Pass, Pass), Pass},
		{"one fail wins", r(Pass, Error, Inconclusive, Fail), Fail},
		{"error over inconclusive", r(Pass, Inconclusive, Error), Error},
		{"inconclusive", r(Pass, Inconclusive), Inconclusive},
		{"unknown verdict is not a pass", r(Pass, ""), Error},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Aggregate(tt.results); got != tt.want {
				t.Errorf("Aggregate = %s, want %s", got, tt.want)
			}
		})
	}
}
