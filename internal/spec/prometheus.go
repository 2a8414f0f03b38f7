package spec

import (
	"bytes"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"text/template"
	"time"
)

// PrometheusTemplate is the ready-made analysis template over bluejay's
// own exposition (bluejay_requests_total, bluejay_request_duration_seconds),
// present when prometheus: is configured and no template of that name is
// declared: a fleet of bluejay proxies scraped by one Prometheus is judged
// as one.
const PrometheusTemplate = "prometheus"

// PrometheusConfig is the Prometheus server whose HTTP API analysis
// templates with queries read (internal/metrics/prometheus).
type PrometheusConfig struct {
	// Address is the server's base URL, e.g. http://127.0.0.1:9090.
	// Required.
	Address string `yaml:"address"`
	// Timeout bounds one query. Default 10s.
	Timeout Duration `yaml:"timeout"`
	// TargetsFile, when set, is a file_sd file (JSON) that bluejay keeps
	// listing every running instance, labelled service, version and
	// instance_id, so that a scrape job with `file_sd_configs` scrapes each
	// version's instances wherever the platform started them. Relative to
	// the config file. Default "": none written.
	TargetsFile string `yaml:"targetsFile"`
	// Counts are the queries of a version's cumulative requests and
	// errors, with {{.Service}} and {{.Version}}: under an external router
	// (router.nginx, router.haproxy) bluejay's proxy sees no traffic, and
	// these give the blast radius and blue-green's watch their numbers.
	// Default: the conventional http_requests_total of the instances
	// bluejay lists in TargetsFile (labels service, version; code); with
	// Fleet, bluejay's own bluejay_requests_total summed over every proxy.
	Counts PromCounts `yaml:"counts"`
	// Fleet says that several bluejay proxies share the users (a fleet
	// on store.etcd), each seeing a share of every version's traffic: the
	// counts behind the blast radius, blue-green's preview and watch, and
	// a canary's exposure then come from Prometheus scraping every
	// proxy's /metrics (Counts), not from this serve's proxy alone.
	// Latency windows for rank tests still come from this serve's proxy.
	// Builtin router only. Default false.
	Fleet bool `yaml:"fleet"`
}

// PromCounts are the two queries of PrometheusConfig.Counts.
type PromCounts struct {
	// Requests is the total of requests. Default
	// sum(http_requests_total{service="{{.Service}}",version="{{.Version}}"}).
	Requests string `yaml:"requests"`
	// Errors is the total of failed requests. Default the same with
	// code=~"5..", or vector(0).
	Errors string `yaml:"errors"`
}

// Default queries of PromCounts: over the instances' own metrics, or
// over bluejay's proxies' with Fleet.
const (
	defaultCountRequests      = `sum(http_requests_total{service="{{.Service}}",version="{{.Version}}"})`
	defaultCountErrors        = `sum(http_requests_total{service="{{.Service}}",version="{{.Version}}",code=~"5.."}) or vector(0)`
	defaultFleetCountRequests = `sum(bluejay_requests_total{service="{{.Service}}",version="{{.Version}}",code!="canceled"})`
	defaultFleetCountErrors   = `sum(bluejay_requests_total{service="{{.Service}}",version="{{.Version}}",code=~"5xx|error|grpc"}) or vector(0)`
)

// QueryData is what a query template is executed with.
type QueryData struct {
	// Service and Version name the side being measured.
	Service, Version string
	// Window is the time since the analysis began as a PromQL range
	// ("45s"), for rate() and increase().
	Window string
}

// queryFields are the fields a query fills in conditions; any other key
// is a custom field, canary.custom.NAME.
var queryFields = []string{"requests", "errors", "errorRate", "p50", "p90", "p99", "mean"}

// PromWindow formats d as a PromQL range: whole seconds, at least 1s.
func PromWindow(d time.Duration) string {
	s := int64((d + time.Second - 1) / time.Second)
	return fmt.Sprintf("%ds", max(s, 1))
}

// RenderQuery executes a query template.
func RenderQuery(query string, data QueryData) (string, error) { return render("query", query, data) }

// Render executes one of the config's Go templates (a query, a command
// argument, an image) with data; a field data lacks is an error.
func Render(text string, data any) (string, error) { return render("", text, data) }

// render is Render with the template's name, which errors quote.
func render(name, text string, data any) (string, error) {
	t, err := template.New(name).Option("missingkey=error").Parse(text)
	if err != nil {
		return "", err
	}
	var b bytes.Buffer
	if err := t.Execute(&b, data); err != nil {
		return "", err
	}
	return b.String(), nil
}

