package spec

import (
	"fmt"
	"maps"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
	"github.com/bluejay-deploy/bluejay/internal/metrics/web"
)

// MetricProvider measures a metric by itself: exactly one of Web, Job
// and Prometheus.
type MetricProvider struct {
	// Web asks an HTTP endpoint for a JSON document. Default none.
	Web *WebMetric `yaml:"web"`
	// Job runs a command: exit 0 passes, any other exit fails. Default
	// none.
	Job *JobMetric `yaml:"job"`
	// Prometheus evaluates a query in the configured Prometheus (the
	// top-level prometheus: block). Default none.
	Prometheus *PrometheusMetric `yaml:"prometheus"`
}

// WebMetric is an HTTP endpoint whose JSON answer holds the result.
type WebMetric struct {
	// URL is an http or https URL. Required.
	URL string `yaml:"url"`
	// Method is the HTTP method. Default GET.
	Method string `yaml:"method"`
	// Headers are set on the request. Default none.
	Headers map[string]string `yaml:"headers"`
	// Body is the request's body. Default empty.
	Body string `yaml:"body"`
	// JSONPath picks the result out of the answer, such as $.data.value;
	// it must match exactly one value. Default "": the whole document.
	JSONPath string `yaml:"jsonPath"`
	// Timeout bounds the request. Default 10s.
	Timeout Duration `yaml:"timeout"`
}

// JobMetric is a command judged by its exit status; its output is kept
// in the decision log, trimmed.
type JobMetric struct {
	// Command is the program and its arguments, run without a shell.
	// Required.
	Command []string `yaml:"command"`
	// Env is added to bluejay's environment. Default none.
	Env map[string]string `yaml:"env"`
	// Timeout bounds a run; a run past it fails. Default 1m.
	Timeout Duration `yaml:"timeout"`
}

// PrometheusMetric is one PromQL query whose value is the result.
type PrometheusMetric struct {
	// Query must give a scalar or an instant vector of one series (no
	// series is an Error, never a pass: add `or vector(0)` where none
	// means 0). Required.
	Query string `yaml:"query"`
}

// TemplateArg is a parameter of an analysis template.
type TemplateArg struct {
	// Name is written {{args.NAME}}. Required: letters, digits, _ and -.
	Name string `yaml:"name"`
	// Value is used when a step gives none. Default none: every step
	// using the template (and a background analysis, which takes no
	// args) must give it.
	Value *string `yaml:"value"`
}

// DryRunMetric names a metric of the template that never decides.
type DryRunMetric struct {
	// MetricName is the metric's name. Required.
	MetricName string `yaml:"metricName"`
}

// web is p's web metric, nil if none (or no p).
func (p *MetricProvider) web() *WebMetric {
	if p == nil {
		return nil
	}
	return p.Web
}

// BuiltinArgs are args every template has, set by the controller for
// each run: the service's name, the canary's version and its baseline's.
var BuiltinArgs = []string{"service", "canary", "baseline"}

// argRef matches {{args.NAME}}.
var argRef = regexp.MustCompile(`\{\{\s*args\.([A-Za-z0-9_-]+)\s*\}\}`)

var argName = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)

// IsDryRun reports whether the template names metric in DryRun.
func (t AnalysisTemplate) IsDryRun(metric string) bool {
	return slices.ContainsFunc(t.DryRun, func(d DryRunMetric) bool { return d.MetricName == metric })
}

