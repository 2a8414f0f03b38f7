package checks

import (
	"context"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// BenchmarkScheduler10k is the scheduler's own cost: 10,000 instances
// probed every second (real clock) by a probe that does nothing. One op
// is one probe; cpu-ns/probe is the process's CPU per probe and cores
// the CPU it keeps busy.
func BenchmarkScheduler10k(b *testing.B) {
	const n = 10_000
	var probes atomic.Int64
	s := NewScheduler(SchedulerOptions{})
	m := NewMonitor(spec.Health{Interval: spec.Duration(time.Second)}, nil)
	m.probeFn = func(context.Context, spec.Health, string) error { probes.Add(1); return nil }
	for _, a := range addrs(n) {
		m.Watch(a)
	}
	ctx, cancel := context.WithCancel(WithScheduler(context.Background(), s))
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	wg.Go(func() { m.Run(ctx) })
	defer func() { cancel(); wg.Wait() }()
	for probes.Load() < 2*n {
		time.Sleep(10 * time.Millisecond) // benchmark pacing
	}
	b.ResetTimer()
	from, cpu0, t0 := probes.Load(), rusage(b), time.Now()
	for probes.Load() < from+int64(b.N) {
		time.Sleep(time.Millisecond)
	}
	cpu, wall := rusage(b)-cpu0, time.Since(t0)
	got := probes.Load() - from
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(got), "cpu-ns/probe")
	b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cores")
	b.ReportMetric(float64(got)/wall.Seconds(), "probes/s")
}

func rusage(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
