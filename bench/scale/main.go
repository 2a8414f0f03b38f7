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
	"math"
	"os"
	"os/signal"
	"runtime"
	"slices"
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
	Deploy      bool          // false: start, RSS, idle CPU and status only
	CPUProfile  string        // file for serve's CPU profile, "" for none
	CPUSeconds  time.Duration // its length
	HeapProfile string        // file for serve's heap profile at peak RSS, "" for none
	Fleet       int           // `bluejay proxy` followers on etcd; 0: one serve on SQLite
	StatusCalls int           // status calls timed at idle
	Health      time.Duration // health.interval of every service
	OneAddr     bool          // every instance at 127.0.0.1 (see backends)
	ServeLimit  time.Duration // how long start may take to serve every service
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
	flag.BoolVar(&s.Deploy, "deploy", true, "deploy v2 to every service; false measures start, RSS, idle CPU and status only")
	flag.StringVar(&s.CPUProfile, "cpuprofile", "", "write serve's CPU profile to `file`: over the deploy wave (from the first call), or over the idle measure with -deploy=false")
	flag.DurationVar(&s.CPUSeconds, "cpuseconds", 30*time.Second, "length of the -cpuprofile over the deploy wave")
	flag.StringVar(&s.HeapProfile, "heapprofile", "", "write serve's heap profile to `file`, taken at the highest RSS seen (sampled each second)")
	flag.IntVar(&s.Fleet, "fleet", 0, "run N `bluejay proxy` followers on an etcd store (etcd in PATH) and measure how long a weight change takes to reach all of them")
	flag.IntVar(&s.StatusCalls, "status-calls", 7, "status calls (GET /v1/services) timed at idle")
	flag.DurationVar(&s.Health, "health", time.Second, "health.interval of every service (health.timeout is the same, at most 1s)")
	flag.DurationVar(&s.ServeLimit, "serve-limit", 5*time.Minute, "how long start may take to serve every service; with -deploy=false the bench goes on with those served")
	flag.BoolVar(&s.OneAddr, "one-addr", false, "put every service's instances at 127.0.0.1 (the first version of this bench): one keep-alive pool and one range of ephemeral ports for all")
	flag.Parse()
	if s.N < 1 || s.Parallel < 1 || s.RPS < 1 || s.Fleet < 0 || s.StatusCalls < 1 || s.Health < 100*time.Millisecond {
		fmt.Fprintln(os.Stderr, "scale: -n, -parallel, -rps and -status-calls must be at least 1, -fleet at least 0, -health at least 100ms")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, s); err != nil {
		fmt.Fprintln(os.Stderr, "scale:", err)
		os.Exit(1)
	}
}

// row is one line of the table: a measure, its value and its goal.
type row struct{ measure, value, goal, verdict string }

// goals are the issue's: those of 2,000 services up to 2,000, those of
// 10,000 above.
type goals struct {
	rssMiB float64
	cores  float64
}

func goalsFor(n int) goals {
	if n > 2000 {
		return goals{rssMiB: 1024, cores: 1}
	}
	return goals{rssMiB: 256, cores: 0.2}
}