// WithArgs returns the template with {{args.NAME}} in its metrics'
// providers and conditions replaced: by given[NAME], else the arg's own
// value. An arg with neither is an error (validation refuses it first).
// BuiltinArgs are taken from given too.
func (t AnalysisTemplate) WithArgs(given map[string]string) (AnalysisTemplate, error) {
	values := map[string]string{}
	for _, name := range BuiltinArgs {
		if v, ok := given[name]; ok {
			values[name] = v
		}
	}
	for _, a := range t.Args {
		if v, ok := given[a.Name]; ok {
			values[a.Name] = v
		} else if a.Value != nil {
			values[a.Name] = *a.Value
		}
	}
	var missing []string
	sub := func(s string) string {
		return argRef.ReplaceAllStringFunc(s, func(m string) string {
			name := argRef.FindStringSubmatch(m)[1]
			v, ok := values[name]
			if !ok {
				missing = append(missing, name)
			}
			return v
		})
	}
	out := t
	out.Metrics = slices.Clone(t.Metrics)
	for i := range out.Metrics {
		out.Metrics[i] = out.Metrics[i].mapStrings(sub)
	}
	if len(missing) > 0 {
		slices.Sort(missing)
		return t, fmt.Errorf("no value for args %s", strings.Join(slices.Compact(missing), ", "))
	}
	return out, nil
}

// mapStrings returns m with f applied to every string a provider metric
// may parameterize, on copies of its provider.
func (m AnalysisMetric) mapStrings(f func(string) string) AnalysisMetric {
	m.SuccessCondition, m.FailureCondition = f(m.SuccessCondition), f(m.FailureCondition)
	if m.Provider == nil {
		return m
	}
	p := *m.Provider
	if w := p.Web; w != nil {
		c := *w
		c.URL, c.Body, c.JSONPath = f(w.URL), f(w.Body), f(w.JSONPath)
		c.Headers = mapValues(w.Headers, f)
		p.Web = &c
	}
	if j := p.Job; j != nil {
		c := *j
		c.Command = make([]string, len(j.Command))
		for i, s := range j.Command {
			c.Command[i] = f(s)
		}
		c.Env = mapValues(j.Env, f)
		p.Job = &c
	}
	if q := p.Prometheus; q != nil {
		p.Prometheus = &PrometheusMetric{Query: f(q.Query)}
	}
	m.Provider = &p
	return m
}

func mapValues(m map[string]string, f func(string) string) map[string]string {
	if m == nil {
		return nil
	}
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = f(v)
	}
	return out
}

func (m *AnalysisMetric) applyProviderDefaults(d defaulter, path string) {
	d.int(&m.ConsecutiveErrorLimit, path+".consecutiveErrorLimit", 4)
	if m.Provider == nil {
		return
	}
	if w := m.Provider.Web; w != nil {
		defaultString(&w.Method, "GET")
		d.duration(&w.Timeout, path+".provider.web.timeout", 10*time.Second)
	}
	if j := m.Provider.Job; j != nil {
		d.duration(&j.Timeout, path+".provider.job.timeout", time.Minute)
	}
}

