package checks_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
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
