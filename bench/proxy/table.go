package main

import (
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// key names the samples of one target at one connection count.
type key struct {
	target string
	conns  int
}

// sample is one measurement.
type sample struct {
	rps       float64
	p50, p99  time.Duration
	rss       int64         // the largest RSS seen during the run, bytes
	cpuPerReq time.Duration // the server's CPU time per request
	errors    int64
	others    float64 // cores used by processes the bench did not start
}

// median is the per-field median of samples: each column is the median
// of its own runs.
func median(ss []sample) sample {
	return sample{
		rps:       medianOf(ss, func(s sample) float64 { return s.rps }),
		p50:       time.Duration(medianOf(ss, func(s sample) float64 { return float64(s.p50) })),
		p99:       time.Duration(medianOf(ss, func(s sample) float64 { return float64(s.p99) })),
		rss:       int64(medianOf(ss, func(s sample) float64 { return float64(s.rss) })),
		cpuPerReq: time.Duration(medianOf(ss, func(s sample) float64 { return float64(s.cpuPerReq) })),
		errors:    int64(medianOf(ss, func(s sample) float64 { return float64(s.errors) })),
		others:    medianOf(ss, func(s sample) float64 { return s.others }),
	}
}

func medianOf(ss []sample, f func(sample) float64) float64 {
	vs := make([]float64, len(ss))
	for i, s := range ss {
		vs[i] = f(s)
	}
	slices.Sort(vs)
	n := len(vs)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return vs[n/2]
	}
	return (vs[n/2-1] + vs[n/2]) / 2
}

// peers are the proxies bluejay is held against: the C ones. Caddy,
// written in Go, is measured but not a peer.
var peers = []string{"nginx", "haproxy", "h2o"}

// bests are the peers' best figures at one connection count, each from
// whichever peer is best at it.
type bests struct {
	rps       float64
	rpsBy     string
	p99       time.Duration
	p99By     string
	cpuPerReq time.Duration
	cpuBy     string
	ok        bool // some peer was measured
	haveCPU   bool // some peer's cpu/req was measured
}

// best returns the peers' best req/s, p99 and cpu/req at conns.
func best(res map[key]sample, conns int) bests {
	var b bests
	for _, p := range peers {
		s, found := res[key{p, conns}]
		if !found {
			continue
		}
		if !b.ok || s.rps > b.rps {
			b.rps, b.rpsBy = s.rps, p
		}
		if !b.ok || s.p99 < b.p99 {
			b.p99, b.p99By = s.p99, p
		}
		if s.cpuPerReq > 0 && (!b.haveCPU || s.cpuPerReq < b.cpuPerReq) {
			b.cpuPerReq, b.cpuBy, b.haveCPU = s.cpuPerReq, p, true
		}
		b.ok = true
	}
	return b
}

func medians(results map[key][]sample) map[key]sample {
	m := map[key]sample{}
	for k, ss := range results {
		m[k] = median(ss)
	}
	return m
}

// ratio formats a/b, or "-" when b is 0.
func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f", a/b)
}

// printTable prints the medians with their ratios to direct and to the
// best of the C proxies.
func printTable(w io.Writer, o options, targets []target, results map[key][]sample) {
	res := medians(results)
	fmt.Fprintf(w, "medians of %d run(s); RSS: the largest sampled while wrk ran (NGINX: master + workers); cpu/req: the server's CPU time per request;\n", o.runs)
	fmt.Fprintf(w, "vs dir: req/s over direct's; vs best, p99/best, cpu/best: req/s, p99 and cpu/req over the best of %s (each its own best); others: cores used by other processes\n",
		strings.Join(peers, "/"))
	fmt.Fprintf(w, "%-14s %6s %9s %9s %9s %9s %7s %7s %8s %8s %8s %6s %6s\n",
		"target", "conns", "req/s", "p50", "p99", "RSS", "vs dir", "vs best", "p99/best", "cpu/req", "cpu/best", "errors", "others")
	for _, c := range o.conns {
		b := best(res, c)
		direct := res[key{"direct", c}]
		for _, t := range targets {
			s, ok := res[key{t.name, c}]
			if !ok {
				continue
			}
			fmt.Fprintf(w, "%-14s %6d %9.0f %9s %9s %9s %7s %7s %8s %8s %8s %6d %6.2f\n", t.name, c, s.rps, fmtDur(s.p50), fmtDur(s.p99),
				fmtMiB(s.rss), ratio(s.rps, direct.rps), ratio(s.rps, b.rps), ratio(float64(s.p99), float64(b.p99)),
				fmtDur(s.cpuPerReq), ratio(float64(s.cpuPerReq), float64(b.cpuPerReq)), s.errors, s.others)
		}
	}
	fmt.Fprintln(w)
}