// providerMetric checks a metric measured by a provider.
func (c *checker) providerMetric(m *AnalysisMetric, args map[string]bool, path string) {
	p, pp := m.Provider, path+".provider"
	n := 0
	for _, b := range []bool{p.Web != nil, p.Job != nil, p.Prometheus != nil} {
		if b {
			n++
		}
	}
	if n != 1 {
		c.add(pp, "a provider is exactly one of web, job and prometheus, got %d", n)
		return
	}
	if m.Condition != "" {
		c.add(path+".condition", "a provider metric is judged by successCondition and failureCondition over result, not condition (which compares canary with baseline)")
	}
	c.atLeast(m.Count, 0, path+".count")
	c.atLeast(m.FailureLimit, 0, path+".failureLimit")
	c.atLeast(m.InconclusiveLimit, 0, path+".inconclusiveLimit")
	c.atLeast(m.ConsecutiveErrorLimit, 0, path+".consecutiveErrorLimit")
	c.argRefs(m, args, path)
	blank := m.mapStrings(func(s string) string { return argRef.ReplaceAllString(s, "1") })
	switch {
	case p.Web != nil:
		c.webMetric(blank.Provider.Web, p.Web.URL, pp+".web")
	case p.Job != nil:
		if len(p.Job.Command) == 0 || p.Job.Command[0] == "" {
			c.add(pp+".job.command", "a job needs a command, such as [./check.sh, --strict]")
		}
		if m.SuccessCondition != "" || m.FailureCondition != "" {
			c.add(path+".successCondition", "a job is judged by its exit status (0 passes): leave out successCondition and failureCondition")
		}
		for _, k := range slices.Sorted(mapsKeys(p.Job.Env)) {
			if k == "" || strings.ContainsAny(k, "=\x00") {
				c.add(joinPath(pp+".job.env", k), "invalid environment variable name %q", k)
			}
		}
	case p.Prometheus != nil:
		if strings.TrimSpace(p.Prometheus.Query) == "" {
			c.add(pp+".prometheus.query", "a query is required, such as sum(rate(http_requests_total{code=~\"5..\"}[1m]))")
		}
		if !c.promConfigured {
			c.add(pp+".prometheus", "provider prometheus needs the top-level prometheus: block (its address)")
		}
	}
	if p.Job != nil {
		return
	}
	if m.SuccessCondition == "" && m.FailureCondition == "" {
		c.add(path, "a provider metric needs successCondition or failureCondition over result, such as result < 0.01 (a job needs neither)")
	}
	for _, f := range []struct{ text, field string }{{blank.SuccessCondition, "successCondition"}, {blank.FailureCondition, "failureCondition"}} {
		if f.text == "" {
			continue
		}
		cond := [2]string{f.text, ""}
		if f.field == "failureCondition" {
			cond = [2]string{"", f.text}
		}
		if _, err := analysis.CompileResult(m.Name, cond[0], cond[1]); err != nil {
			c.add(path+"."+f.field, "%v", err)
		}
	}
}

func (c *checker) webMetric(w *WebMetric, raw, path string) {
	if !argRef.MatchString(raw) && !webURL(w.URL) { // with args, checked where they are given
		c.add(path+".url", "invalid url %q: want an http or https URL, such as http://127.0.0.1:9090/api/score", w.URL)
	}
	if !isToken(w.Method) {
		c.add(path+".method", "invalid method %q", w.Method)
	}
	for _, k := range slices.Sorted(mapsKeys(w.Headers)) {
		if !isToken(k) {
			c.add(joinPath(path+".headers", k), "invalid header name %q", k)
		} else if !httpguts.ValidHeaderFieldValue(w.Headers[k]) {
			c.add(joinPath(path+".headers", k), "invalid value for header %s: no control characters such as a newline", k)
		}
	}
	if w.JSONPath != "" {
		if _, err := web.Compile(w.JSONPath); err != nil {
			c.add(path+".jsonPath", "%v", err)
		}
	}
	c.positive(w.Timeout, path+".timeout", "10s")
}

func webURL(s string) bool {
	u, err := url.Parse(s)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// argRefs refuses {{args.NAME}} for a NAME the template does not declare.
func (c *checker) argRefs(m *AnalysisMetric, args map[string]bool, path string) {
	var bad []string
	m.mapStrings(func(s string) string {
		for _, r := range argRef.FindAllStringSubmatch(s, -1) {
			if !args[r[1]] {
				bad = append(bad, r[1])
			}
		}
		return s
	})
	slices.Sort(bad)
	for _, name := range slices.Compact(bad) {
		c.add(path, "{{args.%s}}: no arg %q in the template's args (declared: %s)", name, name, strings.Join(slices.Sorted(mapsKeys(args)), ", "))
	}
}

// templateArgs checks a template's args and dryRun and returns the args'
// names.
func (c *checker) templateArgs(t *AnalysisTemplate, path string) map[string]bool {
	args := map[string]bool{}
	for i, a := range t.Args {
		ap := indexPath(path+".args", i) + ".name"
		switch {
		case !argName.MatchString(a.Name):
			c.add(ap, "invalid arg name %q: want letters, digits, _ and -, such as service-url", a.Name)
		case args[a.Name]:
			c.add(ap, "duplicate arg %q", a.Name)
		case slices.Contains(BuiltinArgs, a.Name):
			c.add(ap, "arg %q is built in (the run's %s): choose another name", a.Name, a.Name)
		}
		args[a.Name] = true
	}
	for i, d := range t.DryRun {
		if !slices.ContainsFunc(t.Metrics, func(m AnalysisMetric) bool { return m.Name == d.MetricName }) {
			c.add(indexPath(path+".dryRun", i)+".metricName", "no metric %q in the template (metrics: %s)", d.MetricName, strings.Join(metricNames(t.Metrics), ", "))
		}
	}
	for _, name := range BuiltinArgs {
		args[name] = true
	}
	return args
}

func metricNames(ms []AnalysisMetric) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Name)
	}
	return out
}

