package analysis

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// Defaults of Metric's numeric fields.
const (
	DefaultAlpha    = 0.01
	DefaultMargin   = 0.25
	DefaultMinDelta = 1.0
	// DefaultMinRateDelta is 0.1 percentage points, the seed's "+0.1%".
	DefaultMinRateDelta = 0.001
	DefaultConfidence   = 0.98
	DefaultEffectSize   = 1.0
	// DefaultTolerance is Kayenta's MannWhitneyClassifier fraction.
	DefaultTolerance = 0.25
)

// Judge is a compiled Metric, ready to evaluate. It holds no state
// between evaluations and is safe for concurrent use.
type Judge struct {
	m       Metric // with defaults applied
	program *vm.Program
	fields  []string // "canary.p99", ... in the order they appear
	terms   []term   // the condition's numeric terms, innermost first
	usesB   bool     // the condition reads the baseline
}

// Compile checks m and compiles its condition once, so a spec can be
// validated before anything runs. Its errors say which field is wrong and
// what would be valid.
func Compile(m Metric) (*Judge, error) {
	m, err := withDefaults(m)
	if err != nil {
		return nil, err
	}
	j := &Judge{m: m}
	if m.Condition == "" {
		if m.Judge == JudgeThreshold {
			return nil, fmt.Errorf("metric %q: the threshold judge needs a condition, e.g. %q", m.Name, "canary.errorRate <= baseline.errorRate * 1.5 + 0.001")
		}
		return j, nil
	}
	j.program, err = expr.Compile(m.Condition, expr.Env(Env{}), expr.AsBool())
	if err != nil {
		return nil, fmt.Errorf("metric %q: condition %q: %w (conditions read canary.X and baseline.X, X one of %s)", m.Name, m.Condition, oneLine(err), sideFields)
	}
	j.fields = referenced(j.program.Node())
	j.terms = terms(j.program.Node())
	if !slices.ContainsFunc(j.fields, func(f string) bool { return strings.HasPrefix(f, "canary.") }) {
		return nil, fmt.Errorf("metric %q: condition %q never reads the canary: compare a canary field (%s) with a bound or the baseline", m.Name, m.Condition, sideFields)
	}
	j.usesB = slices.ContainsFunc(j.fields, func(f string) bool { return strings.HasPrefix(f, "baseline.") })
	return j, nil
}

