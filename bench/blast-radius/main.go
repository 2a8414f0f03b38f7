// Command blast-radius measures how much harm a bad canary does before
// bluejay rolls it back: it runs the real `bluejay serve` with the sample
// app under a fixed-rate load through the proxy, deploys canaries that
// fail all or some of their requests, one that is slow and one that is
// healthy, each at a 1% first step, and prints for each the verdict, the
// time from the canary's first request to the rollback, and how many
// user requests failed. See README.md.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// scenario is one kind of canary.
type scenario struct {
	name string
	args []string // the sample app's fault flags
	want engine.Phase
}

var scenarios = []scenario{
	{"500 on 100%", []string{"--error-rate", "1"}, engine.PhaseRolledBack},
	{"500 on 10%", []string{"--error-rate", "0.1"}, engine.PhaseRolledBack},
	{"+200ms latency", []string{"--latency", "200ms"}, engine.PhaseRolledBack},
	{"healthy", nil, engine.PhaseCompleted},
}

// result is one canary's outcome.
type result struct {
	phase  engine.Phase
	reason string
	// toEnd is from the canary's first request (as sent by the load
	// generator) to the rollout's end: the rollback, or the completion.
	toEnd time.Duration
	// lastCanary is from the first canary request to the last canary
	// response the generator got (requests in flight at the rollback
	// finish after it).
	lastCanary     time.Duration
	failed         int // user requests failed (5xx, transport) from the deploy until the canary was stopped
	canary         int // user requests the canary answered
	canaryFailed   int
	exposure       int64 // the canary's requests by bluejay's count
	exposureFailed int64
	rps            float64 // achieved by the generator during the scenario
}