// stepArgs checks the args a use of template name gives (nil for the
// canary's background analysis): each must be declared, and each arg
// without a value given.
func (c *checker) stepArgs(name string, given map[string]string, templates map[string]AnalysisTemplate, path string) {
	t, ok := templates[name]
	if !ok {
		return
	}
	declared := map[string]bool{}
	for _, a := range t.Args {
		if declared[a.Name] {
			continue
		}
		declared[a.Name] = true
		if _, ok := given[a.Name]; !ok && a.Value == nil {
			c.add(path, "analysis template %q needs a value for arg %q (give it here with args: {%s: ...}, or a value in the template)", name, a.Name, a.Name)
		}
	}
	msgs, ok := c.metricsWithArgs(name, t, given)
	if !ok {
		return
	}
	for _, msg := range msgs {
		c.add(path, "%s", msg)
	}
	for _, k := range slices.Sorted(mapsKeys(given)) {
		if slices.Contains(BuiltinArgs, k) {
			c.add(joinPath(path+".args", k), "arg %q is built in (the run's %s): it cannot be given", k, k)
		} else if !declared[k] {
			c.add(joinPath(path+".args", k), "analysis template %q has no arg %q (args: %s)", name, k, strings.Join(slices.Sorted(mapsKeys(declared)), ", "))
		}
	}
}

// metricsWithArgs checks the template's metrics with the step's args
// substituted, and returns the problems. Steps that give no args, such
// as the default canary steps every service has, ask the same question
// of a template: its answer is computed once (a service's share of
// parsing 10,000 services was mostly these substitutions). ok is false
// when the args do not fill the template (reported on their own).
func (c *checker) metricsWithArgs(name string, t AnalysisTemplate, given map[string]string) (msgs []string, ok bool) {
	if len(given) == 0 {
		if r, done := c.noArgs[name]; done {
			return r.msgs, r.ok
		}
	}
	probe := maps.Clone(given)
	if probe == nil {
		probe = map[string]string{}
	}
	for _, name := range BuiltinArgs {
		probe[name] = "v1" // a version label or a service name, for the checks below
	}
	withArgs, err := t.WithArgs(probe)
	if ok = err == nil; ok {
		for _, m := range withArgs.Metrics {
			if w := m.Provider.web(); w != nil && !webURL(w.URL) {
				msgs = append(msgs, fmt.Sprintf("metric %s: the url with these args is %q: want an http or https URL", m.Name, w.URL))
			}
			if m.Provider != nil && m.Provider.Job == nil && (m.SuccessCondition != "" || m.FailureCondition != "") {
				if _, err := analysis.CompileResult(m.Name, m.SuccessCondition, m.FailureCondition); err != nil {
					msgs = append(msgs, fmt.Sprintf("with these args: %v", err))
				}
			}
		}
	}
	if len(given) == 0 {
		if c.noArgs == nil {
			c.noArgs = map[string]argsCheck{}
		}
		c.noArgs[name] = argsCheck{msgs, ok}
	}
	return msgs, ok
}

// argsCheck is a remembered answer of metricsWithArgs.
type argsCheck struct {
	msgs []string
	ok   bool
}
