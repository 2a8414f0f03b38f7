package main

import (
	"bufio"
	"context"
	"fmt"
	"math"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// wrkResult is what the bench reads from wrk's output.
type wrkResult struct {
	rps      float64
	requests int64
	p50, p99 time.Duration
	errors   int64         // socket errors of every kind, and non-2xx/3xx answers
	cpu      time.Duration // wrk's own CPU time
}

// runWrk runs wrk with --latency and parses its report.
func runWrk(ctx context.Context, url string, threads, conns int, d time.Duration) (wrkResult, error) {
	cmd := exec.CommandContext(ctx, "wrk", "--latency", "-t"+strconv.Itoa(threads), "-c"+strconv.Itoa(conns),
		"-d"+strconv.Itoa(max(1, int(d.Round(time.Second)/time.Second)))+"s", url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return wrkResult{}, fmt.Errorf("wrk: %w\n%s", err, out)
	}
	res, err := parseWrk(string(out))
	res.cpu = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if err != nil {
		return res, fmt.Errorf("%w in wrk's output:\n%s", err, out)
	}
	return res, nil
}

// parseWrk reads wrk's report, for example:
//
//	  Latency Distribution
//	     50%  250.00us
//	     99%    1.20ms
//	  1900000 requests in 10.00s, 250.00MB read
//	  Socket errors: connect 0, read 3, write 0, timeout 0
//	  Non-2xx or 3xx responses: 5
//	Requests/sec: 190000.00
func parseWrk(out string) (wrkResult, error) {
	var (
		r    wrkResult
		seen int
		err  error
	)
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		switch {
		case len(f) == 2 && f[0] == "50%":
			r.p50, err = parseWrkDuration(f[1])
			seen |= 1
		case len(f) == 2 && f[0] == "99%":
			r.p99, err = parseWrkDuration(f[1])
			seen |= 2
		case len(f) == 2 && f[0] == "Requests/sec:":
			r.rps, err = strconv.ParseFloat(f[1], 64)
			seen |= 4
		case len(f) > 2 && f[1] == "requests" && f[2] == "in":
			r.requests, err = strconv.ParseInt(f[0], 10, 64)
		case len(f) > 2 && f[0] == "Socket" && f[1] == "errors:":
			// connect N, read N, write N, timeout N
			for i := 3; i < len(f); i += 2 {
				n, _ := strconv.ParseInt(strings.TrimSuffix(f[i], ","), 10, 64)
				r.errors += n
			}
		case strings.HasPrefix(sc.Text(), "  Non-2xx or 3xx responses:"):
			n, _ := strconv.ParseInt(f[len(f)-1], 10, 64)
			r.errors += n
		}
		if err != nil {
			return r, err
		}
	}
	if seen != 7 {
		return r, fmt.Errorf("no p50, p99 or Requests/sec")
	}
	return r, nil
}

// parseWrkDuration reads wrk's latencies: 812.00us, 1.20ms, 2.01s, 1.50m.
func parseWrkDuration(s string) (time.Duration, error) {
	units := []struct {
		suffix string
		unit   time.Duration
	}{{"us", time.Microsecond}, {"ms", time.Millisecond}, {"s", time.Second}, {"m", time.Minute}, {"h", time.Hour}}
	for _, u := range units {
		if v, ok := strings.CutSuffix(s, u.suffix); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				return 0, fmt.Errorf("latency %q: %w", s, err)
			}
			return time.Duration(math.Round(f * float64(u.unit))), nil
		}
	}
	return 0, fmt.Errorf("latency %q: unknown unit", s)
}
