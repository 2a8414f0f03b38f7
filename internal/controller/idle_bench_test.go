package controller_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	metricsbuiltin "github.com/bluejay-deploy/bluejay/internal/metrics/builtin"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
	routerbuiltin "github.com/bluejay-deploy/bluejay/internal/router/builtin"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// BenchmarkIdleServices measures the CPU of 2,000 service loops with
// nothing to do (issue 22): every rollout completed and settled, probes
// every hour (so the loops' own cost shows, not the probes'). Each
// iteration is one second of idling; cores is the process's CPU time
// over the wall time.
//
//	go test ./internal/controller -run '^$' -bench IdleServices -benchtime 10x
func BenchmarkIdleServices(b *testing.B) {
	const n = 2000
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintln(w, "version=v1")
	}))
	defer backend.Close()
	addr := strings.TrimPrefix(backend.URL, "http://")
	st, err := sqlite.Open(filepath.Join(b.TempDir(), "b.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	p := &proxy.Proxy{Logger: quiet}
	plat := static.New()
	c := &controller.Controller{Store: st, Router: &routerbuiltin.Router{Proxy: p}, Metrics: &metricsbuiltin.Metrics{Proxy: p},
		Drainer: p, Logger: quiet}
	for i := range n {
		s := spec.Service{Name: fmt.Sprintf("s%05d", i), Version: "v1", Match: spec.Match{PathPrefix: fmt.Sprintf("/s%05d/", i)},
			Platform: spec.Platform{Static: &spec.Static{Targets: map[string][]string{"v1": {addr}}}},
			Health: spec.Health{Path: "/healthz", Interval: spec.Duration(time.Hour), Timeout: spec.Duration(5 * time.Second),
				HealthyThreshold: 1, UnhealthyThreshold: 2, ReadyTimeout: spec.Duration(time.Minute)},
			Strategy:  spec.StrategyBlueGreen,
			BlueGreen: spec.BlueGreen{ScaleDownDelay: spec.Duration(time.Second)},
		}
		plat.SetTargets(s.Name, "v1", []string{addr})
		c.Add(controller.Service{Spec: s, Platform: plat})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	deadline := time.Now().Add(5 * time.Minute)
	for settled := 0; settled < n; {
		if time.Now().After(deadline) {
			b.Fatalf("%d of %d services settled in 5 minutes", settled, n)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
		settled = 0
		for _, name := range c.Services() {
			if s, _ := c.Status(name); s.Rollout.Phase == engine.PhaseCompleted && s.Rollout.Settled {
				settled++
			}
		}
	}
	time.Sleep(2 * time.Second) // the last services' steps after settling
	steps := func() (sum int64) {
		for _, name := range c.Services() {
			sum += c.Steps(name)
		}
		return sum
	}
	s0, cpu0, t0 := steps(), cpuTime(), time.Now()
	b.ResetTimer()
	for b.Loop() {
		time.Sleep(time.Second) // idling is what is measured
	}
	b.StopTimer()
	wall := time.Since(t0).Seconds()
	b.ReportMetric((cpuTime()-cpu0).Seconds()/wall, "cores")
	b.ReportMetric(float64(steps()-s0)/wall, "steps/s")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
