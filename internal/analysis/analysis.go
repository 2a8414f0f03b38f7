package analysis

import "github.com/bluejay-deploy/bluejay/internal/metrics"

// Verdict is the outcome of judging one metric, or a whole analysis.
type Verdict string

// Verdicts, from best to worst news.
const (
	// Pass: the canary is no worse than allowed, on enough data.
	Pass Verdict = "Pass"
	// Inconclusive: too little data, or evidence too weak either way.
	// Wait for more; never promote on it.
	Inconclusive Verdict = "Inconclusive"
	// Error: the metric could not be judged (bad input, a condition
	// that failed to run).
	Error Verdict = "Error"
	// Fail: the canary is worse than allowed. Roll back.
	Fail Verdict = "Fail"
)

// Judges.
const (
	JudgeThreshold   = "threshold"
	JudgeSequential  = "sequential"
	JudgeMannWhitney = "mann-whitney"
)

// What statistical judges measure.
const (
	OnErrorRate = "errorRate"
	OnLatency   = "latency"
)

// Directions of a Mann-Whitney difference that fail.
const (
	DirectionIncrease = "increase"
	DirectionDecrease = "decrease"
	DirectionEither   = "either"
)

// NoMargin is the Margin of a sequential test of equal rates (H0: the
// canary's rate is at most the baseline's). Margin 0 means the default.
const NoMargin = -1.0

// Metric is one measurement of an analysis and how it is judged. A zero
// numeric field means its default; fields that a judge does not use are
// ignored.
type Metric struct {
	// Name labels the metric in reasons. Required.
	Name string
	// Judge is threshold, sequential or mann-whitney. Default ("")
	// threshold.
	Judge string
	// Condition is an expr-lang expression over canary and baseline
	// (see Side for the fields) that must hold for Pass. Required for
	// threshold, where it is the verdict; for the statistical judges it
	// is optional and only gates Pass: when false on the point
	// estimates the verdict is Inconclusive, since only the test fails.
	Condition string
	// On is what a statistical judge measures: errorRate or latency.
	// Default errorRate for sequential, latency for mann-whitney (which
	// judges only latency).
	On string
	// Alpha bounds the sequential judge's false-failure probability,
	// however often it is checked. Default (0) 0.01.
	Alpha float64
	// Margin is the relative worsening the sequential judge tolerates:
	// H0 is canary rate <= (1+Margin) × baseline rate, and only evidence
	// against H0 fails; it passes only when the evidence does not favour
	// a canary worse than that. Default (0) DefaultMargin, 0.25; NoMargin
	// tests equal rates. A canary 1.5× worse than its baseline is not
	// reliably caught at 0.25 (see the package doc).
	Margin float64
	// MinRateDelta is the smallest difference of error rates (canary
	// minus baseline, a share: 0.001 is 0.1 percentage points) that a
	// sequential errorRate judge fails on, whatever the ratio: 3 errors
	// in 50,000 against none in a million is no regression worth a
	// rollback. Below it the judge passes once the canary's upper bound
	// is within it too. Default (0) DefaultMinRateDelta, 0.001; a
	// negative value means no floor.
	MinRateDelta float64
	// Confidence of the Mann-Whitney test: a difference is significant
	// when p < 1-Confidence. Default (0) 0.98, Kayenta's.
	Confidence float64
	// Direction is the Mann-Whitney difference that fails: increase
	// (the canary is slower), decrease or either. Default increase.
	Direction string
	// Tolerance is Kayenta's Mann-Whitney classifier rule: a difference
	// fails only when the bound of the Hodges-Lehmann confidence interval
	// (at Confidence) nearest 0 clears Tolerance × |the shift estimate|:
	// for an increase, lower > Tolerance·|estimate|. Default (0) 0.25,
	// Kayenta's; a negative value means the plain p-value rule (p <
	// 1-Confidence and the direction of z).
	Tolerance float64
	// EffectSize is the smallest canary/baseline mean ratio that fails
	// a significant increase (1/EffectSize for a decrease). At least 1.
	// Default (0) 1.0, Kayenta's: any significant difference fails.
	EffectSize float64
	// MinDelta is the smallest difference of mean latencies, in ms, that
	// fails a Mann-Whitney test, whatever the ratio: a service answering
	// in 0.4 ms is not broken by answering in 0.7 ms, though the ratio is
	// large and, with enough samples, significant. Default (0) 1 ms; a
	// negative value means no floor.
	MinDelta float64
}

