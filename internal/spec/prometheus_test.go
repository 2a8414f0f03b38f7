package spec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func TestPrometheusReadyMadeTemplate(t *testing.T) {
	cfg, err := spec.Parse("bluejay.yaml", []byte(`admin: {token: x}
prometheus: {address: "http://127.0.0.1:9090"}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9001"]}}}
    strategy: canary
    canary: {steps: [{setWeight: 10}, {analysis: {template: prometheus, duration: 1m}}]}
`))
	if err != nil {
		t.Fatalf("a config using the ready-made template: %v", err)
	}
	tmpl, ok := cfg.Analysis[spec.PrometheusTemplate]
	if !ok {
		t.Fatal("no ready-made prometheus template")
	}
	for _, need := range []string{"requests", "errors", "p99"} {
		q, ok := tmpl.Queries[need]
		if !ok {
			t.Errorf("ready-made template lacks the %s query", need)
			continue
		}
		got, err := spec.RenderQuery(q, spec.QueryData{Service: "web", Version: "v2", Window: "30s"})
		if err != nil || !strings.Contains(got, `service="web",version="v2"`) || !strings.Contains(got, "[30s]") {
			t.Errorf("%s renders as %q, %v", need, got, err)
		}
	}
	for _, m := range tmpl.Metrics {
		if m.Judge == spec.JudgeMannWhitney || m.On == "latency" {
			t.Errorf("ready-made template judges %s with %s on %s, which needs per-request latencies", m.Name, m.Judge, m.On)
		}
	}
	if cfg.Prometheus.Timeout.D() != 10*time.Second {
		t.Errorf("prometheus.timeout default = %s, want 10s", cfg.Prometheus.Timeout)
	}
}

func TestNoReadyMadeTemplateWithoutPrometheus(t *testing.T) {
	cfg, err := spec.Parse("bluejay.yaml", []byte(`admin: {token: x}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9001"]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := cfg.Analysis[spec.PrometheusTemplate]; ok {
		t.Error("the prometheus template exists without prometheus: configured")
	}
}

func TestPromWindow(t *testing.T) {
	for _, c := range []struct {
		d    time.Duration
		want string
	}{{0, "1s"}, {200 * time.Millisecond, "1s"}, {time.Second, "1s"}, {45*time.Second + time.Millisecond, "46s"}, {10 * time.Minute, "600s"}} {
		if got := spec.PromWindow(c.d); got != c.want {
			t.Errorf("PromWindow(%s) = %s, want %s", c.d, got, c.want)
		}
	}
}
