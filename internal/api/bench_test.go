package api_test

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

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// BenchmarkStatusAll is `bluejay status` of every service (GET
// /v1/services) with 2,000 services, each settled on v1 (issue 22: under
// 200 ms). The services run on one real backend, probed every second.
//
//	go test ./internal/api -run '^$' -bench StatusAll -benchtime 20x
func BenchmarkStatusAll(b *testing.B) {
	const n = 2000
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "version=v1")
	}))
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "http://")
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin: {token: %s}\nservices:\n", token)
	for i := range n {
		fmt.Fprintf(&cfg, "  - {name: s%05d, version: v1, match: {pathPrefix: /s%05d/}, platform: {static: {targets: {v1: [%q]}}}, health: {interval: 1s}}\n", i, i, addr)
	}
	c, err := spec.Parse("bench.yaml", []byte(cfg.String()))
	if err != nil {
		b.Fatal(err)
	}
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	quiet := slog.New(slog.DiscardHandler)
	p := &proxy.Proxy{Logger: quiet}
	plat := static.New()
	ctrl := &controller.Controller{Store: st, Router: &routerbuiltin.Router{Proxy: p}, Metrics: &metricsbuiltin.Metrics{Proxy: p},
		Templates: c.Analysis, Logger: quiet}
	for _, s := range c.Services {
		plat.SetTargets(s.Name, "v1", []string{addr})
		ctrl.Add(controller.Service{Spec: s, Platform: plat})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = ctrl.Run(ctx) }()
	defer func() { cancel(); <-done }()
	srv := httptest.NewServer((&api.Server{Controller: ctrl, Token: token, Logger: quiet}).Handler())
	defer srv.Close()

	deadline := time.Now().Add(5 * time.Minute)
	for settled := 0; settled < n; {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d services settled in 5 minutes", settled, n)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
		settled = 0
		for _, name := range ctrl.Services() {
			if s, _ := ctrl.Status(name); s.Rollout.Phase == engine.PhaseCompleted && s.Rollout.Settled {
				settled++
			}
		}
	}
	req, _ := http.NewRequest("GET", srv.URL+"/v1/services", nil)
	req.Header.Set("Authorization", "Bearer "+token)
	var size int64
	b.ResetTimer()
	for b.Loop() {
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		size, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
	b.ReportMetric(float64(size), "bytes/response")
}