// Result is the verdict on one metric with the numbers behind it.
type Result struct {
	// Metric is the metric's name.
	Metric string `json:"metric"`
	// Verdict is the outcome.
	Verdict Verdict `json:"verdict"`
	// Reason is one readable sentence with the numbers.
	Reason string `json:"reason"`
	// Numbers are the values behind the verdict: "canary.requests",
	// "baseline.errorRate", "minRequests", "bayesFactor", "pValue" and
	// the like. All finite, so they encode as JSON.
	Numbers map[string]float64 `json:"numbers,omitempty"`
}

// Resources is one side's resource use, from the platform.
type Resources struct {
	// CPU is the share of one core used, averaged over the side's
	// instances (0.5 is half a core).
	CPU float64
	// Memory is the share of the host's memory used (0 to 1).
	Memory float64
	// RSSBytes is the resident memory in bytes.
	RSSBytes float64
}

// Input is what a Judge evaluates: both sides' measurements since the
// analysis began (cumulative, so the sequential test accumulates
// evidence) and the template's minimum.
type Input struct {
	// Canary and Baseline are the two sides' measurements.
	Canary, Baseline metrics.Sample
	// CanaryRes and BaselineRes are their resource use. Zero reads as
	// idle: leave resource metrics out of a template whose platform
	// cannot measure them (see Judge.Fields).
	CanaryRes, BaselineRes Resources
	// ErrorsAre names the sides' errors in reasons, such as "failed gRPC
	// calls (grpc-status UNAVAILABLE, ...)". "" means "errors".
	ErrorsAre string
	// MinRequests is the number of requests a side needs before any
	// metric passes. Below it the verdict is Inconclusive, or Fail from
	// a sequential judge with conclusive evidence.
	MinRequests int64
	// Before is the baseline's requests and errors measured while it
	// still had a share of the traffic, for a canary that now has all of
	// it (at 100%, or in a blue-green watch): the caller sets it then,
	// and leaves it zero while the baseline has a share. With it, the
	// sequential errorRate judge tests the canary's own errors against
	// the rate Before bounds (see the package doc) instead of Baseline,
	// which has no traffic left to compare with.
	Before metrics.Counts
}

// Side is one side of a condition: the fields that `canary.X` and
// `baseline.X` name.
type Side struct {
	// ErrorRate is errors/requests (0 to 1), 0 without requests.
	ErrorRate float64 `expr:"errorRate"`
	// Requests and Errors are counts since the analysis began.
	Requests int64 `expr:"requests"`
	Errors   int64 `expr:"errors"`
	// P50, P90, P99 and Mean are latencies in milliseconds.
	P50  float64 `expr:"p50"`
	P90  float64 `expr:"p90"`
	P99  float64 `expr:"p99"`
	Mean float64 `expr:"mean"`
	// CPU is the share of one core per instance, Memory the share of
	// host memory, RSSBytes resident bytes.
	CPU      float64 `expr:"cpu"`
	Memory   float64 `expr:"memory"`
	RSSBytes float64 `expr:"rssBytes"`
	// Custom are a template's own queries' values (canary.custom.NAME).
	Custom map[string]float64 `expr:"custom"`
}

// Env is the environment conditions are compiled and run against.
type Env struct {
	Canary   Side `expr:"canary"`
	Baseline Side `expr:"baseline"`
}

// sideFields are Side's expression names, for error messages.
const sideFields = "errorRate, requests, errors, p50, p90, p99, mean (ms), cpu, memory, rssBytes, custom.NAME"

func newSide(s metrics.Sample, r Resources) Side {
	return Side{
		ErrorRate: s.ErrorRate(), Requests: s.Requests, Errors: s.Errors,
		P50: s.P50, P90: s.P90, P99: s.P99, Mean: s.Mean,
		CPU: r.CPU, Memory: r.Memory, RSSBytes: r.RSSBytes, Custom: s.Custom,
	}
}

// Aggregate is the verdict of an analysis from its metrics' results:
// Fail if any failed; else Error if any errored; else Inconclusive if any
// was inconclusive or there are none (never pass on no metrics); else
// Pass.
func Aggregate(results []Result) Verdict {
	if len(results) == 0 {
		return Inconclusive
	}
	seen := map[Verdict]bool{}
	for _, r := range results {
		seen[r.Verdict] = true
	}
	for _, v := range []Verdict{Fail, Error, Inconclusive} {
		if seen[v] {
			return v
		}
	}
	for _, r := range results {
		if r.Verdict != Pass {
			return Error // an unknown verdict is not a pass
		}
	}
	return Pass
}
