package main

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"runtime/pprof"
	"sync/atomic"
	"time"
)

// profiling is a CPU profile in progress, with the counters it started
// from.
type profiling struct {
	f       *os.File
	served  *atomic.Int64
	start   time.Time
	n0      int64
	mem0    runtime.MemStats
	metrics []metrics.Sample
}

// cpuMetrics are the runtime's estimates of where the process's CPU time
// went: the GC's share is gc / (user + gc + scavenge), idle left out.
var cpuMetrics = []string{"/cpu/classes/user:cpu-seconds", "/cpu/classes/gc/total:cpu-seconds", "/cpu/classes/scavenge/total:cpu-seconds"}

func startProfiling(path string, served *atomic.Int64) (*profiling, error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	p := &profiling{f: f, served: served, start: time.Now(), n0: served.Load(), metrics: readCPUMetrics()}
	runtime.ReadMemStats(&p.mem0)
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return p, nil
}

func readCPUMetrics() []metrics.Sample {
	s := make([]metrics.Sample, len(cpuMetrics))
	for i, name := range cpuMetrics {
		s[i].Name = name
	}
	metrics.Read(s)
	return s
}

// stop ends the profile and prints, on stdout, what the profiled span
// cost per request.
func (p *profiling) stop() error {
	pprof.StopCPUProfile()
	elapsed := time.Since(p.start)
	n := p.served.Load() - p.n0
	var mem runtime.MemStats
	runtime.ReadMemStats(&mem)
	now := readCPUMetrics()
	var used [3]float64
	for i := range used {
		used[i] = now[i].Value.Float64() - p.metrics[i].Value.Float64()
	}
	gc, cpu := used[1], used[0]+used[1]+used[2]
	if n > 0 {
		fmt.Printf("profiled %d requests in %s (%.0f req/s): %.1f allocs/request, %.0f bytes/request, %d GCs (%.0f/s), GC %.0f%% of the Go CPU time, heap in use %.1f MiB\n",
			n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(),
			float64(mem.Mallocs-p.mem0.Mallocs)/float64(n), float64(mem.TotalAlloc-p.mem0.TotalAlloc)/float64(n),
			mem.NumGC-p.mem0.NumGC, float64(mem.NumGC-p.mem0.NumGC)/elapsed.Seconds(), 100*gc/cpu, float64(mem.HeapInuse)/(1<<20))
	}
	return p.f.Close()
}

// writeHeap writes the in-use heap after a GC, and prints where the
// process's memory is: what RSS is made of, roughly.
func writeHeap(path string) error {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	mib := func(b uint64) float64 { return float64(b) / (1 << 20) }
	fmt.Printf("heap: %d goroutines; heap in use %.1f MiB (%d objects), stacks %.1f MiB, runtime %.1f MiB, obtained from the OS %.1f MiB, returned %.1f MiB; next GC at %.1f MiB\n",
		runtime.NumGoroutine(), mib(m.HeapInuse), m.HeapObjects, mib(m.StackInuse),
		mib(m.MSpanSys+m.MCacheSys+m.BuckHashSys+m.GCSys+m.OtherSys), mib(m.Sys), mib(m.HeapReleased), mib(m.NextGC))
	return writeProfile("heap", path)
}

// writeProfile writes the named runtime profile to path; "" writes none.
func writeProfile(name, path string) error {
	if path == "" {
		return nil
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.Lookup(name).WriteTo(f, 0); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}
