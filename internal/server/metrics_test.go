package server_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

const metricsToken = "t0ken"

// TestMetricsOnTheAdminListener runs a whole bluejay with one static
// service and scrapes its /metrics: the proxy's counters and the
// controller's rollout, wired in New and Run.
func TestMetricsOnTheAdminListener(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "version=v1")
	}))
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "http://")
	cfg, err := spec.Parse(filepath.Join(t.TempDir(), "bluejay.yaml"), fmt.Appendf(nil, `proxy: {listen: %s}
admin: {listen: %s, token: %s}
store: {path: bluejay.db}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: [%q]}}}
    health: {interval: 20ms}
`, freeAddr(t), freeAddr(t), metricsToken, addr))
	if err != nil {
		t.Fatal(err)
	}
	srv, err := server.New(cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Run(ctx) }()
	defer func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Run: %v", err)
		}
	}()

	metrics := "http://" + srv.AdminAddr() + "/metrics"
	if code, _ := authGet(t, metrics, ""); code != http.StatusUnauthorized {
		t.Errorf("/metrics without the token: %d, want 401", code)
	}
	waitUntil(t, "the first deploy to complete", func() bool {
		_, body := authGet(t, metrics, metricsToken)
		return strings.Contains(body, `bluejay_rollout_phase{phase="Completed",service="web"} 1`)
	})
	if code, _ := authGet(t, "http://"+srv.ProxyAddr()+"/", ""); code != http.StatusOK {
		t.Fatalf("request through the proxy: %d", code)
	}
	_, body := authGet(t, metrics, metricsToken)
	for _, s := range []string{
		`bluejay_requests_total{addr="` + addr + `",code="2xx",service="web",version="v1"} 1`,
		`bluejay_traffic_weight{service="web",version="v1"} 100`,
		`bluejay_rollout_id{service="web"} 1`,
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(body, s) {
			t.Errorf("/metrics lacks %s", s)
		}
	}
}

func authGet(t *testing.T, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// waitUntil polls cond until it holds or a deadline passes.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval
	}
}