func run(ctx context.Context, s settings) (err error) {
	began := time.Now()
	g := goalsFor(s.N)
	fmt.Printf("bench/scale: %d services, health every %s, %d rps of users in all, blue-green (watch %s, minRequests %d), %d deploy calls in flight",
		s.N, s.Health, s.RPS, s.Watch, s.MinRequests, s.Parallel)
	if !s.Deploy {
		fmt.Print(", no deploys")
	}
	if s.Fleet > 0 {
		fmt.Printf(", %d proxy followers on etcd", s.Fleet)
	}
	fmt.Println()
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
	be, err := startBackends(ctx, dir, s.OneAddr)
	if err != nil {
		return err
	}
	defer be.stop()
	where := "each service's instances at a loopback address of their own, 127.1.1.1…"
	if s.OneAddr {
		where = "every instance at 127.0.0.1 (-one-addr)"
	}
	fmt.Printf("backends: %s (v1 port %s, v2 port %s, %s)\n", be.kind, be.v1Port, be.v2Port, where)

	storeConfig := "store:\n  path: ./bluejay.db"
	var etcdEndpoint string
	if s.Fleet > 0 {
		e, err := startEtcd()
		if err != nil {
			return err
		}
		defer e.Stop()
		etcdEndpoint = e.Endpoints()[0]
		storeConfig = etcdStore(etcdEndpoint)
		fmt.Printf("etcd: %s (data in %s)\n", etcdEndpoint, e.Dir)
	}

	b, err := startBluejay(ctx, dir, s, be, storeConfig)
	if b != nil {
		defer b.stop()
	}
	if err != nil {
		return err
	}
	var rows []row

	// 1. Every service served through the proxy.
	served, err := b.waitAllServed(ctx, s.N, s.ServeLimit)
	if err != nil {
		return err
	}
	if served < s.N {
		rows = append(rows, row{"all served after start", fmt.Sprintf("not within %s: %d of %d", s.ServeLimit, served, s.N), "(reported)", ""})
		fmt.Printf("%d of %d served within %s of start\n", served, s.N, s.ServeLimit)
		if s.Deploy {
			return fmt.Errorf("%d of %d services not served within %s (see %s)", s.N-served, s.N, s.ServeLimit, b.log)
		}
	} else {
		took := time.Since(b.started)
		rows = append(rows, row{"all served after start", took.Round(100 * time.Millisecond).String(), "(reported)", ""})
		fmt.Printf("all %d served %s after start\n", s.N, took.Round(100*time.Millisecond))
	}

	var followers []*bluejay
	if s.Fleet > 0 {
		followers, err = startFollowers(ctx, b, s, be, storeConfig, s.Fleet)
		for _, f := range followers {
			defer f.stop()
		}
		if err != nil {
			return err
		}
		fstart := time.Now()
		for _, f := range followers {
			if served, err := f.waitAllServed(ctx, s.N, s.ServeLimit); err != nil || served < s.N {
				return fmt.Errorf("follower: %d of %d served within %s: %v (see %s)", served, s.N, s.ServeLimit, err, f.log)
			}
		}
		rows = append(rows, row{fmt.Sprintf("%d followers: all served after start", s.Fleet), time.Since(fstart).Round(100 * time.Millisecond).String(), "(reported)", ""})
	}

	// 2. Idle: nothing but health checks.
	if err := sleep(ctx, 2*time.Second); err != nil { // let the first rollouts' aftermath pass
		return err
	}
	var idleProfile func() error
	if s.CPUProfile != "" && !s.Deploy {
		idleProfile = b.cpuProfile(ctx, s.CPUProfile, s.Idle)
	}
	idle, err := cpuOver(ctx, b.cmd.Process.Pid, s.Idle)
	if err != nil {
		return err
	}
	if idleProfile != nil {
		if err := idleProfile(); err != nil {
			return err
		}
	}
	rows = append(rows, row{fmt.Sprintf("idle CPU (health checks only, over %s)", s.Idle), fmt.Sprintf("%.2f cores", idle),
		fmt.Sprintf("≤ %.1f cores", g.cores), meets(idle <= g.cores, fmt.Sprintf("%.2f over", idle-g.cores))})
	fmt.Printf("idle CPU %.2f cores\n", idle)
	idleRSS, err := currentRSS(b.cmd.Process.Pid)
	if err != nil {
		return err
	}
	rows = append(rows, rssRow("RSS at idle (VmRSS)", idleRSS, s.N, g))

	// 3. The status of every service, as `bluejay status` asks it.
	st, err := b.timeStatus(ctx, s.StatusCalls)
	if err != nil {
		return err
	}
	rows = append(rows, statusRow(fmt.Sprintf("status of all, idle (%d calls)", len(st)), st))

	peak := idleRSS
	if s.Deploy {
		dr, hwm, err := deployWave(ctx, s, b, be, followers, etcdEndpoint, g)
		if err != nil {
			return err
		}
		rows = append(rows, dr...)
		peak = hwm
	} else if s.HeapProfile != "" {
		if err := b.profile(ctx, "heap", s.HeapProfile); err != nil {
			return err
		}
		stats, _ := b.memStats(ctx)
		_ = b.profile(ctx, "goroutine", goroutinePath(s.HeapProfile))
		fmt.Printf("heap profile taken at idle: %s\nthe runtime's memory then: %s\n", s.HeapProfile, stats)
	}
	if hwm, err := peakRSS(b.cmd.Process.Pid); err == nil {
		peak = hwm
		if !s.Deploy {
			rows = append(rows, rssRow("peak RSS (VmHWM)", hwm, s.N, g))
		}
	}

	fmt.Printf("\n%-44s %-40s %-14s %s\n", "measure", "value", "goal", "")
	for _, r := range rows {
		fmt.Printf("%-44s %-40s %-14s %s\n", r.measure, r.value, r.goal, r.verdict)
	}
	fmt.Println()
	fmt.Println(perCore(s.N, peak, idle))
	var goroutines string
	if s.HeapProfile != "" {
		goroutines = goroutinePath(s.HeapProfile)
	}
	for _, p := range []struct{ path, sample string }{{s.CPUProfile, ""}, {s.HeapProfile, "inuse_space"}, {goroutines, ""}} {
		if _, err := os.Stat(p.path); err == nil {
			fmt.Printf("\n%s (go tool pprof -top):\n%s\n", p.path, pprofTop(b.bin, p.path, 15, p.sample))
		}
	}
	fmt.Printf("\n%s in all\n", time.Since(began).Round(time.Second))
	return nil
}