// rssGoal is the memory goal at rssGoalConns connections.
const (
	rssGoal      = 64 << 20
	rssGoalConns = 1000
)

// judged are the targets the goals are checked for.
var judged = []string{"bluejay", "bluejay-net"}

// printGoals judges each bluejay target against issue 21's goals at
// each connection count: req/s at least the fastest peer's, p99 and
// cpu/req at most the best peer's, RSS at most 64 MiB at 1000
// connections, no errors. A goal not met gives its distance as a ratio.
func printGoals(w io.Writer, o options, results map[key][]sample) {
	res := medians(results)
	fmt.Fprintf(w, "goals (issue 21), on the medians, against the best of %s:\n", strings.Join(peers, "/"))
	for _, name := range judged {
		for _, c := range o.conns {
			bj, ok := res[key{name, c}]
			if !ok {
				continue
			}
			at := fmt.Sprintf("  %-11s -c%-5d", name, c)
			b := best(res, c)
			if !b.ok {
				fmt.Fprintf(w, "%s none of %s measured: nothing to compare with\n", at, strings.Join(peers, "/"))
			} else {
				fmt.Fprintf(w, "%s req/s ≥ fastest:  %9.0f vs %9.0f (%s): %s\n", at, bj.rps, b.rps, b.rpsBy,
					judge(bj.rps >= b.rps, fmt.Sprintf("%.2f× of it", bj.rps/b.rps)))
				fmt.Fprintf(w, "%s p99 ≤ best:       %9s vs %9s (%s): %s\n", at, fmtDur(bj.p99), fmtDur(b.p99), b.p99By,
					judge(bj.p99 <= b.p99, fmt.Sprintf("%.2f× of it", float64(bj.p99)/float64(b.p99))))
				if b.haveCPU {
					fmt.Fprintf(w, "%s cpu/req ≤ lowest: %9s vs %9s (%s): %s\n", at, fmtDur(bj.cpuPerReq), fmtDur(b.cpuPerReq), b.cpuBy,
						judge(bj.cpuPerReq <= b.cpuPerReq, fmt.Sprintf("%.2f× of it", float64(bj.cpuPerReq)/float64(b.cpuPerReq))))
				}
			}
			if c == rssGoalConns {
				fmt.Fprintf(w, "%s RSS ≤ 64 MiB:     %9s: %s\n", at, fmtMiB(bj.rss),
					judge(bj.rss <= rssGoal, fmt.Sprintf("%.2f× of it", float64(bj.rss)/rssGoal)))
			}
			fmt.Fprintf(w, "%s 0 errors:         %9d: %s\n", at, bj.errors, judge(bj.errors == 0, fmt.Sprintf("%d", bj.errors)))
		}
	}
	if !slices.Contains(o.conns, rssGoalConns) {
		fmt.Fprintf(w, "  RSS ≤ 64 MiB at %d connections: not measured (add %d to -c)\n", rssGoalConns, rssGoalConns)
	}
	fmt.Fprintln(w)
}

// judge is "met" or "NOT met (distance)".
func judge(ok bool, distance string) string {
	if ok {
		return "met"
	}
	return "NOT met (" + distance + ")"
}

func fmtDur(d time.Duration) string {
	switch {
	case d == 0:
		return "-"
	case d < time.Millisecond:
		return fmt.Sprintf("%.1fus", float64(d)/float64(time.Microsecond))
	case d < time.Second:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.2fs", d.Seconds())
	}
}

func fmtMiB(b int64) string {
	return fmt.Sprintf("%.1fMiB", float64(b)/(1<<20))
}
