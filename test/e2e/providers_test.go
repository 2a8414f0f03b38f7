package e2e

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// providerPromOptions is a canary whose analysis step is one
// provider.prometheus metric: the canary's share of failed requests over
// the last 5s, read from the sample app's own http_requests_total through
// the built-in args service and canary.
func providerPromOptions(t *testing.T) options {
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.json")
	url := startPrometheus(t, targets)
	o := canaryOptions(`
analysis: share
abortScaleDownDelay: 1s
steps:
  - setWeight: 50
  - analysis: {template: share}
  - setWeight: 100`, `
share:
  interval: 1s
  metrics:
    - name: error-share
      provider:
        prometheus:
          query: sum(increase(http_requests_total{service="{{args.service}}",version="{{args.canary}}",code=~"5.."}[5s]) or vector(0)) / sum(increase(http_requests_total{service="{{args.service}}",version="{{args.canary}}"}[5s]))
      successCondition: result < 0.05
      failureCondition: result >= 0.2
      count: 3
      interval: 1s
      initialDelay: 3s
      consecutiveErrorLimit: 30   # no series until Prometheus has scraped the canary`)
	o.top = fmt.Sprintf("prometheus: {address: %q, targetsFile: %q}\n", url, targets)
	return o
}

// TestProviderPrometheusRollsBack: a canary failing half its requests,
// seen only through a provider.prometheus query, is rolled back with the
// query's result in the reason.
func TestProviderPrometheusRollsBack(t *testing.T) {
	s := startServer(t, providerPromOptions(t))
	l := startLoadEvery(t, s.proxy, 10*time.Millisecond)
	l.waitServed(t, "v1", 20, 10*time.Second)
	r := s.cli(deployCanary("v2", true, "--error-rate", "0.5")...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "RolledBack") {
		t.Fatalf("deploy of a canary failing 50%% of requests: want exit 1 and RolledBack, got:\n%s", r)
	}
	ro := s.rolloutTo("v2")
	if !strings.Contains(ro.Reason, "error-share: result 0.") || !strings.Contains(ro.Reason, "result >= 0.2 holds") {
		t.Fatalf("reason %q: want the query's result and the failure condition", ro.Reason)
	}
}

// TestProviderPrometheusPromotes: a healthy canary's share stays under
// the success condition and the rollout completes.
func TestProviderPrometheusPromotes(t *testing.T) {
	s := startServer(t, providerPromOptions(t))
	l := startLoadEvery(t, s.proxy, 10*time.Millisecond)
	l.waitServed(t, "v1", 20, 10*time.Second)
	r := s.cli(deployCanary("v2", true)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("deploy of a healthy canary: want exit 0 and Completed, got:\n%s", r)
	}
	l.assertNoFailures(t)
}