// deployWave sends users, deploys v2 to every service and waits for the
// rollouts; it returns the rows and the peak RSS.
func deployWave(ctx context.Context, s settings, b *bluejay, be *backends, followers []*bluejay, etcdEndpoint string, g goals) ([]row, int64, error) {
	var rows []row
	users := startLoad(ctx, b.proxy, s.N, s.RPS)
	defer users.stop()
	if err := sleep(ctx, 5*time.Second); err != nil {
		return nil, 0, err
	}
	var rw *routeWatch
	if len(followers) > 0 {
		var err error
		if rw, err = watchRoutes(ctx, etcdEndpoint); err != nil {
			return nil, 0, err
		}
	}
	stopHeap := make(chan struct{})
	var heap *peakHeap
	if s.HeapProfile != "" {
		heap = b.watchHeap(ctx, s.HeapProfile, stopHeap)
	}
	var cpu func() error
	if s.CPUProfile != "" {
		cpu = b.cpuProfile(ctx, s.CPUProfile, s.CPUSeconds)
	}
	calls, first, refused, undeployed := b.deployAll(ctx, s.N, s.Parallel, be)
	callText := calls.Round(100 * time.Millisecond).String()
	if refused > 0 {
		callText += fmt.Sprintf(" (%d refused and retried, %d never deployed)", refused, undeployed)
	}
	rows = append(rows, row{fmt.Sprintf("%d deploy calls (%d in flight)", s.N, s.Parallel), callText, "(reported)", ""})
	fmt.Printf("%d deploy calls took %s (%d refused, %d services never deployed)\n", s.N, calls.Round(100*time.Millisecond), refused, undeployed)
	done, phases, during, err := b.waitAllCompleted(ctx, first, 5*time.Minute)
	if err != nil {
		return nil, 0, err
	}
	doneText := "not all: " + phases
	if done > 0 {
		doneText = done.Round(100*time.Millisecond).String() + " after the first call"
	}
	off := phases
	if done > 3*time.Minute {
		off = (done - 3*time.Minute).Round(100*time.Millisecond).String() + " over"
	}
	rows = append(rows, row{"all rollouts Completed", doneText, "≤ 3m", meets(done > 0 && done <= 3*time.Minute, off)})
	rows = append(rows, statusRow(fmt.Sprintf("status of all, during rollouts (%d calls)", len(during)), during))
	users.stop()
	close(stopHeap)
	if heap != nil {
		if err := heap.wait(); err != nil {
			return nil, 0, err
		}
		fmt.Printf("heap profile taken at RSS %.0f MiB: %s\nthe runtime's memory then: %s\n", float64(heap.rss)/(1<<20), s.HeapProfile, heap.stats)
	}
	if cpu != nil {
		if err := cpu(); err != nil {
			return nil, 0, err
		}
	}
	failed, total := users.failed.Load(), users.total.Load()
	rows = append(rows, row{"failed user requests", fmt.Sprintf("%d of %d", failed, total), "0", meets(failed == 0, fmt.Sprintf("%d over", failed))})
	hwm, err := peakRSS(b.cmd.Process.Pid)
	if err != nil {
		return nil, 0, err
	}
	rows = append(rows, rssRow("peak RSS (VmHWM)", hwm, s.N, g))
	if rw != nil {
		rows = append(rows, fleetRows(rw, followers)...)
	}
	return rows, hwm, nil
}

