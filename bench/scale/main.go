// Command scale measures what one `bluejay serve` costs with thousands
// of services: it builds bluejay, starts serve with N services on the
// static platform, two backends standing in for every service's v1 and
// v2 (NGINX when /usr/sbin/nginx exists, else HTTP servers in this
// process), health checks every second, a little traffic to each
// service through the proxy, then a blue-green rollout of each to v2,
// and prints each figure beside its goal (issue 22). See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// settings are the bench's knobs, written into the config.
type settings struct {
	N           int           // services
	Parallel    int           // deploy calls in flight
	RPS         int           // user requests per second, over all services
	MinRequests int           // blueGreen.minRequests
	Watch       time.Duration // blueGreen.watch
	Idle        time.Duration // how long idle CPU is measured
	Keep        bool
}

func main() {
	var s settings
	flag.IntVar(&s.N, "n", 2000, "services")
	flag.IntVar(&s.Parallel, "parallel", 50, "deploy calls in flight")
	flag.IntVar(&s.RPS, "rps", 400, "user requests per second through the proxy, spread round-robin over the services")
	flag.IntVar(&s.MinRequests, "min-requests", 3, "blueGreen.minRequests: requests v2 must serve before its watch can pass")
	flag.DurationVar(&s.Watch, "watch", 10*time.Second, "blueGreen.watch")
	flag.DurationVar(&s.Idle, "idle", 10*time.Second, "how long idle CPU is measured")
	flag.BoolVar(&s.Keep, "keep", false, "keep the temp dir (config, store, logs)")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// row is one line of the table: a measure, its value and its goal.
type row struct{ measure, value, goal, verdict string }

func run(ctx context.Context, s settings) (err error) {
	began := time.Now()
	fmt.Printf("bench/scale: %d services, health every 1s, %d rps of users in all, blue-green (watch %s, minRequests %d), %d deploy calls in flight\n",
		s.N, s.RPS, s.Watch, s.MinRequests, s.Parallel)
	fmt.Printf("machine: %s, %d CPUs, %s/%s, %s, load average %s\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version(), loadAvg())
	dir, err := os.MkdirTemp("", "bluejay-scale-")
	if err != nil {
		return err
	}
	defer func() {
		if s.Keep || err != nil {
			fmt.Printf("kept %s (config, store, serve.log)\n", dir)
		} else {
			os.RemoveAll(dir)
		}
	}()
	be, err := startBackends(ctx, dir)
	if err != nil {
		return err
	}
	defer be.stop()
	fmt.Printf("backends: %s (v1 %s, v2 %s)\n", be.kind, be.v1, be.v2)

	b, err := startBluejay(ctx, dir, s, be)
	if b != nil {
		defer b.stop()
	}
	if err != nil {
		return err
	}
	var rows []row

	// 1. Every service served through the proxy.
	if err := b.waitAllServed(ctx, s.N); err != nil {
		return err
	}
	served := time.Since(b.started)
	rows = append(rows, row{"all served after start", served.Round(100 * time.Millisecond).String(), "", ""})
	fmt.Printf("all %d served %s after start\n", s.N, served.Round(100*time.Millisecond))

	// 2. Idle CPU: nothing but health checks.
	if err := sleep(ctx, 2*time.Second); err != nil { // let the first rollouts' aftermath pass
		return err
	}
	idle, err := cpuOver(ctx, b.cmd.Process.Pid, s.Idle)
	if err != nil {
		return err
	}
	rows = append(rows, row{fmt.Sprintf("idle CPU (health checks only, over %s)", s.Idle), fmt.Sprintf("%.2f cores", idle), "≤ 0.2 cores", meets(idle <= 0.2, fmt.Sprintf("%.2f over", idle-0.2))})
	fmt.Printf("idle CPU %.2f cores\n", idle)

	// 3. Users, then a rollout of every service.
	g := startLoad(ctx, b.proxy, s.N, s.RPS)
	defer g.stop()
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	calls, first, failedCalls := b.deployAll(ctx, s.N, s.Parallel, be.v2)
	rows = append(rows, row{fmt.Sprintf("%d deploy calls (%d in flight)", s.N, s.Parallel), calls.Round(100 * time.Millisecond).String(), "", ""})
	fmt.Printf("%d deploy calls took %s (%d refused)\n", s.N, calls.Round(100*time.Millisecond), failedCalls)
	done, phases, err := b.waitAllCompleted(ctx, first, 5*time.Minute)
	if err != nil {
		return err
	}
	doneText := "not all: " + phases
	if done > 0 {
		doneText = done.Round(100*time.Millisecond).String() + " after the first call"
	}
	rows = append(rows, row{"all rollouts Completed", doneText, "≤ 3m", meets(done > 0 && done <= 3*time.Minute, phases)})
	g.stop()
	failed, total := g.failed.Load(), g.total.Load()
	rows = append(rows, row{"failed user requests", fmt.Sprintf("%d of %d", failed, total), "0", meets(failed == 0, fmt.Sprintf("%d over", failed))})
	hwm, err := peakRSS(b.cmd.Process.Pid)
	if err != nil {
		return err
	}
	mib := float64(hwm) / (1 << 20)
	rows = append(rows, row{"peak RSS (VmHWM)", fmt.Sprintf("%.0f MiB (%.0f KiB per service)", mib, float64(hwm)/1024/float64(s.N)), "≤ 256 MiB", meets(mib <= 256, fmt.Sprintf("%.0f MiB over", mib-256))})

	fmt.Printf("\n%-40s %-38s %-12s %s\n", "measure", "value", "goal", "")
	for _, r := range rows {
		fmt.Printf("%-40s %-38s %-12s %s\n", r.measure, r.value, r.goal, r.verdict)
	}
	fmt.Printf("\n%s in all\n", time.Since(began).Round(time.Second))
	return nil
}

// meets is a row's verdict: "met", or "NOT met" and how far off.
func meets(ok bool, off string) string {
	if ok {
		return "met"
	}
	return "NOT met (" + off + ")"
}

// deployAll deploys v2 to every service, parallel calls at a time, and
// returns how long the calls took, when the first one was made and how
// many were refused.
func (b *bluejay) deployAll(ctx context.Context, n, parallel int, target string) (time.Duration, time.Time, int64) {
	var (
		next    atomic.Int64
		refused atomic.Int64
		wg      sync.WaitGroup
	)
	start := time.Now()
	for range parallel {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				_, err := b.client.Deploy(ctx, serviceName(i), api.DeployBody{Version: "v2", Strategy: engine.StrategyBlueGreen, Targets: []string{target}})
				if err != nil {
					if refused.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "deploy %s: %v\n", serviceName(i), err)
					}
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), start, refused.Load()
}

// waitAllCompleted polls the services' status until every service's
// latest rollout is v2's and Completed, and returns the time since first;
// 0 and a count of phases if the deadline passed first.
func (b *bluejay) waitAllCompleted(ctx context.Context, first time.Time, limit time.Duration) (time.Duration, string, error) {
	deadline := first.Add(limit)
	for {
		sts, err := b.client.Services(ctx)
		if err != nil {
			return 0, "", err
		}
		count := map[string]int{}
		for _, st := range sts {
			ph := string(st.Rollout.Phase)
			if st.Rollout.To.Label != "v2" {
				ph = "not deployed"
			}
			count[ph]++
		}
		if count[string(engine.PhaseCompleted)] == len(sts) {
			return time.Since(first), "", nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Sprint(count), nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return 0, "", err
		}
	}
}

func serviceName(i int) string { return fmt.Sprintf("s%05d", i) }

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// cpuModel is the CPU's model name from /proc/cpuinfo, or "unknown CPU".
func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	for line := range strings.Lines(string(b)) {
		if k, v, ok := strings.Cut(line, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}

func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "unknown"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "unknown"
	}
	return strings.Join(f[:3], " ")
}
