package main

import (
	"fmt"
	"io"
	"slices"
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

// peers are the proxies bluejay is held against.
var peers = []string{"nginx", "haproxy"}

// best returns the peers' best req/s and p99 at conns (each from
// whichever peer is best at it) and their names; ok is false when no
// peer was measured.
func best(res map[key]sample, conns int) (rps float64, rpsBy string, p99 time.Duration, p99By string, ok bool) {
	for _, p := range peers {
		s, found := res[key{p, conns}]
		if !found {
			continue
		}
		if !ok || s.rps > rps {
			rps, rpsBy = s.rps, p
		}
		if !ok || s.p99 < p99 {
			p99, p99By = s.p99, p
		}
		ok = true
	}
	return rps, rpsBy, p99, p99By, ok
}

func medians(results map[key][]sample) map[key]sample {
	m := map[key]sample{}
	for k, ss := range results {
		m[k] = median(ss)
	}
	return m
}

// printTable prints the medians with their ratios to direct and to the
// best of NGINX and HAProxy.
func printTable(w io.Writer, o options, targets []target, results map[key][]sample) {
	res := medians(results)
	fmt.Fprintf(w, "medians of %d run(s); RSS: the largest sampled while wrk ran (NGINX: master + workers); cpu/req: the server's CPU time per request;\n", o.runs)
	fmt.Fprintf(w, "vs dir, vs best: req/s over direct's and over the faster of nginx/haproxy; p99/best: p99 over the better of theirs; others: cores used by other processes\n")
	fmt.Fprintf(w, "%-14s %6s %9s %9s %9s %9s %7s %7s %8s %8s %6s %6s\n",
		"target", "conns", "req/s", "p50", "p99", "RSS", "vs dir", "vs best", "p99/best", "cpu/req", "errors", "others")
	for _, c := range o.conns {
		bestRPS, _, bestP99, _, haveBest := best(res, c)
		direct, haveDirect := res[key{"direct", c}]
		for _, t := range targets {
			s, ok := res[key{t.name, c}]
			if !ok {
				continue
			}
			vsDirect, vsBest, p99Best := "-", "-", "-"
			if haveDirect && direct.rps > 0 {
				vsDirect = fmt.Sprintf("%.2f", s.rps/direct.rps)
			}
			if haveBest && bestRPS > 0 {
				vsBest = fmt.Sprintf("%.2f", s.rps/bestRPS)
			}
			if haveBest && bestP99 > 0 {
				p99Best = fmt.Sprintf("%.2f", float64(s.p99)/float64(bestP99))
			}
			fmt.Fprintf(w, "%-14s %6d %9.0f %9s %9s %9s %7s %7s %8s %8s %6d %6.2f\n", t.name, c, s.rps, fmtDur(s.p50), fmtDur(s.p99),
				fmtMiB(s.rss), vsDirect, vsBest, p99Best, fmtDur(s.cpuPerReq), s.errors, s.others)
		}
	}
	fmt.Fprintln(w)
}

// rssGoal is the memory goal at rssGoalConns connections.
const (
	rssGoal      = 64 << 20
	rssGoalConns = 1000
)

// printGoals judges bluejay against the goals at each
// connection count: req/s at least the faster peer's, p99 at most the
// better peer's, and RSS at most 64 MiB at 1000 connections.
func printGoals(w io.Writer, o options, results map[key][]sample) {
	res := medians(results)
	fmt.Fprintln(w, "goals (issue 4), on the medians:")
	for _, c := range o.conns {
		bj, ok := res[key{"bluejay", c}]
		if !ok {
			fmt.Fprintf(w, "  -c%d: bluejay not measured\n", c)
			continue
		}
		bestRPS, rpsBy, bestP99, p99By, ok := best(res, c)
		if !ok {
			fmt.Fprintf(w, "  -c%d: neither nginx nor haproxy measured: nothing to compare with\n", c)
		} else {
			fmt.Fprintf(w, "  -c%-5d req/s ≥ faster of nginx/haproxy: %.0f vs %.0f (%s), %.2f×: %s\n",
				c, bj.rps, bestRPS, rpsBy, bj.rps/bestRPS, met(bj.rps >= bestRPS))
			fmt.Fprintf(w, "  -c%-5d p99 ≤ better of nginx/haproxy:   %s vs %s (%s), %.2f×: %s\n",
				c, fmtDur(bj.p99), fmtDur(bestP99), p99By, float64(bj.p99)/float64(bestP99), met(bj.p99 <= bestP99))
		}
		if c == rssGoalConns {
			fmt.Fprintf(w, "  -c%-5d RSS ≤ 64 MiB:                      %s: %s\n", c, fmtMiB(bj.rss), met(bj.rss <= rssGoal))
		}
	}
	if !slices.Contains(o.conns, rssGoalConns) {
		fmt.Fprintf(w, "  RSS ≤ 64 MiB at %d connections: not measured (add %d to -c)\n", rssGoalConns, rssGoalConns)
	}
	fmt.Fprintln(w)
}

func met(ok bool) string {
	if ok {
		return "met"
	}
	return "NOT met"
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