// fleetRows stops the followers and reads from their logs when each
// applied each weight change the bench saw in etcd.
func fleetRows(rw *routeWatch, followers []*bluejay) []row {
	changes := rw.close()
	var logs []map[string][]applied
	var fr []row
	for i, f := range followers {
		if hwm, err := peakRSS(f.cmd.Process.Pid); err == nil {
			fr = append(fr, row{fmt.Sprintf("follower %d peak RSS", i), fmt.Sprintf("%.0f MiB", float64(hwm)/(1<<20)), "(reported)", ""})
		}
		f.stop()
		l, err := followerLog(f.log)
		if err != nil {
			fr = append(fr, row{fmt.Sprintf("follower %d log", i), err.Error(), "", ""})
			continue
		}
		logs = append(logs, l)
	}
	delays, missing := propagation(changes, logs, rw.start)
	p99 := quantile(delays, 0.99)
	value := fmt.Sprintf("p50 %s, p99 %s, max %s of %d", ms(quantile(delays, 0.5)), ms(p99), ms(quantile(delays, 1)), len(delays))
	if missing > 0 {
		value += fmt.Sprintf(" (%d never applied)", missing)
	}
	rows := []row{{fmt.Sprintf("weight change → all %d followers", len(followers)), value, "p99 < 100ms",
		meets(len(delays) > 0 && p99 < 100*time.Millisecond && missing == 0, fmt.Sprintf("p99 %s over", ms(p99-100*time.Millisecond)))}}
	return append(rows, fr...)
}

func ms(d time.Duration) string { return d.Round(time.Millisecond).String() }

func rssRow(measure string, rss int64, n int, g goals) row {
	mib := float64(rss) / (1 << 20)
	return row{measure, fmt.Sprintf("%.0f MiB (%.0f KiB per service)", mib, float64(rss)/1024/float64(n)),
		fmt.Sprintf("≤ %.0f MiB", g.rssMiB), meets(mib <= g.rssMiB, fmt.Sprintf("%.0f MiB over", mib-g.rssMiB))}
}

func statusRow(measure string, d []time.Duration) row {
	if len(d) == 0 {
		return row{measure, "no call", "< 200ms", "NOT met (no call)"}
	}
	slices.Sort(d)
	med, worst := d[len(d)/2], d[len(d)-1]
	return row{measure, fmt.Sprintf("median %s, max %s", ms(med), ms(worst)), "< 200ms",
		meets(worst < 200*time.Millisecond, fmt.Sprintf("max %s over", ms(worst-200*time.Millisecond)))}
}

