package prometheus_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	client "github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/metrics/prometheus"
)

// app is a real HTTP server exposing http_requests_total; every scrape
// adds ok successes and bad failures, so the counters grow at a known
// ratio.
func app(t *testing.T, ok, bad int) string {
	t.Helper()
	reg := client.NewRegistry()
	c := client.NewCounterVec(client.CounterOpts{Name: "http_requests_total", Help: "requests"}, []string{"code"})
	reg.MustRegister(c)
	h := promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.WithLabelValues("200").Add(float64(ok))
		if bad > 0 {
			c.WithLabelValues("500").Add(float64(bad))
		}
		h.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

// startPrometheus runs a real Prometheus scraping targets (address →
// version) every 100ms and returns its URL once it is ready.
func startPrometheus(t *testing.T, targets map[string]string) string {
	t.Helper()
	bin, err := exec.LookPath("prometheus")
	if err != nil {
		enginetest.Missing(t, "Prometheus", fmt.Errorf("prometheus not found in PATH (apt-get install -y prometheus): %w", err))
	}
	dir := t.TempDir()
	var cfg strings.Builder
	cfg.WriteString("global: {scrape_interval: 100ms, scrape_timeout: 100ms}\nscrape_configs:\n  - job_name: app\n    static_configs:\n")
	for addr, version := range targets {
		fmt.Fprintf(&cfg, "      - targets: [%q]\n        labels: {service: web, version: %s}\n", addr, version)
	}
	if err := os.WriteFile(filepath.Join(dir, "prometheus.yml"), []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	cmd := exec.Command(bin, "--config.file="+filepath.Join(dir, "prometheus.yml"),
		"--storage.tsdb.path="+filepath.Join(dir, "data"), "--web.listen-address="+addr)
	logf, _ := os.Create(filepath.Join(dir, "prometheus.log"))
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait(); logf.Close() })
	url := "http://" + addr
	waitFor(t, "prometheus to be ready", func() bool {
		resp, err := http.Get(url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	return url
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

var queries = map[string]string{
	"requests":   `sum(increase(http_requests_total{service="{{.Service}}",version="{{.Version}}"}[{{.Window}}]))`,
	"errors":     `sum(increase(http_requests_total{service="{{.Service}}",version="{{.Version}}",code=~"5.."}[{{.Window}}])) or vector(0)`,
	"saturation": `vector(0.7)`,
}

func TestQueriesMeasureCanaryAndBaseline(t *testing.T) {
	url := startPrometheus(t, map[string]string{app(t, 10, 0): "v1", app(t, 5, 5): "v2"})
	src, err := prometheus.New(url, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var v1, v2 metrics.Sample
	// Wait for enough scrapes that both sides have counted requests.
	waitFor(t, "both sides to have requests", func() bool {
		now := time.Now()
		v1, err = src.Query(ctx, queries, "web", "v1", now.Add(-3*time.Second), now)
		if err != nil {
			return false
		}
		v2, err = src.Query(ctx, queries, "web", "v2", now.Add(-3*time.Second), now)
		return err == nil && v1.Requests >= 50 && v2.Requests >= 50 && v2.Errors > 0
	})
	if v1.Errors != 0 {
		t.Errorf("v1 (no failures): %d errors of %d", v1.Errors, v1.Requests)
	}
	if r := v2.ErrorRate(); r < 0.4 || r > 0.6 {
		t.Errorf("v2 error rate %.3f (%d of %d), want about 0.5", r, v2.Errors, v2.Requests)
	}
	if got := v2.Custom["saturation"]; got != 0.7 {
		t.Errorf("custom query saturation = %v, want 0.7", got)
	}
}

func TestNoDataIsNeverAPass(t *testing.T) {
	url := startPrometheus(t, map[string]string{app(t, 10, 0): "v1"})
	src, _ := prometheus.New(url, 5*time.Second)
	now := time.Now()
	qs := map[string]string{
		"requests": queries["requests"],
		"errors":   `sum(increase(http_requests_total{version="{{.Version}}",code=~"5.."}[{{.Window}}]))`, // no "or vector(0)"
		"p99":      `histogram_quantile(0.99, sum by (le) (rate(nothing_bucket[{{.Window}}])))`,
	}
	s, err := src.Query(context.Background(), qs, "web", "v3", now.Add(-5*time.Second), now)
	var nd *metrics.NoDataError
	if !errors.As(err, &nd) {
		t.Fatalf("Query of a version with no series: %v, want a NoDataError", err)
	}
	if strings.Join(nd.Queries, ",") != "errors,p99" {
		t.Errorf("NoDataError names %v, want errors and p99", nd.Queries)
	}
	if s.Requests != 0 {
		t.Errorf("requests of a version with no series = %d, want 0", s.Requests)
	}
}

func TestQueryFailuresAreErrors(t *testing.T) {
	url := startPrometheus(t, map[string]string{app(t, 10, 0): "v1", app(t, 10, 0): "v2"})
	src, _ := prometheus.New(url, 5*time.Second)
	now := time.Now()
	for name, q := range map[string]string{
		"a syntax error":   `sum(rate(http_requests_total[{{.Window}}]`,
		"several series":   `label_replace(vector(1), "a", "x", "", "") or label_replace(vector(2), "a", "y", "", "")`,
		"a range selector": `http_requests_total[{{.Window}}]`,
	} {
		waitFor(t, "a scrape", func() bool {
			_, err := src.Query(context.Background(), map[string]string{"requests": `sum(http_requests_total)`}, "web", "v1", now, now)
			return err == nil
		})
		if _, err := src.Query(context.Background(), map[string]string{"requests": q}, "web", "v1", now.Add(-2*time.Second), time.Now()); err == nil {
			t.Errorf("%s (%s): no error", name, q)
		}
	}
	down, _ := prometheus.New("http://127.0.0.1:1", time.Second)
	if _, err := down.Query(context.Background(), queries, "web", "v1", now.Add(-time.Second), now); err == nil {
		t.Error("a server that does not answer: no error")
	}
}
