// Command judges compares analysis judges on simulated canaries, with no
// network: how often each rolls back a canary that is no worse than its
// baseline, and how many canary requests (and failed ones) each needs to
// catch one that is worse. See README.md.
package main

import (
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

func main() {
	var (
		rps         = flag.Int("rps", 1000, "requests per second to the service")
		share       = flag.Float64("share", 0.05, "canary share of the traffic")
		interval    = flag.Duration("interval", time.Second, "analysis interval: how often judges look")
		duration    = flag.Duration("duration", 5*time.Minute, "length of an analysis (error-rate scenarios)")
		latDur      = flag.Duration("latency-duration", time.Minute, "length of an analysis (latency scenarios)")
		aaRuns      = flag.Int("aa-runs", 1000, "runs of each A/A scenario")
		runs        = flag.Int("runs", 200, "runs of each other scenario")
		minReq      = flag.Int64("min-requests", 100, "canary requests before any judge may pass")
		resSize     = flag.Int("reservoir", 1000, "latency samples kept per side")
		seed        = flag.Uint64("seed", 1, "random seed")
		only        = flag.String("only", "", "run only scenarios whose name contains this")
		workers     = flag.Int("workers", runtime.GOMAXPROCS(0), "parallel runs")
		cpuProf     = flag.String("cpuprofile", "", "write a CPU profile to this file")
		horizonFl   = flag.Int64("horizon", 0, "canary requests of the fixed-horizon tests (default: the analysis's expected canary requests)")
		stepDur     = flag.Duration("step-duration", time.Minute, "length of a step analysis (promotion scenarios)")
		promoRuns   = flag.Int("promotion-runs", 1000, "runs of each promotion scenario")
		rolloutRuns = flag.Int("rollout-runs", 1000, "A/A runs of a whole default rollout")
	)
	flag.Parse()
	if *cpuProf != "" {
		f, err := os.Create(*cpuProf)
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		pprof.StartCPUProfile(f)
		defer pprof.StopCPUProfile()
	}
	start := time.Now()
	cfg := config{rps: *rps, share: *share, reservoir: *resSize, seed: *seed, workers: *workers}
	scenarios := []scenario{
		{name: "errors 1% → 1% (A/A)", aa: true, errBase: 0.01, errCan: 0.01},
		{name: "errors 1% → 1.25% (at the margin)", errBase: 0.01, errCan: 0.0125, rolloutOnly: true},
		{name: "errors 1% → 1.5%", errBase: 0.01, errCan: 0.015},
		{name: "errors 1% → 2%", errBase: 0.01, errCan: 0.02},
		{name: "errors 1% → 5%", errBase: 0.01, errCan: 0.05},
		{name: "errors 1% → 100%", errBase: 0.01, errCan: 1},
		{name: "latency ×1.0 (A/A)", latency: true, aa: true, scale: 1},
		{name: "latency ×1.03", latency: true, scale: 1.03},
		{name: "latency ×1.05", latency: true, scale: 1.05},
		{name: "latency ×1.2", latency: true, scale: 1.2},
		{name: "latency ×1.5", latency: true, scale: 1.5},
	}
	perInterval := int(float64(*rps) * interval.Seconds())
	fmt.Printf("bench/judges: %d rps, canary share %.0f%%, interval %s, %d runs A/A and %d otherwise, minRequests %d, reservoir %d, seed %d\n",
		*rps, 100**share, *interval, *aaRuns, *runs, *minReq, *resSize, *seed)
	var rows []row
	for i, sc := range scenarios {
		if !strings.Contains(sc.name, *only) || sc.rolloutOnly {
			continue
		}
		d, judges := *duration, errorJudges
		if sc.latency {
			d, judges = *latDur, latencyJudges
		}
		cfg.intervals = int(d / *interval)
		cfg.perInterval = perInterval
		p := params{minRequests: *minReq, horizon: *horizonFl}
		if p.horizon == 0 {
			p.horizon = int64(float64(cfg.intervals*perInterval) * *share)
		}
		n := *runs
		if sc.aa {
			n = *aaRuns
		}
		js := judges(p)
		outs := runScenario(cfg, i, sc, n, func() []benchJudge { return judges(p) })
		for k, j := range js {
			rows = append(rows, summarize(sc, j.name, outs[k]))
		}
	}
	full := cfg
	full.intervals, full.perInterval = int(*stepDur / *interval), perInterval
	for i, sc := range scenarios {
		name := "at 100%: " + sc.name
		if sc.latency || sc.rolloutOnly || !strings.Contains(name, *only) {
			continue
		}
		n := *runs
		if sc.aa {
			n = *aaRuns
		}
		sc.name = name
		outs := fullTraffic(full, i, sc, n, full.intervals, params{minRequests: *minReq})
		rows = append(rows, summarize(sc, "sequential vs baseline before, per failure", outs))
	}
	if len(rows) > 0 {
		printTable(os.Stdout, rows)
	}
	promotion(cfg, scenarios, *only, *stepDur, *interval, *promoRuns, params{minRequests: *minReq})
	rolloutTable(cfg, scenarios, *only, *stepDur, *interval, *rolloutRuns, *runs, params{minRequests: *minReq})
	fmt.Printf("\n%s, %d workers\n", time.Since(start).Round(100*time.Millisecond), *workers)
}

type config struct {
	rps, perInterval, intervals, reservoir, workers int
	share                                           float64
	seed                                            uint64
}

// outcome is what one judge did in one run.
type outcome struct {
	failed         bool
	requests, errs int64 // canary requests and failed ones at the rollback
}

// runScenario runs n seeded runs in parallel and returns, per judge, the
// outcome of each run. Run r's randomness depends only on the seed, the
// scenario and r, so the table does not depend on -workers.
func runScenario(cfg config, index int, sc scenario, n int, judges func() []benchJudge) [][]outcome {
	nj := len(judges())
	outs := make([][]outcome, nj)
	for k := range outs {
		outs[k] = make([]outcome, n)
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for range cfg.workers {
		wg.Go(func() {
			js := judges() // a worker's own, though judges are safe to share
			for r := range next {
				rng := rand.New(rand.NewPCG(cfg.seed, uint64(index)<<32|uint64(r)))
				for k, o := range run(cfg, sc, js, rng) {
					outs[k][r] = o
				}
			}
		})
	}
	for r := range n {
		next <- r
	}
	close(next)
	wg.Wait()
	return outs
}

// run simulates one analysis request by request; each judge looks at
// every interval's end (and per-failure judges at every canary failure)
// until it rolls back or stops looking.
func run(cfg config, sc scenario, js []benchJudge, rng *rand.Rand) []outcome {
	st := &state{latency: sc.latency}
	st.canary.res.size, st.baseline.res.size = cfg.reservoir, cfg.reservoir
	outs := make([]outcome, len(js))
	active := make([]bool, len(js))
	for k := range active {
		active[k] = true
	}
	left := len(js)
	look := func(k int) {
		fail, again := js[k].check(st)
		if fail {
			outs[k] = outcome{failed: true, requests: st.canary.requests, errs: st.canary.errors}
		}
		if fail || !again {
			active[k] = false
			left--
		}
	}
	for t := 0; t < cfg.intervals && left > 0; t++ {
		for range cfg.perInterval {
			canaryFailed := request(cfg, sc, st, rng)
			if canaryFailed {
				for k, j := range js {
					if active[k] && j.perFailure {
						look(k)
					}
				}
			}
		}
		st.last = t == cfg.intervals-1
		for k := range js {
			if active[k] {
				look(k)
			}
		}
	}
	return outs
}

// request routes one request and records it; it reports a canary failure.
func request(cfg config, sc scenario, st *state, rng *rand.Rand) bool {
	canary := rng.Float64() < cfg.share
	s, rate, scale := &st.baseline, sc.errBase, 1.0
	if canary {
		s, rate, scale = &st.canary, sc.errCan, sc.scale
	}
	s.requests++
	if sc.latency {
		ms := scale * latency(rng)
		s.sketch.add(ms)
		s.res.add(rng, ms)
		return false
	}
	if rng.Float64() < rate {
		s.errors++
		return canary
	}
	return false
}

// row is one line of the table.
type row struct {
	judge, scenario      string
	aa                   bool
	runs, failed         int
	medReq, medErr, medS float64
	latency              bool
}

func summarize(sc scenario, judge string, outs []outcome) row {
	r := row{judge: judge, scenario: sc.name, aa: sc.aa, runs: len(outs), latency: sc.latency}
	var req, errs []float64
	for _, o := range outs {
		if o.failed {
			r.failed++
			req = append(req, float64(o.requests))
			errs = append(errs, float64(o.errs))
		}
	}
	r.medReq, r.medErr = median(req), median(errs)
	return r
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return -1
	}
	slices.Sort(xs)
	n := len(xs)
	if n%2 == 1 {
		return xs[n/2]
	}
	return (xs[n/2-1] + xs[n/2]) / 2
}

// promotion prints how step analyses of the error scenarios end: the
// Pass rule's promotions of canaries worse than the margin are false.
func promotion(cfg config, scenarios []scenario, only string, d, interval time.Duration, n int, p params) {
	cfg.intervals = int(d / interval)
	cfg.perInterval = int(float64(cfg.rps) * interval.Seconds())
	var cells [][]string
	for i, sc := range scenarios {
		if sc.latency || sc.errCan >= 1 || sc.rolloutOnly || !strings.Contains("promotion "+sc.name, only) {
			continue
		}
		js := promotionJudges(p)
		outs := runPromotion(cfg, i, sc, n, func() []promoJudge { return promotionJudges(p) })
		cells = append(cells, promotionRows(sc, js, outs, n)...)
	}
	if len(cells) == 0 {
		return
	}
	fmt.Printf("\npromotion: step analyses of %s, %d runs each; a promotion of a canary worse than the margin (25%%) is false\n\n", d, n)
	writeCells(os.Stdout, append([][]string{{"judge", "scenario", "promoted", "rolled back", "paused (Inconclusive)"}}, cells...))
}

// printTable writes rows as a fixed-width table that is also Markdown.
func printTable(w io.Writer, rows []row) {
	cells := [][]string{{"judge", "scenario", "false rollbacks (A/A) / detections", "median canary requests to detection", "median canary failed requests before detection"}}
	for _, r := range rows {
		kind := "detected"
		if r.aa {
			kind = "false"
		}
		med, errs := "-", "-"
		if r.medReq >= 0 {
			med = fmt.Sprintf("%.0f", r.medReq)
			if !r.latency {
				errs = fmt.Sprintf("%.0f", r.medErr)
			}
		}
		cells = append(cells, []string{r.judge, r.scenario,
			fmt.Sprintf("%s %d/%d (%.1f%%)", kind, r.failed, r.runs, 100*float64(r.failed)/float64(r.runs)), med, errs})
	}
	writeCells(w, cells)
}

// writeCells writes a header row and rows as a fixed-width table that is
// also Markdown, numbers (from the third column) right-aligned.
func writeCells(w io.Writer, cells [][]string) {
	width := make([]int, len(cells[0]))
	for _, c := range cells {
		for i, s := range c {
			width[i] = max(width[i], utf8.RuneCountInString(s))
		}
	}
	line := func(c []string, pad func(i int, s string) string) {
		var b strings.Builder
		b.WriteString("|")
		for i, s := range c {
			b.WriteString(" " + pad(i, s) + " |")
		}
		fmt.Fprintln(w, b.String())
	}
	align := func(i int, s string) string {
		gap := strings.Repeat(" ", width[i]-utf8.RuneCountInString(s))
		if i >= 2 { // numbers right
			return gap + s
		}
		return s + gap
	}
	line(cells[0], align)
	rule := make([]string, len(width))
	for i, n := range width {
		rule[i] = strings.Repeat("-", n)
		if i >= 2 {
			rule[i] = rule[i][1:] + ":"
		}
	}
	line(rule, func(_ int, s string) string { return s })
	for _, c := range cells[1:] {
		line(c, align)
	}
}