// prometheusTemplate is the ready-made template: the seed's rules on
// bluejay's own exposition. Zero or more failed requests read 0 errors
// (`or vector(0)`), while an absent requests series reads as no requests:
// Inconclusive, never Pass.
func prometheusTemplate() AnalysisTemplate {
	t := seedTemplate()
	// Rank and latency tests need per-request latencies, which a query
	// does not give: latency is judged on the p99 alone.
	t.Metrics = slices.DeleteFunc(t.Metrics, func(m AnalysisMetric) bool { return m.On == "latency" })
	t.Metrics = append(t.Metrics, AnalysisMetric{Name: "latency-p99", Judge: JudgeThreshold,
		Condition: "canary.p99 <= baseline.p99 * 1.2 + 5"})
	sel := `service="{{.Service}}",version="{{.Version}}"`
	t.Queries = map[string]string{
		"requests": `sum(increase(bluejay_requests_total{` + sel + `,code!="canceled"}[{{.Window}}]))`,
		"errors":   `sum(increase(bluejay_requests_total{` + sel + `,code=~"5xx|error|grpc"}[{{.Window}}])) or vector(0)`,
		"p99": `histogram_quantile(0.99, sum by (le) (rate(bluejay_request_duration_seconds_bucket{` + sel +
			`}[{{.Window}}]))) * 1000`,
		"p90": `histogram_quantile(0.90, sum by (le) (rate(bluejay_request_duration_seconds_bucket{` + sel +
			`}[{{.Window}}]))) * 1000`,
		"p50": `histogram_quantile(0.50, sum by (le) (rate(bluejay_request_duration_seconds_bucket{` + sel +
			`}[{{.Window}}]))) * 1000`,
	}
	return t
}

func (c *checker) prometheus(p *PrometheusConfig, templates map[string]AnalysisTemplate) {
	if p == nil {
		for _, name := range slices.Sorted(mapsKeys(templates)) {
			if len(templates[name].Queries) > 0 {
				c.add(joinPath("analysis", name)+".queries", "queries need a Prometheus server: set prometheus.address")
			}
		}
		return
	}
	u, err := url.Parse(p.Address)
	if p.Address == "" || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		c.add("prometheus.address", "want the server's URL, such as http://127.0.0.1:9090, got %q", p.Address)
	}
	c.positive(p.Timeout, "prometheus.timeout", "10s")
	for _, q := range []struct{ path, query string }{{"prometheus.counts.requests", p.Counts.Requests}, {"prometheus.counts.errors", p.Counts.Errors}} {
		if _, err := RenderQuery(q.query, QueryData{Service: "web", Version: "v2", Window: "30s"}); err != nil {
			c.add(q.path, "invalid query template: %v (placeholders: {{.Service}}, {{.Version}})", err)
		}
	}
}

// external checks what an external router needs: bluejay's proxy sees
// none of its traffic, so versions are judged from Prometheus.
func (c *checker) external(cfg *Config) {
	name := cfg.Router.Name()
	if name == "builtin" {
		return
	}
	if p := cfg.Prometheus; p != nil && p.Fleet {
		c.add("prometheus.fleet", "with router.%s every count already comes from Prometheus (prometheus.counts): fleet is for bluejay's own proxies", name)
	}
	if cfg.Prometheus == nil {
		c.add("router."+name, "with router.%s bluejay's proxy sees no traffic: set prometheus (address, targetsFile) so that versions are judged from it", name)
		return
	}
	for i, s := range cfg.Services {
		if s.Strategy != StrategyCanary {
			continue
		}
		for _, ref := range s.Canary.templates() {
			if t, ok := cfg.Analysis[ref.name]; ok && len(t.Queries) == 0 {
				c.add(indexPath("services", i)+".canary."+ref.path, "template %s reads bluejay's proxy, which sees no traffic with router.%s: use one with queries (such as %s)", ref.name, name, PrometheusTemplate)
			}
		}
	}
}

// queries checks a template's queries: each renders, requests is there,
// and its judges can work from point values.
func (c *checker) queries(t *AnalysisTemplate, path string) {
	if len(t.Queries) == 0 {
		return
	}
	if _, ok := t.Queries["requests"]; !ok {
		c.add(path+".queries", "queries need requests (a count since the analysis began, such as sum(increase(http_requests_total{...}[{{.Window}}]))): below minRequests nothing passes")
	}
	for _, name := range slices.Sorted(mapsKeys(t.Queries)) {
		q, qp := t.Queries[name], joinPath(path+".queries", name)
		if strings.TrimSpace(q) == "" {
			c.add(qp, "empty query")
			continue
		}
		if _, err := RenderQuery(q, QueryData{Service: "web", Version: "v2", Window: "30s"}); err != nil {
			c.add(qp, "invalid query template: %v (placeholders: {{.Service}}, {{.Version}}, {{.Window}})", err)
		}
		if !isIdent(name) {
			c.add(qp, "invalid query name %q: want a field name such as errorRate or saturation", name)
		}
	}
	for i, m := range t.Metrics {
		mp := indexPath(path+".metrics", i)
		switch {
		case m.Provider != nil:
		case m.Judge == JudgeMannWhitney || m.Judge == JudgeSequential && m.On == "latency":
			c.add(mp+".judge", "%s on latency needs per-request latencies, which queries cannot give; use threshold on p99 instead", m.Judge)
		case m.Judge == JudgeSequential:
			for _, need := range []string{"requests", "errors"} {
				if _, ok := t.Queries[need]; !ok {
					c.add(mp+".judge", "sequential on errorRate needs the %s query (counts since the analysis began)", need)
				}
			}
		}
	}
}

func isIdent(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}

// templateRef is a canary's use of an analysis template, with its field path
// under the canary block.
type templateRef struct{ name, path string }

// templates lists the templates the canary uses: its background analysis
// and each analysis step's (defaults applied).
func (k Canary) templates() []templateRef {
	refs := []templateRef{{k.Analysis, "analysis"}}
	for i, st := range k.Steps {
		if st.Analysis != nil {
			name := st.Analysis.Template
			if name == "" {
				name = k.Analysis
			}
			refs = append(refs, templateRef{name, indexPath("steps", i) + ".analysis.template"})
		}
	}
	return refs
}
