// Command proxy measures bluejay's builtin proxy against NGINX, HAProxy,
// H2O and Caddy with wrk: one backend (NGINX answering a fixed body, or a
// Go server when NGINX is missing), then wrk straight at it, through a
// real `bluejay serve` with every proxy feature on and a canary held at
// 10%, and through each other proxy configured alike. Each measurement
// gets a fresh proxy process; the targets are interleaved and the table
// shows the medians of -runs runs, their ratios to the best of the C
// proxies, and issue 21's goals. -cpuprofile then profiles internal/proxy
// under the same load in a child process. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// options are the bench's flags.
type options struct {
	threads        int           // wrk -t
	conns          []int         // wrk -c, one row set each
	duration       time.Duration // wrk -d of a measurement
	warmup         time.Duration // wrk -d of the uncounted run before it
	runs           int
	targets        []string
	workers        int // NGINX workers and HAProxy threads
	backendWorkers int // the NGINX backend's workers
	cpuprofile     string
	memprofile     string
	heapprofile    string
	quiet          float64       // most cores others may use before a measurement
	quietWait      time.Duration // longest wait for that
	keep           bool
}

func main() {
	var (
		o       options
		conns   = flag.String("c", "50,1000", "wrk connections, comma-separated: one set of rows each")
		targets = flag.String("targets", "direct,bluejay,bluejay-net,nginx,haproxy,h2o,caddy", "targets to measure, comma-separated; also httputil, httputil+pool, httputil+tuned: bare httputil.ReverseProxy variants (see README.md); empty for none")
		child   = flag.String("child", "", "internal: run as the bench's child process (backend, proxy, httputil...)")
		listen  = flag.String("listen", "", "internal: the child's listen address")
		listen2 = flag.String("listen2", "", "internal: the backend child's second listen address")
		up      = flag.String("upstream", "", "internal: the child proxy's upstream address")
	)
	flag.IntVar(&o.threads, "t", 1, "wrk threads")
	flag.DurationVar(&o.duration, "d", 8*time.Second, "wrk duration of each measurement")
	flag.DurationVar(&o.warmup, "warmup", 2*time.Second, "wrk run before each measurement, not counted (0: none)")
	flag.IntVar(&o.runs, "runs", 3, "runs of each target, interleaved; the table shows medians")
	flag.IntVar(&o.workers, "workers", runtime.GOMAXPROCS(0), "NGINX worker processes, HAProxy and H2O threads, Caddy's GOMAXPROCS: bluejay's GOMAXPROCS")
	flag.IntVar(&o.backendWorkers, "backend-workers", 1, "worker processes of the NGINX backend")
	flag.StringVar(&o.cpuprofile, "cpuprofile", "", "after the table, run internal/proxy in a child process under wrk and write its CPU profile to this file")
	flag.StringVar(&o.memprofile, "memprofile", "", "with -cpuprofile: write the profiled proxy's allocation profile (its whole life) to this file")
	flag.StringVar(&o.heapprofile, "heapprofile", "", "with -cpuprofile: load the profiled proxy at the largest -c too, and write its in-use heap, taken mid-run, to this file")
	flag.Float64Var(&o.quiet, "quiet", 0.2, "before each measurement, wait until other processes use at most this many cores (0: don't wait)")
	flag.DurationVar(&o.quietWait, "quiet-wait", time.Minute, "longest wait for -quiet")
	flag.BoolVar(&o.keep, "keep", false, "keep the temp dir (configs, logs)")
	flag.Parse()

	if *child != "" {
		if err := runChild(*child, []string{*listen, *listen2}, *up, childProfiles{cpu: o.cpuprofile, heap: o.heapprofile, allocs: o.memprofile}); err != nil {
			fmt.Fprintln(os.Stderr, "bench/proxy child:", err)
			os.Exit(1)
		}
		return
	}
	var err error
	if o.conns, err = parseInts(*conns); err != nil {
		fatal(fmt.Errorf("-c: %w", err))
	}
	if *targets != "" {
		o.targets = strings.Split(*targets, ",")
	}
	// A closed stdout (| head) must not kill the bench before it stopped
	// its servers: writes then fail instead.
	signal.Ignore(syscall.SIGPIPE)
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "bench/proxy:", err)
	os.Exit(1)
}

func run(ctx context.Context, o options) (err error) {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk not found: install it (Debian: apt-get install wrk)")
	}
	e, err := newEnv(ctx, o)
	if e != nil {
		defer e.close(&err)
	}
	if err != nil {
		return err
	}
	fmt.Printf("bench/proxy: wrk -t%d -d%s (warm-up %s), connections %v, %d run(s); backend %s; nginx/haproxy/h2o/caddy workers %d\n",
		o.threads, o.duration, o.warmup, o.conns, o.runs, e.backendDesc, o.workers)
	fmt.Printf("machine: %s, %d CPUs, GOMAXPROCS %d, %s/%s, %s\n\n", cpuModel(), runtime.NumCPU(), runtime.GOMAXPROCS(0),
		runtime.GOOS, runtime.GOARCH, runtime.Version())

	targets := e.available(o.targets)
	if len(targets) > 0 {
		results, err := measureAll(ctx, e, o, targets)
		if err != nil {
			return err
		}
		printTable(os.Stdout, o, targets, results)
		printGoals(os.Stdout, o, results)
	}
	if o.cpuprofile != "" {
		return profile(ctx, e, o)
	}
	return nil
}

