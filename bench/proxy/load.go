package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// The machine is shared: other processes (a test suite, a build) take
// CPU from the proxies and skew a run. Before each measurement the bench
// waits until the machine is quiet, and each measurement reports how
// many cores the processes it did not start used meanwhile.

// systemCPU is the CPU time all processes have used since boot: user,
// nice, system and steal from /proc/stat's cpu line. Interrupt and
// softirq time is left out: loopback TCP is processed there, for the
// bench's processes too, and a process's own times do not include it.
func systemCPU() time.Duration {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	if len(f) < 9 || f[0] != "cpu" {
		return 0
	}
	var ticks int64
	for _, i := range []int{1, 2, 3, 8} {
		n, _ := strconv.ParseInt(f[i], 10, 64)
		ticks += n
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// selfCPU is the CPU time this program has used.
func selfCPU() time.Duration {
	st, _ := readStat(os.Getpid())
	return st.cpu
}

// waitQuiet waits until the processes other than the bench's own use at
// most maxCores over a second, for up to maxWait; then it measures anyway,
// saying so. The bench's servers are idle meanwhile, so the machine's
// load is all others'. maxCores ≤ 0 does not wait.
func waitQuiet(ctx context.Context, maxCores float64, maxWait time.Duration) error {
	if maxCores <= 0 {
		return nil
	}
	deadline := time.Now().Add(maxWait)
	warned := false
	for {
		sys0, self0 := systemCPU(), selfCPU()
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(time.Second): // the window the load is measured over
		}
		load := (systemCPU() - sys0 - (selfCPU() - self0)).Seconds()
		switch {
		case load <= maxCores:
			return nil
		case time.Now().After(deadline):
			fmt.Printf("     machine still busy after %s (%.2f cores used by other processes): measuring anyway\n", maxWait, load)
			return nil
		case !warned:
			fmt.Printf("     machine busy (%.2f cores used by other processes): waiting up to %s for ≤ %.2f\n", load, maxWait, maxCores)
			warned = true
		}
	}
}