func main() {
	var (
		rps      = flag.Int("rps", 1000, "requests per second through the proxy")
		workers  = flag.Int("workers", 64, "concurrent keep-alive clients of the load generator")
		runs     = flag.Int("runs", 1, "runs of each scenario; the table shows medians")
		weight   = flag.Int("weight", 1, "the canary's first step, percent of traffic")
		analysis = flag.Duration("analysis", 20*time.Second, "length of the analysis step")
		minReq   = flag.Int("min-requests", 100, "the analysis template's minRequests")
		only     = flag.String("only", "", "run only scenarios whose name contains this")
		baseline = flag.String("baseline", "", "canary.baseline: stable or dedicated (default: the config's default, stable)")
		keep     = flag.Bool("keep", false, "keep the temp dir (config, store, logs)")
	)
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, *rps, *workers, *runs, *only, *keep, settings{Weight: *weight, Analysis: *analysis, MinRequests: *minReq, Baseline: *baseline}); err != nil {
		fmt.Fprintln(os.Stderr, "blast-radius:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, rps, workers, runs int, only string, keep bool, s settings) (err error) {
	began := time.Now()
	base := s.Baseline
	if base == "" {
		base = "stable (default)"
	}
	fmt.Printf("bench/blast-radius: %d rps target, %d clients, canary at %d%% then analysis %s (interval 1s, minRequests %d), baseline %s, %d run(s)\n",
		rps, workers, s.Weight, s.Analysis, s.MinRequests, base, runs)
	fmt.Printf("machine: %s, %d CPUs, %s/%s, %s\n", cpuModel(), runtime.NumCPU(), runtime.GOOS, runtime.GOARCH, runtime.Version())
	b, err := startBluejay(ctx, s)
	if b != nil {
		defer func() {
			b.stop()
			if keep || err != nil {
				fmt.Printf("kept %s (config, store, serve.log, logs/)\n", b.dir)
			} else {
				os.RemoveAll(b.dir)
			}
		}()
	}
	if err != nil {
		return err
	}
	g := startLoad(ctx, "http://"+b.proxy+"/", rps, workers)
	defer g.stop()
	if err := sleep(ctx, 3*time.Second); err != nil { // warm up: connections, the proxy's windows
		return err
	}
	warm := g.between(0, g.mark())
	fmt.Printf("load: %.0f rps achieved in warm-up (%d missed of the schedule), latency p50 %s p99 %s, %d failed\n\n",
		rate(warm), g.missed.Load(), latencyQuantile(warm, 0.5), latencyQuantile(warm, 0.99), countFailed(warm))

	fmt.Printf("%-3s %-16s %-10s %-7s %12s %12s %7s %8s %9s %6s\n",
		"run", "scenario", "verdict", "version", "to rollback", "last canary", "failed", "canary", "c.failed", "rps")
	results := map[string][]result{}
	n := 1
	for r := 1; r <= runs; r++ {
		for _, sc := range scenarios {
			if !strings.Contains(sc.name, only) {
				continue
			}
			n++
			label := fmt.Sprintf("v%d", n)
			res, err := runScenario(ctx, b.client, g, sc, label)
			if err != nil {
				return fmt.Errorf("%s (%s): %w (see %s)", sc.name, label, err, b.log)
			}
			results[sc.name] = append(results[sc.name], res)
			fmt.Printf("%-3d %-16s %-10s %-7s %12s %12s %7d %8d %9d %6.0f\n", r, sc.name, res.phase, label,
				endTime(res, res.toEnd), endTime(res, res.lastCanary), res.failed, res.canary, res.canaryFailed, res.rps)
		}
	}
	all := g.between(0, g.mark())
	fmt.Printf("\nload over the whole run: %.0f rps achieved, %d requests, %d missed of the schedule, %d failed\n",
		rate(all), len(all), g.missed.Load(), countFailed(all))
	printSummary(results, runs)
	fmt.Printf("\n%s in all\n", time.Since(began).Round(time.Second))
	return nil
}

// runScenario deploys one canary, waits until it ended and its loser was
// stopped, and measures what the users saw meanwhile.
func runScenario(ctx context.Context, c *api.Client, g *loadGen, sc scenario, label string) (result, error) {
	from := g.mark()
	ro, err := c.Deploy(ctx, "web", api.DeployBody{Version: label, Strategy: engine.StrategyCanary, Args: sc.args})
	if err != nil {
		return result{}, err
	}
	if ro, err = waitSettled(ctx, c, ro.ID); err != nil {
		return result{}, err
	}
	if ro.Phase == engine.PhasePaused {
		// Neither promoted nor rolled back (an analysis that ended
		// Inconclusive waits for a person): record that, then abort so
		// that the next scenario starts from the stable version.
		paused := ro
		if _, err := c.Command(ctx, "web", engine.CmdAbort); err != nil {
			return result{}, fmt.Errorf("aborting the paused rollout #%d: %w", ro.ID, err)
		}
		if ro, err = waitSettled(ctx, c, ro.ID); err != nil {
			return result{}, err
		}
		ro.Phase, ro.Reason, ro.Ended = paused.Phase, paused.Reason, paused.PhaseSince
	}
	if err := sleep(ctx, 500*time.Millisecond); err != nil { // answers in flight at the stop
		return result{}, err
	}
	rs := g.between(from, g.mark())
	res := result{phase: ro.Phase, reason: ro.Reason, exposure: ro.Exposure.Requests, exposureFailed: ro.Exposure.Errors,
		failed: countFailed(rs), rps: rate(rs)}
	first, last := time.Duration(-1), time.Duration(0)
	for _, r := range rs {
		if r.version != label {
			continue
		}
		res.canary++
		if r.failed() {
			res.canaryFailed++
		}
		if first < 0 || r.sent < first {
			first = r.sent
		}
		last = max(last, r.done)
	}
	if first >= 0 {
		res.toEnd = g.since(ro.Ended) - first
		res.lastCanary = last - first
	}
	return res, nil
}

// waitSettled polls the rollout until it ended and has nothing left to
// do (the losing version's instances are stopped), or until it waits for
// a person in Paused.
func waitSettled(ctx context.Context, c *api.Client, id int64) (engine.Rollout, error) {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for {
		ro, err := c.Rollout(ctx, id)
		if err != nil {
			return ro, err
		}
		if ro.Phase.Terminal() && ro.Settled || ro.Phase == engine.PhasePaused {
			return ro, nil
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil { // poll interval
			return ro, fmt.Errorf("rollout #%d still %s (settled %v): %w", id, ro.Phase, ro.Settled, err)
		}
	}
}

func printSummary(results map[string][]result, runs int) {
	title := "results"
	if runs > 1 {
		title = fmt.Sprintf("medians of %d runs", runs)
	}
	fmt.Printf("\n%s (to rollback: the canary's first request → rolled back; failed: user requests answered 5xx or not at all, deploy to stop)\n", title)
	fmt.Printf("%-16s %11s %9s %6s  %-11s %12s %7s %8s %9s\n",
		"scenario", "rolled back", "completed", "paused", "as expected", "to rollback", "failed", "canary", "c.failed")
	for _, sc := range scenarios {
		rs := results[sc.name]
		if len(rs) == 0 {
			continue
		}
		fmt.Printf("%-16s %11s %9s %6s  %-11s %12s %7s %8s %9s\n", sc.name,
			count(rs, engine.PhaseRolledBack), count(rs, engine.PhaseCompleted), count(rs, engine.PhasePaused), expected(sc, rs),
			medianEnd(rs), medianInt(rs, func(r result) int { return r.failed }),
			medianInt(rs, func(r result) int { return r.canary }), medianInt(rs, func(r result) int { return r.canaryFailed }))
	}
	if rs := results[scenarios[0].name]; len(rs) > 0 {
		worst := slices.MaxFunc(rs, func(a, b result) int { return a.failed - b.failed })
		verdict := "met"
		if worst.failed > 10 {
			verdict = "NOT met"
		}
		fmt.Printf("\ngoal ≤ 10 failed requests for a 100%%-broken canary at its first step: %s (at most %d in a run)\n", verdict, worst.failed)
	}
	fmt.Println("\nreasons (the last run's, and every unexpected verdict's):")
	for _, sc := range scenarios {
		rs := results[sc.name]
		for i, r := range rs {
			if i == len(rs)-1 || r.phase != sc.want {
				fmt.Printf("  %-16s run %d %s: %s\n", sc.name, i+1, r.phase, shorten(r.reason, 400))
			}
		}
	}
}

// count is how many of rs ended in phase p.
func count(rs []result, p engine.Phase) string {
	n := 0
	for _, r := range rs {
		if r.phase == p {
			n++
		}
	}
	return fmt.Sprint(n)
}

// expected says whether the canaries ended as they should: broken ones
// rolled back, the healthy one not.
func expected(sc scenario, rs []result) string {
	wrong := 0
	for _, r := range rs {
		if r.phase != sc.want {
			wrong++
		}
	}
	switch {
	case wrong == 0:
		return "yes"
	case sc.want == engine.PhaseCompleted:
		return fmt.Sprintf("NO: %d of %d", wrong, len(rs))
	}
	return fmt.Sprintf("NO: %d missed", wrong)
}

// endTime shows d, a time measured up to a rollback, for a rolled-back
// canary and "-" otherwise.
func endTime(r result, d time.Duration) string {
	if r.phase != engine.PhaseRolledBack {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

func medianEnd(rs []result) string {
	var ds []time.Duration
	for _, r := range rs {
		if r.phase == engine.PhaseRolledBack {
			ds = append(ds, r.toEnd)
		}
	}
	if len(ds) == 0 {
		return "-"
	}
	slices.Sort(ds)
	return median(ds).Round(10 * time.Millisecond).String()
}

func medianInt(rs []result, f func(result) int) string {
	xs := make([]int, len(rs))
	for i, r := range rs {
		xs[i] = f(r)
	}
	slices.Sort(xs)
	return fmt.Sprint(median(xs))
}

// median of sorted xs (the lower middle one for an even count).
func median[T any](xs []T) T { return xs[(len(xs)-1)/2] }

func countFailed(rs []response) int {
	n := 0
	for _, r := range rs {
		if r.failed() {
			n++
		}
	}
	return n
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}

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
