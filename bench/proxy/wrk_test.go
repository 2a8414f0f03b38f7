package main

import (
	"strings"
	"testing"
	"time"
)

const wrkOutput = `Running 10s test @ http://127.0.0.1:41111/
  1 threads and 1000 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency    62.41ms  150.22ms   1.99s    95.12%
    Req/Sec    15.49k     2.01k   19.80k    72.00%
  Latency Distribution
     50%   51.31ms
     75%   60.12ms
     90%   80.40ms
     99%    1.06s
  154082 requests in 10.03s, 22.04MB read
  Socket errors: connect 0, read 3, write 0, timeout 24
  Non-2xx or 3xx responses: 5
Requests/sec:  15367.02
Transfer/sec:      2.20MB
`

func TestParseWrk(t *testing.T) {
	got, err := parseWrk(wrkOutput)
	if err != nil {
		t.Fatal(err)
	}
	want := wrkResult{rps: 15367.02, requests: 154082, p50: 51310 * time.Microsecond, p99: 1060 * time.Millisecond, errors: 32}
	if got != want {
		t.Errorf("parseWrk = %+v, want %+v", got, want)
	}
}

func TestParseWrkIncomplete(t *testing.T) {
	if _, err := parseWrk("unable to connect to 127.0.0.1:1 Connection refused\n"); err == nil {
		t.Error("parseWrk of an output without results: no error")
	}
}

func TestParseWrkDuration(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
	}{
		{"812.00us", 812 * time.Microsecond},
		{"1.20ms", 1200 * time.Microsecond},
		{"2.01s", 2010 * time.Millisecond},
		{"1.50m", 90 * time.Second},
	}
	for _, tt := range tests {
		got, err := parseWrkDuration(tt.in)
		if err != nil || got != tt.want {
			t.Errorf("parseWrkDuration(%q) = %v, %v; want %v", tt.in, got, err, tt.want)
		}
	}
	if _, err := parseWrkDuration("3.0xs"); err == nil {
		t.Error(`parseWrkDuration("3.0xs"): no error`)
	}
}

func TestMedian(t *testing.T) {
	ss := []sample{{rps: 3, p99: 30}, {rps: 1, p99: 10}, {rps: 2, p99: 50}}
	if m := median(ss); m.rps != 2 || m.p99 != 30 {
		t.Errorf("median = rps %v p99 %v, want 2 and 30 (each field on its own)", m.rps, m.p99)
	}
}

// TestBest: the peers' best figures come from NGINX, HAProxy and H2O,
// each from whichever is best at it, never from Caddy (a Go proxy) or
// bluejay.
func TestBest(t *testing.T) {
	res := map[key]sample{
		{"nginx", 50}:   {rps: 30000, p99: 5 * time.Millisecond, cpuPerReq: 30 * time.Microsecond},
		{"haproxy", 50}: {rps: 28000, p99: 3 * time.Millisecond, cpuPerReq: 35 * time.Microsecond},
		{"h2o", 50}:     {rps: 25000, p99: 4 * time.Millisecond, cpuPerReq: 20 * time.Microsecond},
		{"caddy", 50}:   {rps: 90000, p99: time.Millisecond, cpuPerReq: time.Microsecond},
		{"bluejay", 50}: {rps: 99000, p99: time.Microsecond, cpuPerReq: time.Nanosecond},
	}
	b := best(res, 50)
	if b.rps != 30000 || b.rpsBy != "nginx" || b.p99 != 3*time.Millisecond || b.p99By != "haproxy" ||
		b.cpuPerReq != 20*time.Microsecond || b.cpuBy != "h2o" {
		t.Errorf("best = %+v, want req/s from nginx, p99 from haproxy, cpu/req from h2o", b)
	}
	if b := best(res, 1000); b.ok {
		t.Errorf("best at an unmeasured connection count = %+v, want none", b)
	}
}

// TestGoals: each goal is judged for bluejay and bluejay-net, a goal
// not met says by how much.
func TestGoals(t *testing.T) {
	one := func(s sample) []sample { return []sample{s} }
	results := map[key][]sample{
		{"nginx", 1000}:       one(sample{rps: 20000, p99: 900 * time.Millisecond, cpuPerReq: 50 * time.Microsecond, rss: 30 << 20}),
		{"haproxy", 1000}:     one(sample{rps: 18000, p99: 90 * time.Millisecond, cpuPerReq: 60 * time.Microsecond, rss: 30 << 20}),
		{"bluejay", 1000}:     one(sample{rps: 10000, p99: 45 * time.Millisecond, cpuPerReq: 100 * time.Microsecond, rss: 96 << 20, errors: 3}),
		{"bluejay-net", 1000}: one(sample{rps: 40000, p99: 180 * time.Millisecond, cpuPerReq: 25 * time.Microsecond, rss: 32 << 20}),
	}
	var sb strings.Builder
	printGoals(&sb, options{conns: []int{1000}}, results)
	out := sb.String()
	for _, want := range []string{
		"bluejay     -c1000  req/s ≥ fastest:      10000 vs     20000 (nginx): NOT met (0.50× of it)",
		"bluejay     -c1000  p99 ≤ best:         45.00ms vs   90.00ms (haproxy): met",
		"bluejay     -c1000  cpu/req ≤ lowest:   100.0us vs    50.0us (nginx): NOT met (2.00× of it)",
		"bluejay     -c1000  RSS ≤ 64 MiB:       96.0MiB: NOT met (1.50× of it)",
		"bluejay     -c1000  0 errors:                 3: NOT met (3)",
		"bluejay-net -c1000  req/s ≥ fastest:      40000 vs     20000 (nginx): met",
		"bluejay-net -c1000  p99 ≤ best:        180.00ms vs   90.00ms (haproxy): NOT met (2.00× of it)",
		"bluejay-net -c1000  cpu/req ≤ lowest:    25.0us vs    50.0us (nginx): met",
		"bluejay-net -c1000  RSS ≤ 64 MiB:       32.0MiB: met",
		"bluejay-net -c1000  0 errors:                 0: met",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("goals lack %q:\n%s", want, out)
		}
	}
}
