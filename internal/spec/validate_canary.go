package spec

import (
	"regexp"
	"slices"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
)

// canary checks a canary service's steps against the templates.
func (c *checker) canary(k *Canary, templates map[string]AnalysisTemplate, path string) {
	c.templateRef(k.Analysis, templates, path+".analysis")
	c.stepArgs(k.Analysis, nil, templates, path+".analysis") // the background analysis takes no args
	c.positive(k.ProgressDeadline, path+".progressDeadline", "10m")
	if k.OnProgressDeadline != "abort" && k.OnProgressDeadline != "pause" {
		c.add(path+".onProgressDeadline", "unknown onProgressDeadline %q (valid: abort, pause)", k.OnProgressDeadline)
	}
	if k.Baseline != BaselineStable && k.Baseline != BaselineDedicated {
		c.add(path+".baseline", "unknown baseline %q (valid: stable, dedicated)", k.Baseline)
	}
	if len(k.Steps) == 0 {
		c.add(path+".steps", "at least one step is required (leave steps out for the default 1, 5, 10, 25, 50, 100)")
	}
	last := -1
	for i := range k.Steps {
		c.step(&k.Steps[i], templates, indexPath(path+".steps", i))
		if w := k.Steps[i].SetWeight; w != nil && *w >= 0 && *w <= 100 {
			if *w < last {
				c.warn(indexPath(path+".steps", i)+".setWeight", "setWeight %d is below the step before (%d): "+
					"the canary's share of traffic goes down here", *w, last)
			}
			last = *w
		}
	}
	if last >= 0 && last < 100 {
		c.warn(path+".steps", "the steps never reach setWeight 100 (the last is %d): after the last step the rollout "+
			"completes and the new version takes all traffic at once", last)
	}
}

func (c *checker) step(s *CanaryStep, templates map[string]AnalysisTemplate, path string) {
	set := 0
	for _, b := range []bool{s.SetWeight != nil, s.Pause != nil, s.Analysis != nil, s.Checks != nil, s.SetHeaderRoute != nil, s.SetMirrorRoute != nil} {
		if b {
			set++
		}
	}
	if set != 1 {
		c.add(path, "a step has exactly one of setWeight, pause, analysis, checks, setHeaderRoute and setMirrorRoute, got %d", set)
		return
	}
	switch {
	case s.SetWeight != nil && (*s.SetWeight < 0 || *s.SetWeight > 100):
		c.add(path+".setWeight", "setWeight must be from 0 to 100 (a percentage of traffic), got %d", *s.SetWeight)
	case s.Analysis != nil:
		c.templateRef(s.Analysis.Template, templates, path+".analysis.template")
		c.stepArgs(s.Analysis.Template, s.Analysis.Args, templates, path+".analysis")
	case s.SetMirrorRoute != nil && (s.SetMirrorRoute.Percent < 1 || s.SetMirrorRoute.Percent > 100):
		c.add(path+".setMirrorRoute.percent", "percent must be from 1 to 100, got %d", s.SetMirrorRoute.Percent)
	case s.SetHeaderRoute != nil:
		c.headerRoute(s.SetHeaderRoute, path+".setHeaderRoute")
	case s.Checks != nil:
		if len(s.Checks) == 0 {
			c.add(path+".checks", "checks needs at least one smoke test, such as {path: /, expectStatus: 200}")
		}
		for i := range s.Checks {
			c.smoke(&s.Checks[i], indexPath(path+".checks", i))
		}
	}
}

// templateRef refuses a reference to a template that does not exist.
func (c *checker) templateRef(name string, templates map[string]AnalysisTemplate, path string) {
	if _, ok := templates[name]; !ok {
		c.add(path, "unknown analysis template %q (defined: %s)", name, strings.Join(slices.Sorted(mapsKeys(templates)), ", "))
	}
}

// analysisTemplates checks every template and its metrics.
func (c *checker) analysisTemplates(ts map[string]AnalysisTemplate) {
	for _, name := range slices.Sorted(mapsKeys(ts)) {
		t := ts[name]
		c.analysisTemplate(&t, joinPath("analysis", name))
	}
}

