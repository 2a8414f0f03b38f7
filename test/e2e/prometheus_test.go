package e2e

import (
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
)

// startPrometheus runs a real Prometheus that scrapes, every 250ms, the
// instances listed in the file_sd file targets (which bluejay writes),
// and returns its URL once it is ready.
func startPrometheus(t *testing.T, targets string) string {
	t.Helper()
	return startPrometheusJob(t, targets, "")
}

// startPrometheusJob is startPrometheus with job's YAML (unindented)
// added to scrape_configs: another job, such as one with an
// authorization block.
func startPrometheusJob(t *testing.T, targets, job string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		enginetest.Missing(t, "Prometheus", fmt.Errorf("prometheus not found in PATH (apt-get install -y prometheus): %w", err))
	}
	dir := t.TempDir()
	if err := os.WriteFile(targets, []byte("[]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`global: {scrape_interval: 250ms, scrape_timeout: 200ms}
scrape_configs:
  - job_name: apps
    file_sd_configs: [{files: [%q], refresh_interval: 1s}]
`, targets) + indent(job, "  ")
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	logf, err := os.Create(filepath.Join(dir, "prometheus.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	url := "http://" + addr
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := http.Get(url + "/-/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return url
			}
		}
		if time.Now().After(deadline) {
			b, _ := os.ReadFile(filepath.Join(dir, "prometheus.log"))
			t.Fatalf("prometheus never became ready:\n%s", b)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// promOptions is a canary judged from Prometheus: the sample app's own
// http_requests_total, scraped from the instances bluejay lists in the
// targets file, through the template's queries.
func promOptions(t *testing.T) options {
	dir := t.TempDir()
	targets := filepath.Join(dir, "targets.json")
	url := startPrometheus(t, targets)
	o := canaryOptions(`
analysis: prom
abortScaleDownDelay: 1s
steps:
  - setWeight: 50
  - analysis: {template: prom, duration: 8s}
  - setWeight: 100`, `
prom:
  interval: 2s
  minRequests: 20
  consecutiveErrorLimit: 2
  queries:
    requests: sum(increase(http_requests_total{service="{{.Service}}",version="{{.Version}}"}[{{.Window}}]))
    errors: sum(increase(http_requests_total{service="{{.Service}}",version="{{.Version}}",code=~"5.."}[{{.Window}}])) or vector(0)
  metrics:
    - name: error-rate
      condition: "canary.errorRate <= baseline.errorRate + 0.05"`)
	o.top = fmt.Sprintf("prometheus: {address: %q, targetsFile: %q}\n", url, targets)
	return o
}

// TestCanaryJudgedFromPrometheusRollsBack: the canary's errors are seen
// only through Prometheus (the app's own metrics), and it is rolled back.
func TestCanaryJudgedFromPrometheusRollsBack(t *testing.T) {
	s := startServer(t, promOptions(t))
	l := startLoadEvery(t, s.proxy, 10*time.Millisecond)
	l.waitServed(t, "v1", 20, 10*time.Second)

	r := s.cli(deployCanary("v2", true, "--error-rate", "0.5")...)
	if r.code != 1 || !strings.Contains(r.stdout+r.stderr, "RolledBack") {
		t.Fatalf("deploy of a canary failing 50%% of requests, judged from Prometheus: want exit 1 and RolledBack, got:\n%s", r)
	}
	ro := s.rolloutTo("v2")
	t.Logf("rolled back: %s", ro.Reason)
	for _, want := range []string{"error-rate", "canary", "baseline"} {
		if !strings.Contains(ro.Reason, want) {
			t.Errorf("the rollback reason does not mention %q: %q", want, ro.Reason)
		}
	}
	evs, raw := s.events(ro.ID)
	rb := evs[len(evs)-1]
	if rb.Numbers["error-rate.canary.requests"] < 20 || rb.Numbers["error-rate.canary.errors"] <= 0 {
		t.Errorf("the RolledBack event lacks the canary's numbers from Prometheus: %v\n%s", rb.Numbers, raw)
	}
}

// TestCanaryJudgedFromPrometheusPromotes: a healthy canary passes the
// same queries and completes.
func TestCanaryJudgedFromPrometheusPromotes(t *testing.T) {
	s := startServer(t, promOptions(t))
	l := startLoadEvery(t, s.proxy, 10*time.Millisecond)
	l.waitServed(t, "v1", 20, 10*time.Second)
	r := s.cli(deployCanary("v2", true)...)
	if r.code != 0 || !strings.Contains(r.stdout, "Completed") {
		t.Fatalf("deploy of a healthy canary judged from Prometheus: want exit 0 and Completed, got:\n%s", r)
	}
	l.assertNoFailures(t)
}
