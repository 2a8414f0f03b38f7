package main

import (
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