func withDefaults(m Metric) (Metric, error) {
	if m.Name == "" {
		return m, errors.New("metric without a name: every metric needs one for its reasons")
	}
	if m.Judge == "" {
		m.Judge = JudgeThreshold
	}
	bad := func(field string, v any, valid string) (Metric, error) {
		return m, fmt.Errorf("metric %q: %s %v is invalid: want %s", m.Name, field, v, valid)
	}
	switch m.Judge {
	case JudgeThreshold:
	case JudgeSequential:
		m.On = orDefault(m.On, OnErrorRate)
		if m.On != OnErrorRate && m.On != OnLatency {
			return bad("on", strQ(m.On), "errorRate or latency")
		}
	case JudgeMannWhitney:
		m.On = orDefault(m.On, OnLatency)
		if m.On != OnLatency {
			return bad("on", strQ(m.On), "latency (the mann-whitney judge compares latency samples)")
		}
	default:
		return bad("judge", strQ(m.Judge), "threshold, sequential or mann-whitney")
	}
	m.Alpha = orDefaultF(m.Alpha, DefaultAlpha)
	if !(m.Alpha > 0 && m.Alpha < 1) {
		return bad("alpha", m.Alpha, "a probability between 0 and 1, such as 0.01")
	}
	switch {
	case m.MinDelta == 0:
		m.MinDelta = DefaultMinDelta
	case m.MinDelta < 0:
		m.MinDelta = 0 // no floor
	}
	switch {
	case m.MinRateDelta == 0:
		m.MinRateDelta = DefaultMinRateDelta
	case m.MinRateDelta < 0:
		m.MinRateDelta = 0 // no floor
	case !(m.MinRateDelta < 1):
		return bad("minRateDelta", m.MinRateDelta, "a difference of error rates below 1, such as 0.001 for 0.1 percentage points")
	}
	switch {
	case m.Margin == 0:
		m.Margin = DefaultMargin
	case m.Margin == NoMargin:
		m.Margin = 0
	case !(m.Margin > 0) || math.IsInf(m.Margin, 0):
		return bad("margin", m.Margin, "a relative worsening of 0 or more, such as 0.5 for 50%")
	}
	m.Confidence = orDefaultF(m.Confidence, DefaultConfidence)
	if !(m.Confidence > 0 && m.Confidence < 1) {
		return bad("confidence", m.Confidence, "between 0 and 1, such as 0.98")
	}
	switch {
	case m.Tolerance == 0:
		m.Tolerance = DefaultTolerance
	case m.Tolerance < 0:
		m.Tolerance = 0 // the plain p-value rule
	case !(m.Tolerance < 1):
		return bad("tolerance", m.Tolerance, "a fraction of the shift estimate below 1, such as 0.25")
	}
	m.Direction = orDefault(m.Direction, DirectionIncrease)
	if m.Direction != DirectionIncrease && m.Direction != DirectionDecrease && m.Direction != DirectionEither {
		return bad("direction", strQ(m.Direction), "increase, decrease or either")
	}
	m.EffectSize = orDefaultF(m.EffectSize, DefaultEffectSize)
	if !(m.EffectSize >= 1) || math.IsInf(m.EffectSize, 0) {
		return bad("effectSize", m.EffectSize, "a mean ratio of 1 or more, such as 1.2")
	}
	return m, nil
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func orDefaultF(f, def float64) float64 {
	if f == 0 {
		return def
	}
	return f
}

type strQ string

func (s strQ) String() string { return fmt.Sprintf("%q", string(s)) }

// fieldVisitor collects the canary.X and baseline.X a condition reads.
type fieldVisitor struct{ fields []string }

func (v *fieldVisitor) Visit(n *ast.Node) {
	m, ok := (*n).(*ast.MemberNode)
	if !ok {
		return
	}
	id, ok1 := m.Node.(*ast.IdentifierNode)
	p, ok2 := m.Property.(*ast.StringNode)
	if ok1 && ok2 && (id.Value == "canary" || id.Value == "baseline") {
		f := id.Value + "." + p.Value
		if !slices.Contains(v.fields, f) {
			v.fields = append(v.fields, f)
		}
	}
}

func referenced(n ast.Node) []string {
	v := &fieldVisitor{}
	ast.Walk(&n, v)
	return v.fields
}

// Metric returns the judge's metric with its defaults applied (Margin is
// the margin in use: 0 for NoMargin).
func (j *Judge) Metric() Metric { return j.m }

// Fields returns the fields the condition reads, such as "canary.cpu",
// so a caller can tell whether its platform measures them.
func (j *Judge) Fields() []string { return slices.Clone(j.fields) }

// AnytimeValid reports whether the judge's Fail may be taken at every
// check without inflating false failures: true for the sequential judge.
// The threshold and Mann-Whitney judges are fixed-horizon: each look at
// growing data is another chance of a false Fail (see the package doc).
func (j *Judge) AnytimeValid() bool { return j.m.Judge == JudgeSequential }

// Evaluate judges the canary against the baseline. It never passes with
// fewer than in.MinRequests canary requests (nor baseline requests, when
// the judge compares with the baseline); only the sequential judge fails
// below it.
func (j *Judge) Evaluate(in Input) Result {
	if err := checkInput(in); err != nil {
		return j.result(Error, nil, "%v", err)
	}
	switch j.m.Judge {
	case JudgeSequential:
		return j.sequential(in)
	case JudgeMannWhitney:
		return j.mannWhitney(in)
	}
	return j.threshold(in)
}

func (j *Judge) threshold(in Input) Result {
	nums := j.base(in)
	if r, short := j.tooLittle(in, j.usesB, nums); short {
		return r
	}
	ok, undefined, err := j.condition(in, nums)
	switch {
	case err != nil:
		return j.result(Error, nums, "%v", err)
	case undefined != "":
		return j.undefinedResult(nums, undefined, in)
	case !ok:
		return j.result(Fail, nums, "%s is false with %s (canary %d requests)", j.cond(), j.values(nums), in.Canary.Requests)
	}
	return j.result(Pass, nums, "%s holds with %s (canary %d requests)", j.cond(), j.values(nums), in.Canary.Requests)
}

// tooLittle returns Inconclusive when the canary (and, with baseline, the
// baseline) has fewer than MinRequests requests, or none.
func (j *Judge) tooLittle(in Input, baseline bool, nums map[string]float64) (Result, bool) {
	need := max(in.MinRequests, 1) // never pass on no data, whatever the minimum
	if in.Canary.Requests < need {
		return j.result(Inconclusive, nums, "too little data: %d of %d canary requests", in.Canary.Requests, need), true
	}
	if baseline && in.Baseline.Requests < need {
		return j.result(Inconclusive, nums, "too little data: %d of %d baseline requests", in.Baseline.Requests, need), true
	}
	return Result{}, false
}

// condition runs the condition, true without one, and records the fields
// it read into nums. undefined names the first of its terms, innermost
// first, that is NaN or ±Inf ("canary.errorRate / baseline.errorRate is
// NaN"): a comparison with it is false whatever the canary does, so the
// condition says nothing, neither Pass nor Fail.
func (j *Judge) condition(in Input, nums map[string]float64) (ok bool, undefined string, err error) {
	if j.program == nil {
		return true, "", nil
	}
	env := Env{Canary: newSide(in.Canary, in.CanaryRes), Baseline: newSide(in.Baseline, in.BaselineRes)}
	for _, f := range j.fields {
		if v, ok := env.field(f); ok {
			nums[f] = v
		}
	}
	if u := undefinedTerm(j.terms, env); u != "" {
		return false, u, nil
	}
	out, err := expr.Run(j.program, env)
	if err != nil {
		return false, "", fmt.Errorf("condition %q failed: %w", j.m.Condition, oneLine(err))
	}
	b, ok := out.(bool)
	if !ok {
		return false, "", fmt.Errorf("condition %q gave %T, not a bool", j.m.Condition, out)
	}
	return b, "", nil
}

// undefinedResult is the Inconclusive result of a condition with an
// undefined term.
func (j *Judge) undefinedResult(nums map[string]float64, undefined string, in Input) Result {
	return j.result(Inconclusive, nums, "%s is undefined: %s with %s (canary %d requests)",
		j.cond(), undefined, j.values(nums), in.Canary.Requests)
}

// exprError is an expr error on one line, for reasons and spec errors:
// "unknown name canari at column 1" without the source snippet.
type exprError struct{ err *file.Error }

func (e exprError) Error() string {
	msg := strings.Replace(e.err.Message, "type analysis.Side has", "canary and baseline have", 1)
	return fmt.Sprintf("%s at column %d", msg, e.err.Column+1)
}

func (e exprError) Unwrap() error { return e.err }

func oneLine(err error) error {
	if fe, ok := errors.AsType[*file.Error](err); ok {
		return exprError{fe}
	}
	return err
}

func (e Env) field(name string) (float64, bool) {
	side, f, _ := strings.Cut(name, ".")
	s := e.Canary
	if side == "baseline" {
		s = e.Baseline
	}
	switch f {
	case "errorRate":
		return s.ErrorRate, true
	case "requests":
		return float64(s.Requests), true
	case "errors":
		return float64(s.Errors), true
	case "p50":
		return s.P50, true
	case "p90":
		return s.P90, true
	case "p99":
		return s.P99, true
	case "mean":
		return s.Mean, true
	case "cpu":
		return s.CPU, true
	case "memory":
		return s.Memory, true
	case "rssBytes":
		return s.RSSBytes, true
	}
	return 0, false
}

// base returns the numbers every result carries: both sides' counts and
// the minimum.
func (j *Judge) base(in Input) map[string]float64 {
	return map[string]float64{
		"canary.requests":   float64(in.Canary.Requests),
		"canary.errors":     float64(in.Canary.Errors),
		"baseline.requests": float64(in.Baseline.Requests),
		"baseline.errors":   float64(in.Baseline.Errors),
		"minRequests":       float64(in.MinRequests),
	}
}

func (j *Judge) cond() string { return fmt.Sprintf("condition %q", j.m.Condition) }

// values formats the fields the condition read: "canary.p99=250, baseline.p99=120".
func (j *Judge) values(nums map[string]float64) string {
	parts := make([]string, 0, len(j.fields))
	for _, f := range j.fields {
		parts = append(parts, f+"="+num(nums[f]))
	}
	return strings.Join(parts, ", ")
}

func (j *Judge) result(v Verdict, nums map[string]float64, format string, args ...any) Result {
	for k, x := range nums {
		nums[k] = finite(x)
	}
	return Result{
		Metric:  j.m.Name,
		Verdict: v,
		Reason:  j.m.Name + ": " + string(v) + ": " + fmt.Sprintf(format, args...),
		Numbers: nums,
	}
}

// checkInput rejects counts and latency samples that cannot be judged.
// A NaN or infinite p99, cpu or custom value is not an error of the
// input (a Prometheus quantile over no requests is NaN): a condition
// that reads it is undefined, and Inconclusive.
func checkInput(in Input) error {
	sides := []struct {
		name string
		s    metrics.Sample
		r    Resources
	}{{"canary", in.Canary, in.CanaryRes}, {"baseline", in.Baseline, in.BaselineRes},
		{"baseline before", metrics.Sample{Requests: in.Before.Requests, Errors: in.Before.Errors}, Resources{}}}
	for _, sd := range sides {
		s := sd.s
		if s.Requests < 0 || s.Errors < 0 || s.Errors > s.Requests {
			return fmt.Errorf("bad %s counts: %d errors of %d requests", sd.name, s.Errors, s.Requests)
		}
		for _, v := range s.Latencies {
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return fmt.Errorf("bad %s measurement: a latency sample is %v", sd.name, v)
			}
		}
	}
	return nil
}

// finite clamps ±Inf to ±MaxFloat64 and NaN to 0 so Numbers encode as JSON.
func finite(x float64) float64 {
	switch {
	case math.IsNaN(x):
		return 0
	case math.IsInf(x, 1):
		return math.MaxFloat64
	case math.IsInf(x, -1):
		return -math.MaxFloat64
	}
	return x
}

// num formats a number for a reason: three significant digits, exponents
// without padding (4.1e5).
func num(x float64) string {
	if x == math.Trunc(x) && math.Abs(x) < 1e6 {
		return fmt.Sprintf("%.0f", x)
	}
	s := fmt.Sprintf("%.3g", x)
	if strings.Contains(s, "e") {
		s = fmt.Sprintf("%.2g", x)
		s = strings.NewReplacer("e+0", "e", "e+", "e", "e-0", "e-").Replace(s)
	}
	return s
}

// pct formats a rate as a percentage: 30.0%, 1.50%, 0.15%.
func pct(r float64) string {
	p := 100 * r
	switch {
	case p == 0:
		return "0%"
	case p >= 10:
		return fmt.Sprintf("%.1f%%", p)
	case p >= 1:
		return fmt.Sprintf("%.2f%%", p)
	}
	return fmt.Sprintf("%.2g%%", p)
}
