package checks_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/checks"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// BenchmarkMonitorProbes probes 4,000 instances (two file descriptors each, within the usual 20,000 limit) every second over
// keep-alive connections (each a distinct loopback address of one HTTP
// server in the process) and reports the process's CPU per probe and
// the cores the probes keep busy (cpu-ns/probe includes the in-process
// server's side of each probe). One op is one probe.
func BenchmarkMonitorProbes(b *testing.B) {
	const n = 4_000
	var hits atomic.Int64
	l, err := net.Listen("tcp", ":0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) })}
	go srv.Serve(l)
	defer srv.Close()
	port := l.Addr().(*net.TCPAddr).Port

	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 1, IdleConnTimeout: 30 * time.Second}}
	m := checks.NewMonitor(spec.Health{Interval: spec.Duration(time.Second), Timeout: spec.Duration(time.Second)}, client)
	for i := range n {
		m.Watch(fmt.Sprintf("127.0.%d.%d:%d", i/250, i%250+1, port))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	defer func() { cancel(); <-done }()

	// Warm up: every instance probed (and connected) at least twice.
	for hits.Load() < 2*n {
		time.Sleep(10 * time.Millisecond) // benchmark pacing, not a test wait
	}
	b.ResetTimer()
	from, cpu0, t0 := hits.Load(), cpuTime(b), time.Now()
	for hits.Load() < from+int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	cpu, wall := cpuTime(b)-cpu0, time.Since(t0)
	probes := hits.Load() - from
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(probes), "cpu-ns/probe")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(float64(probes)/wall.Seconds(), "probes/s")
}

func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkSharedAddress is bench/scale's shape: 2,000 services, each its
// own Monitor, whose instances are all one address (one NGINX there, an
// in-process server here), probed every second on one Scheduler with the
// controller's client (idle connections per host: maxIdle). One op is
// one probe; dials/probe counts the connections the server accepted.
func BenchmarkSharedAddress(b *testing.B) {
	for _, maxIdle := range []int{1, 64} {
		b.Run(fmt.Sprintf("maxIdle=%d", maxIdle), func(b *testing.B) {
			benchShared(b, maxIdle, func(ctx context.Context) context.Context {
				s := checks.NewScheduler(checks.SchedulerOptions{})
				go s.Run(ctx)
				return checks.WithScheduler(ctx, s)
			})
		})
	}
}

func benchShared(b *testing.B, maxIdle int, withScheduler func(context.Context) context.Context) {
	const n = 2000
	var hits, conns atomic.Int64
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) }),
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		},
	}
	go srv.Serve(l)
	defer srv.Close()
	client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: maxIdle, IdleConnTimeout: 30 * time.Second}}
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithCancel(context.Background())
	ctx = withScheduler(ctx)
	var wg sync.WaitGroup
	defer func() { cancel(); wg.Wait() }()
	for range n {
		m := checks.NewMonitor(spec.Health{Interval: spec.Duration(time.Second), Timeout: spec.Duration(time.Second)}, client)
		m.Watch(l.Addr().String())
		wg.Go(func() { m.Run(ctx) })
	}
	for hits.Load() < 2*n {
		time.Sleep(10 * time.Millisecond) // benchmark pacing
	}
	b.ResetTimer()
	from, dials, cpu0, t0 := hits.Load(), conns.Load(), cpuTime(b), time.Now()
	for hits.Load() < from+int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	cpu, wall := cpuTime(b)-cpu0, time.Since(t0)
	probes := hits.Load() - from
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(probes), "cpu-ns/probe")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(float64(conns.Load()-dials)/float64(probes), "dials/probe")
}

// BenchmarkProbeConns is the probes' memory per instance: 2,000 instances,
// each its own loopback address (127.1.x.y, one HTTP server listening on
// all), probed every second over kept connections, by net/http's
// Transport (the controller's client before the Prober) or the Prober.
// Reported once every instance was probed twice, after a GC: the
// goroutines, heap in use and stacks the probes added (the in-process
// server's side, a goroutine and two buffers per connection, is in both),
// and the process's CPU per probe, server side included. One op is one
// probe.
func BenchmarkProbeConns(b *testing.B) {
	const n = 2000
	for _, name := range []string{"net-http", "prober"} {
		b.Run(name, func(b *testing.B) {
			var hits atomic.Int64
			runtime.GC()
			var ms0 runtime.MemStats
			runtime.ReadMemStats(&ms0)
			g0 := runtime.NumGoroutine()
			l, err := net.Listen("tcp", ":0")
			if err != nil {
				b.Fatal(err)
			}
			srv := &http.Server{Handler: http.HandlerFunc(func(http.ResponseWriter, *http.Request) { hits.Add(1) })}
			go srv.Serve(l)
			defer srv.Close()
			port := l.Addr().(*net.TCPAddr).Port
			cfg := spec.Health{Interval: spec.Duration(time.Second), Timeout: spec.Duration(time.Second)}
			var m *checks.Monitor
			if name == "prober" {
				p := checks.NewProber(checks.ProberOptions{})
				defer p.Close()
				m = checks.NewMonitorProber(cfg, p)
			} else {
				client := &http.Client{Transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 64, IdleConnTimeout: 30 * time.Second}}
				defer client.CloseIdleConnections()
				m = checks.NewMonitor(cfg, client)
			}
			for i := range n {
				m.Watch(fmt.Sprintf("127.1.%d.%d:%d", i/250+1, i%250+1, port))
			}
			ctx, cancel := context.WithCancel(context.Background())
			s := checks.NewScheduler(checks.SchedulerOptions{})
			var wg sync.WaitGroup
			wg.Go(func() { s.Run(ctx) })
			ctx = checks.WithScheduler(ctx, s)
			wg.Go(func() { m.Run(ctx) })
			defer func() { cancel(); wg.Wait() }()
			for hits.Load() < 2*n {
				time.Sleep(10 * time.Millisecond) // benchmark pacing
			}
			runtime.GC()
			var ms runtime.MemStats
			runtime.ReadMemStats(&ms)
			goroutines := runtime.NumGoroutine() - g0
			b.ResetTimer() // it drops the metrics reported so far
			from, cpu0, t0 := hits.Load(), cpuTime(b), time.Now()
			for hits.Load() < from+int64(b.N) {
				time.Sleep(time.Millisecond)
			}
			cpu, wall := cpuTime(b)-cpu0, time.Since(t0)
			probes := hits.Load() - from
			b.ReportMetric(float64(cpu.Nanoseconds())/float64(probes), "cpu-ns/probe")
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
			b.ReportMetric(float64(goroutines), "goroutines")
			b.ReportMetric(float64(int64(ms.HeapInuse)-int64(ms0.HeapInuse))/(1<<20), "heap-MiB")
			b.ReportMetric(float64(int64(ms.StackInuse)-int64(ms0.StackInuse))/(1<<20), "stack-MiB")
		})
	}
}
