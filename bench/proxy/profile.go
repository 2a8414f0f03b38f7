package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"
)

// profile runs internal/proxy's Proxy in a child process (see runChild)
// under wrk at the first connection count, profiles it after the
// warm-up, and prints what it cost per request and its top functions;
// with -heapprofile it then loads it at the largest connection count and
// takes its in-use heap mid-run. The child is a process of its own, as
// `bluejay serve` is: the profiles hold the proxy's work only.
func profile(ctx context.Context, e *env, o options) error {
	var paths [3]string
	for i, p := range []string{o.cpuprofile, o.memprofile, o.heapprofile} {
		if p == "" {
			continue
		}
		abs, err := filepath.Abs(p)
		if err != nil {
			return err
		}
		paths[i] = abs
	}
	cpu, allocs, heap := paths[0], paths[1], paths[2]
	conns, most := o.conns[0], slices.Max(o.conns)
	fmt.Printf("profile: internal/proxy in a child process, wrk -t%d -c%d -d%s after a %s warm-up\n", o.threads, conns, o.duration, o.warmup)
	srv, err := e.startGo(ctx, "proxy", e.backend.addr, "-cpuprofile", cpu, "-memprofile", allocs, "-heapprofile", heap)
	if err != nil {
		return err
	}
	defer srv.stop()
	if err := waitQuiet(ctx, o.quiet, o.quietWait); err != nil {
		return err
	}
	url := "http://" + srv.addr + "/"
	if o.warmup > 0 {
		if _, err := runWrk(ctx, url, o.threads, conns, o.warmup); err != nil {
			return fmt.Errorf("warm-up: %w", err)
		}
	}
	signal := func(sig syscall.Signal) error { return srv.cmd.Process.Signal(sig) }
	if err := signal(syscall.SIGUSR1); err != nil { // start the CPU profile
		return err
	}
	res, err := runWrk(ctx, url, o.threads, conns, o.duration)
	if err != nil {
		return err
	}
	if err := signal(syscall.SIGUSR1); err != nil { // stop it
		return err
	}
	fmt.Printf("wrk -c%d: %.0f req/s, p50 %s, p99 %s, %d errors\n", conns, res.rps, fmtDur(res.p50), fmtDur(res.p99), res.errors)
	if heap != "" && most > conns {
		if err := heapUnderLoad(ctx, o, url, most, signal); err != nil {
			return err
		}
	}
	srv.stop() // SIGTERM: the child writes the allocation profile
	if code := srv.cmd.ProcessState.ExitCode(); code != 0 {
		return fmt.Errorf("the profiled proxy exited with %d (see %s)", code, srv.log)
	}
	if out, err := os.ReadFile(srv.log); err == nil {
		for line := range strings.Lines(string(out)) {
			if strings.HasPrefix(line, "profiled ") || strings.HasPrefix(line, "heap: ") {
				fmt.Print(line)
			}
		}
	}
	fmt.Println()
	tops := [][]string{{"-top", "-nodecount=30", cpu}, {"-top", "-cum", "-nodecount=45", cpu}}
	if allocs != "" {
		tops = append(tops, []string{"-top", "-sample_index=alloc_space", "-nodecount=15", allocs},
			[]string{"-top", "-sample_index=alloc_objects", "-nodecount=25", allocs})
	}
	if heap != "" && most > conns {
		tops = append(tops, []string{"-top", "-sample_index=inuse_space", "-nodecount=20", heap})
	}
	for _, args := range tops {
		if err := pprofTop(ctx, args...); err != nil {
			return err
		}
	}
	return nil
}

// heapUnderLoad runs wrk at conns and has the child write its in-use
// heap halfway through.
func heapUnderLoad(ctx context.Context, o options, url string, conns int, signal func(syscall.Signal) error) error {
	fmt.Printf("heap: wrk -c%d for %s, in-use heap taken halfway\n", conns, o.duration)
	done := make(chan error, 1)
	var res wrkResult
	go func() {
		var err error
		res, err = runWrk(ctx, url, o.threads, conns, o.duration)
		done <- err
	}()
	select {
	case err := <-done:
		return fmt.Errorf("wrk ended early: %v", err)
	case <-time.After(o.duration / 2):
	}
	if err := signal(syscall.SIGUSR2); err != nil {
		return err
	}
	if err := <-done; err != nil {
		return err
	}
	fmt.Printf("wrk -c%d: %.0f req/s, p50 %s, p99 %s, %d errors\n", conns, res.rps, fmtDur(res.p50), fmtDur(res.p99), res.errors)
	return nil
}

// pprofTop prints `go tool pprof ARGS`.
func pprofTop(ctx context.Context, args ...string) error {
	cmd := exec.CommandContext(ctx, "go", append([]string{"tool", "pprof"}, args...)...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return fmt.Errorf("go tool pprof: %w\n%s", err, out)
	}
	fmt.Printf("$ go tool pprof %s\n%s\n", strings.Join(args, " "), out)
	return nil
}