func (c *checker) analysisTemplate(t *AnalysisTemplate, path string) {
	c.positive(t.Interval, path+".interval", "5s")
	c.atLeast(t.MinRequests, 1, path+".minRequests")
	c.atLeast(t.FailureLimit, 0, path+".failureLimit")
	c.atLeast(t.ConsecutiveErrorLimit, 0, path+".consecutiveErrorLimit")
	c.atLeast(t.InconclusiveLimit, 0, path+".inconclusiveLimit")
	if t.OnInconclusive != "pause" && t.OnInconclusive != "abort" {
		c.add(path+".onInconclusive", "unknown onInconclusive %q (valid: pause, abort)", t.OnInconclusive)
	}
	if l := t.Load; l != nil {
		if !(l.RPS > 0 && l.RPS <= 10000) {
			c.add(path+".load.rps", "rps must be more than 0 and at most 10000, such as 50, got %s", formatFloat(l.RPS))
		}
		if !strings.HasPrefix(l.Path, "/") {
			c.add(path+".load.path", "invalid path %q: want a path starting with '/'", l.Path)
		}
	}
	if len(t.Metrics) == 0 {
		c.add(path+".metrics", "at least one metric is required, such as {name: error-rate, judge: sequential}")
	}
	c.queries(t, path)
	args := c.templateArgs(t, path)
	names := map[string]bool{}
	for i := range t.Metrics {
		m, mp := &t.Metrics[i], indexPath(path+".metrics", i)
		if names[m.Name] {
			c.add(mp+".name", "duplicate metric name %q", m.Name)
		}
		names[m.Name] = true
		c.metric(m, args, mp)
	}
}

func (c *checker) metric(m *AnalysisMetric, args map[string]bool, path string) {
	if m.Name == "" {
		c.add(path+".name", "a metric name is required, such as error-rate")
	}
	if m.Provider != nil {
		c.providerMetric(m, args, path)
		return
	}
	for _, f := range []struct {
		set  bool
		name string
	}{{m.SuccessCondition != "", "successCondition"}, {m.FailureCondition != "", "failureCondition"}, {m.Count != 0, "count"},
		{m.Interval != 0, "interval"}, {m.InitialDelay != 0, "initialDelay"}, {m.FailureLimit != 0, "failureLimit"}, {m.InconclusiveLimit != 0, "inconclusiveLimit"}} {
		if f.set {
			c.add(path+"."+f.name, "%s applies to a provider metric (web, job, prometheus) only; a comparison of canary with baseline is judged by condition and the template's limits", f.name)
		}
	}
	switch m.Judge {
	case JudgeThreshold:
		if m.Condition == "" {
			c.add(path+".condition", "a threshold judge needs a condition, such as canary.errorRate <= baseline.errorRate * 1.5 + 0.001")
		}
	case JudgeSequential, JudgeMannWhitney:
	default:
		c.add(path+".judge", "unknown judge %q (valid: threshold, sequential, mann-whitney)", m.Judge)
	}
	if m.On != "" && m.On != OnErrorRate && m.On != OnLatency {
		c.add(path+".on", "unknown measure %q (valid: errorRate, latency)", m.On)
	}
	if m.Judge == JudgeMannWhitney && m.On == OnErrorRate {
		c.add(path+".on", "mann-whitney judges latency; use sequential for errorRate")
	}
	c.share(*m.Alpha, path+".alpha", "0.01")
	c.share(*m.Confidence, path+".confidence", "0.98")
	if !(*m.Margin >= 0) {
		c.add(path+".margin", "margin must be 0 or more (0.5 tolerates a 50%% worse rate), got %s", formatFloat(*m.Margin))
	}
	if !(*m.EffectSize > 0) {
		c.add(path+".effectSize", "effectSize must be more than 0 (a mean ratio such as 1.2), got %s", formatFloat(*m.EffectSize))
	}
	if !(*m.MinDelta >= 0) {
		c.add(path+".minDelta", "minDelta must be 0 or more (ms; 0 means no floor), got %s", formatFloat(*m.MinDelta))
	}
	if !(*m.MinRateDelta >= 0 && *m.MinRateDelta < 1) {
		c.add(path+".minRateDelta", "minRateDelta must be 0 or more and below 1 (a difference of error rates: 0.001 is 0.1 percentage points; 0 means no floor), got %s", formatFloat(*m.MinRateDelta))
	}
	if !(*m.Tolerance >= 0 && *m.Tolerance < 1) {
		c.add(path+".tolerance", "tolerance must be 0 or more and below 1 (a fraction of the Hodges-Lehmann shift, such as 0.25; 0 is the plain p-value rule), got %s", formatFloat(*m.Tolerance))
	}
	if !slices.Contains([]string{"increase", "decrease", "either"}, m.Direction) {
		c.add(path+".direction", "unknown direction %q (valid: increase, decrease, either)", m.Direction)
	}
	// Only the condition is left for the compiler to judge: the other
	// fields were checked above, each at its own position.
	if m.Condition != "" {
		cond := AnalysisMetric{Name: m.Name, Judge: JudgeThreshold, Condition: m.Condition}
		if _, err := analysis.Compile(cond.Analysis()); err != nil {
			c.add(path+".condition", "%v", err)
		}
	}
}

