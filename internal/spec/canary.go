package spec

import (
	"slices"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
)

// DefaultTemplate is the name of the analysis template that exists
// without being declared.
const DefaultTemplate = "default"

// defaultWeights are the canary's steps when none are given.
var defaultWeights = []int{1, 5, 10, 25, 50}

// Baselines of a canary.
const (
	BaselineStable    = "stable"
	BaselineDedicated = "dedicated"
)

// Judges and what they measure.
const (
	JudgeThreshold   = "threshold"
	JudgeSequential  = "sequential"
	JudgeMannWhitney = "mann-whitney"
	OnErrorRate      = "errorRate"
	OnLatency        = "latency"
)

// seedTemplate is the seed's rules (error rate above baseline × 1.5, p99
// above baseline × 1.2, CPU or memory above 90%) with judges that know
// when they have too little data: analysis.Seed.
func seedTemplate() AnalysisTemplate {
	t := AnalysisTemplate{MinRequests: analysis.SeedMinRequests}
	for _, m := range analysis.Seed() {
		t.Metrics = append(t.Metrics, fromAnalysis(m))
	}
	return t
}

// fromAnalysis is the inverse of AnalysisMetric.Analysis.
func fromAnalysis(m analysis.Metric) AnalysisMetric {
	out := AnalysisMetric{Name: m.Name, Judge: m.Judge, Condition: m.Condition, On: m.On, Direction: m.Direction}
	for _, f := range []struct {
		dst **float64
		v   float64
	}{{&out.Alpha, m.Alpha}, {&out.Margin, m.Margin}, {&out.Confidence, m.Confidence}, {&out.EffectSize, m.EffectSize}, {&out.MinDelta, m.MinDelta},
		{&out.MinRateDelta, m.MinRateDelta}, {&out.Tolerance, m.Tolerance}} {
		if f.v != 0 {
			*f.dst = new(f.v)
		}
	}
	return out
}

func (c *Config) applyAnalysisDefaults(d defaulter) {
	if c.Analysis == nil {
		c.Analysis = map[string]AnalysisTemplate{}
	}
	if _, ok := c.Analysis[DefaultTemplate]; !ok {
		c.Analysis[DefaultTemplate] = seedTemplate()
	}
	if _, ok := c.Analysis[PrometheusTemplate]; !ok && c.Prometheus != nil {
		c.Analysis[PrometheusTemplate] = prometheusTemplate()
	}
	for _, name := range slices.Sorted(mapsKeys(c.Analysis)) {
		t := c.Analysis[name]
		t.applyDefaults(d, joinPath("analysis", name))
		c.Analysis[name] = t
	}
}

func (t *AnalysisTemplate) applyDefaults(d defaulter, path string) {
	d.duration(&t.Interval, path+".interval", 5*time.Second)
	d.int(&t.MinRequests, path+".minRequests", 100)
	d.int(&t.ConsecutiveErrorLimit, path+".consecutiveErrorLimit", 4)
	defaultString(&t.OnInconclusive, "pause")
	for i := range t.Metrics {
		t.Metrics[i].applyDefaults()
		t.Metrics[i].applyProviderDefaults(d, indexPath(path+".metrics", i))
	}
	if t.Load != nil {
		defaultString(&t.Load.Path, "/")
		defaultString(&t.Load.Method, "GET")
	}
}

func (m *AnalysisMetric) applyDefaults() {
	defaultString(&m.Judge, JudgeThreshold)
	switch m.Judge {
	case JudgeSequential:
		defaultString(&m.On, OnErrorRate)
	case JudgeMannWhitney:
		defaultString(&m.On, OnLatency)
	}
	defaultFloat(&m.Alpha, 0.01)
	defaultFloat(&m.Margin, analysis.DefaultMargin)
	defaultFloat(&m.Confidence, 0.98)
	defaultString(&m.Direction, "increase")
	defaultFloat(&m.EffectSize, 1.0)
	defaultFloat(&m.MinDelta, analysis.DefaultMinDelta)
	defaultFloat(&m.MinRateDelta, analysis.DefaultMinRateDelta)
	defaultFloat(&m.Tolerance, analysis.DefaultTolerance)
}

func defaultFloat(f **float64, v float64) {
	if *f == nil {
		*f = new(v)
	}
}

func (k *Canary) applyDefaults(d defaulter, path string) {
	defaultString(&k.Analysis, DefaultTemplate)
	defaultString(&k.Baseline, BaselineStable)
	d.duration(&k.ProgressDeadline, path+".progressDeadline", 10*time.Minute)
	defaultString(&k.OnProgressDeadline, "abort")
	d.duration(&k.StepAnalysisDuration, path+".stepAnalysisDuration", time.Minute)
	d.duration(&k.ScaleDownDelay, path+".scaleDownDelay", 30*time.Second)
	d.duration(&k.AbortScaleDownDelay, path+".abortScaleDownDelay", 30*time.Second)
	if len(k.Steps) == 0 && !d.set(path+".steps") {
		k.Steps = defaultSteps(k.Analysis, k.StepAnalysisDuration)
	}
	for i := range k.Steps {
		st := &k.Steps[i]
		if st.Analysis != nil {
			defaultString(&st.Analysis.Template, k.Analysis)
		}
		for j := range st.Checks {
			st.Checks[j].applyDefaults(d, indexPath(indexPath(path+".steps", i)+".checks", j))
		}
	}
}

// defaultSteps are 1, 5, 10, 25, 50 with an analysis after each, then 100.
func defaultSteps(template string, analysis Duration) []CanaryStep {
	var steps []CanaryStep
	for _, w := range defaultWeights {
		steps = append(steps, CanaryStep{SetWeight: new(w)},
			CanaryStep{Analysis: &StepAnalysis{Template: template, Duration: analysis}})
	}
	return append(steps, CanaryStep{SetWeight: new(100)})
}

func mapsKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