// perCore estimates, from the measured RSS and idle CPU per service, the
// largest count of services one core carries within the 2,000-service
// goals: those goals (256 MiB and 0.2 cores idle for 2,000) are 1,280
// MiB and 1 core idle per core of idle budget.
func perCore(n int, rss int64, idle float64) string {
	perRSS := float64(rss) / float64(n)     // bytes per service, the whole process's RSS shared out
	perCPU := idle / float64(n)             // cores per service at idle
	byMem := int(1280 * (1 << 20) / perRSS) // within 256 MiB per 0.2 cores
	byCPU := math.MaxInt
	if perCPU > 0 {
		byCPU = int(1 / perCPU)
	}
	limit, by := byMem, "memory"
	if byCPU < byMem {
		limit, by = byCPU, "idle CPU"
	}
	return fmt.Sprintf("largest count per core within the 2,000-service goals (256 MiB and 0.2 cores idle per 2,000, i.e. 1,280 MiB and 1 core idle per core): "+
		"about %d services, bound by %s (measured %.0f KiB RSS and %.0f µcores idle per service at %d: %d by memory, %d by idle CPU)",
		limit, by, perRSS/1024, perCPU*1e6, n, byMem, min(byCPU, 1<<31))
}

// meets is a row's verdict: "met", or "NOT met" and how far off.
func meets(ok bool, off string) string {
	if ok {
		return "met"
	}
	return "NOT met (" + off + ")"
}

// deployAll deploys v2 to every service, parallel calls at a time, each
// tried up to 5 times, and returns how long the calls took, when the
// first one was made, how many calls were refused and how many services
// were never deployed.
func (b *bluejay) deployAll(ctx context.Context, n, parallel int, be *backends) (time.Duration, time.Time, int64, int64) {
	var (
		next    atomic.Int64
		refused atomic.Int64 // calls refused
		failed  atomic.Int64 // services whose every call was refused
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
				// A refused call is tried again, as a user would: the
				// etcd store refuses a rollout whose creation lost too
				// many times to the others (see README).
				for attempt := 1; ; attempt++ {
					_, err := b.client.Deploy(ctx, serviceName(i), api.DeployBody{Version: "v2", Strategy: engine.StrategyBlueGreen, Targets: []string{be.addr(i, "v2")}})
					if err == nil {
						break
					}
					if refused.Add(1) <= 3 {
						fmt.Fprintf(os.Stderr, "deploy %s (attempt %d): %v\n", serviceName(i), attempt, err)
					}
					if attempt == 5 || sleep(ctx, time.Duration(attempt)*200*time.Millisecond) != nil {
						failed.Add(1)
						break
					}
				}
			}
		}()
	}
	wg.Wait()
	return time.Since(start), start, refused.Load(), failed.Load()
}

// waitAllCompleted polls the services' status until every service's
// latest rollout is v2's and Completed, and returns the time since first
// (0 and a count of phases if the deadline passed first) and how long
// each status call took.
func (b *bluejay) waitAllCompleted(ctx context.Context, first time.Time, limit time.Duration) (time.Duration, string, []time.Duration, error) {
	deadline := first.Add(limit)
	var took []time.Duration // of each status call
	for {
		t0 := time.Now()
		sts, err := b.client.Services(ctx)
		if err != nil {
			return 0, "", took, err
		}
		took = append(took, time.Since(t0))
		count := map[string]int{}
		for _, st := range sts {
			ph := string(st.Rollout.Phase)
			if st.Rollout.To.Label != "v2" {
				ph = "not deployed"
			}
			count[ph]++
		}
		if count[string(engine.PhaseCompleted)] == len(sts) {
			return time.Since(first), "", took, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Sprint(count), took, nil
		}
		if err := sleep(ctx, time.Second); err != nil {
			return 0, "", took, err
		}
	}
}

// timeStatus times n calls of the status of every service.
func (b *bluejay) timeStatus(ctx context.Context, n int) ([]time.Duration, error) {
	var took []time.Duration
	for range n {
		t0 := time.Now()
		if _, err := b.client.Services(ctx); err != nil {
			return nil, fmt.Errorf("status: %w", err)
		}
		took = append(took, time.Since(t0))
	}
	return took, nil
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