// share refuses a probability outside (0, 1).
func (c *checker) share(v float64, path, example string) {
	if !(v > 0 && v < 1) {
		c.add(path, "must be between 0 and 1 exclusive, such as %s, got %s", example, formatFloat(v))
	}
}

// Analysis converts the metric to the analysis package's form, with its
// defaults applied (margin 0 means equal rates there).
func (m AnalysisMetric) Analysis() analysis.Metric {
	out := analysis.Metric{Name: m.Name, Judge: m.Judge, Condition: m.Condition, On: m.On, Direction: m.Direction}
	out.Alpha = deref(m.Alpha)
	out.Margin = deref(m.Margin)
	if m.Margin != nil && *m.Margin == 0 {
		out.Margin = analysis.NoMargin
	}
	out.Confidence = deref(m.Confidence)
	out.EffectSize = deref(m.EffectSize)
	out.MinDelta = deref(m.MinDelta)
	if m.MinDelta != nil && *m.MinDelta == 0 {
		out.MinDelta = -1 // no floor, in the analysis package's terms
	}
	out.Tolerance = deref(m.Tolerance)
	if m.Tolerance != nil && *m.Tolerance == 0 {
		out.Tolerance = -1 // the plain p-value rule
	}
	out.MinRateDelta = deref(m.MinRateDelta)
	if m.MinRateDelta != nil && *m.MinRateDelta == 0 {
		out.MinRateDelta = -1
	}
	return out
}

func deref(f *float64) float64 {
	if f == nil {
		return 0
	}
	return *f
}

// headerRoute checks a match on a header or a cookie.
func (c *checker) headerRoute(h *HeaderRoute, path string) {
	if (h.Header == "") == (h.Cookie == "") {
		c.add(path, "set exactly one of header and cookie, such as {header: X-Canary, exact: \"true\"}")
	}
	if h.Header != "" && !isToken(h.Header) {
		c.add(path+".header", "invalid header name %q", h.Header)
	}
	n := 0
	for _, v := range []string{h.Exact, h.Prefix, h.Regex} {
		if v != "" {
			n++
		}
	}
	if n != 1 {
		c.add(path, "set exactly one of exact, prefix and regex")
	}
	if h.Regex != "" {
		if _, err := regexp.Compile(h.Regex); err != nil {
			c.add(path+".regex", "invalid regex: %v", err)
		}
	}
}

// sticky checks a service's sticky key settings.
func (c *checker) sticky(st *Sticky, path string) {
	if st.Header != "" && !isToken(st.Header) {
		c.add(path+".header", "invalid header name %q", st.Header)
	}
	if st.Cookie != "" && !isToken(st.Cookie) {
		c.add(path+".cookie", "invalid cookie name %q", st.Cookie)
	}
	if *st.Generate && st.Cookie == "" {
		c.add(path+".generate", "generate needs a cookie to set the key in")
	}
	if !slices.Contains([]string{"lax", "strict", "none"}, st.SameSite) {
		c.add(path+".sameSite", "unknown sameSite %q (valid: lax, strict, none)", st.SameSite)
	}
}