// measureAll runs every target at every connection count, runs times,
// interleaved: run 1 of each, then run 2 of each, so that a slow spell of
// the machine does not land on one target only.
func measureAll(ctx context.Context, e *env, o options, targets []target) (map[key][]sample, error) {
	results := map[key][]sample{}
	fmt.Printf("%-4s %-14s %6s %10s %9s %9s %9s %9s %7s %7s\n", "run", "target", "conns", "req/s", "p50", "p99", "RSS", "cpu/req", "errors", "others")
	for r := 1; r <= o.runs; r++ {
		for _, c := range o.conns {
			for _, t := range targets {
				s, err := measureOne(ctx, e, o, t, c)
				if err != nil {
					return nil, fmt.Errorf("%s at %d connections: %w", t.name, c, err)
				}
				k := key{t.name, c}
				results[k] = append(results[k], s)
				fmt.Printf("%-4d %-14s %6d %10.0f %9s %9s %9s %9s %7d %7.2f\n", r, t.name, c, s.rps, fmtDur(s.p50), fmtDur(s.p99),
					fmtMiB(s.rss), fmtDur(s.cpuPerReq), s.errors, s.others)
			}
		}
	}
	fmt.Println()
	return results, nil
}

// measureOne starts a fresh instance of t (so that its RSS reflects this
// load only), waits for a quiet machine, warms t up, measures it and
// stops it.
func measureOne(ctx context.Context, e *env, o options, t target, conns int) (sample, error) {
	srv, err := startRetrying(ctx, e, t)
	if err != nil {
		return sample{}, err
	}
	defer srv.stop()
	if err := waitQuiet(ctx, o.quiet, o.quietWait); err != nil {
		return sample{}, err
	}
	url := "http://" + srv.addr + "/"
	if o.warmup > 0 {
		if _, err := runWrk(ctx, url, o.threads, conns, o.warmup); err != nil {
			return sample{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	ours := []*server{srv}
	if srv != e.backend {
		ours = append(ours, e.backend)
	}
	cpu0, sys0, self0, start := cpuOf(ours), systemCPU(), selfCPU(), time.Now()
	peak := srv.watchRSS(200 * time.Millisecond)
	res, err := runWrk(ctx, url, o.threads, conns, o.duration)
	rss := peak()
	if err != nil {
		return sample{}, err
	}
	if srv.exited() {
		return sample{}, fmt.Errorf("%s exited during the run (see %s)", t.name, srv.log)
	}
	// ours: the server, the backend behind it, wrk and this program.
	cpu1 := cpuOf(ours)
	var oursCPU time.Duration
	for i := range ours {
		oursCPU += cpu1[i] - cpu0[i]
	}
	srvCPU := cpu1[0] - cpu0[0]
	others := systemCPU() - sys0 - oursCPU - res.cpu - (selfCPU() - self0)
	s := sample{rps: res.rps, p50: res.p50, p99: res.p99, rss: rss, errors: res.errors,
		others: max(0, others.Seconds()/time.Since(start).Seconds())}
	if res.requests > 0 {
		s.cpuPerReq = srvCPU / time.Duration(res.requests)
	}
	if srv.check != nil {
		if err := srv.check(ctx); err != nil {
			fmt.Printf("     warning: %s at %d connections: %v: this run did not measure what it should\n", t.name, conns, err)
		}
	}
	return s, nil
}

// startTries is how many times a target is started before the bench
// gives up: on a shared machine another program may take its port
// between freeAddr and its bind.
const startTries = 3

// startRetrying starts t, again with fresh addresses if it fails.
func startRetrying(ctx context.Context, e *env, t target) (*server, error) {
	for i := 1; ; i++ {
		srv, err := t.start(ctx, e)
		if err == nil || i == startTries || ctx.Err() != nil {
			return srv, err
		}
		fmt.Printf("     %s did not start (%v): trying again\n", t.name, err)
	}
}

// cpuOf is the CPU time each server has used.
func cpuOf(servers []*server) []time.Duration {
	out := make([]time.Duration, len(servers))
	for i, s := range servers {
		out[i] = s.cpu()
	}
	return out
}

func parseInts(s string) ([]int, error) {
	var out []int
	for f := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a positive number", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, errors.New("no value")
	}
	return slices.Compact(out), nil
}

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
