package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"
)

// profile fetches one of serve's runtime profiles (admin.pprof) into
// path: "heap", or "profile?seconds=N" for CPU.
func (b *bluejay) profile(ctx context.Context, what, path string) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.admin+"/debug/pprof/"+what, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+b.client.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("fetching the %s profile: %w", what, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		msg, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return fmt.Errorf("fetching the %s profile: HTTP %d %s", what, resp.StatusCode, msg)
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	_, err = io.Copy(f, resp.Body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// cpuProfile takes a CPU profile of serve over d into path, in the
// background; wait returns its error.
func (b *bluejay) cpuProfile(ctx context.Context, path string, d time.Duration) (wait func() error) {
	errc := make(chan error, 1)
	go func() {
		errc <- b.profile(ctx, fmt.Sprintf("profile?seconds=%d", int(d.Seconds())), path)
	}()
	return func() error { return <-errc }
}

// peakHeap keeps the heap profile taken at the highest RSS seen: it
// samples serve's RSS every second until stop is closed, and fetches a
// heap profile into path whenever the RSS passed the highest at which
// one was taken by more than 5%.
type peakHeap struct {
	path  string
	rss   int64  // at the kept profile
	stats string // the runtime's MemStats then
	err   error
	done  chan struct{}
}

func (b *bluejay) watchHeap(ctx context.Context, path string, stop <-chan struct{}) *peakHeap {
	h := &peakHeap{path: path, done: make(chan struct{})}
	go func() {
		defer close(h.done)
		t := time.NewTicker(time.Second)
		defer t.Stop()
		for {
			rss, err := currentRSS(b.cmd.Process.Pid)
			if err == nil && rss > h.rss+h.rss/20 {
				tmp := path + ".tmp"
				if err := b.profile(ctx, "heap", tmp); err != nil {
					h.err = err
				} else if err := os.Rename(tmp, path); err != nil {
					h.err = err
				} else {
					h.rss = rss
					h.stats, _ = b.memStats(ctx)
					_ = b.profile(ctx, "goroutine", goroutinePath(path))
				}
			}
			select {
			case <-stop:
				return
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *peakHeap) wait() error { <-h.done; return h.err }

// pprofTop is `go tool pprof -top` of a profile, its first n lines.
func pprofTop(bin, path string, n int, sample string) string {
	args := []string{"tool", "pprof", "-top", fmt.Sprintf("-nodecount=%d", n)}
	if sample != "" {
		args = append(args, "-sample_index="+sample)
	}
	out, err := exec.Command("go", append(args, bin, path)...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("go tool pprof: %v\n%s", err, out)
	}
	return strings.TrimRight(string(out), "\n")
}

// currentRSS is VmRSS from /proc/PID/status, in bytes.
func currentRSS(pid int) (int64, error) { return procStatus(pid, "VmRSS:") }

// memStats is the runtime's account of serve's memory, from the end of
// /debug/pprof/heap?debug=1: where the RSS goes besides live objects
// (heap kept for the GC, stacks, runtime structures).
func (b *bluejay) memStats(ctx context.Context) (string, error) {
	tmp, err := os.CreateTemp(b.dir, "heap-*.txt")
	if err != nil {
		return "", err
	}
	tmp.Close()
	defer os.Remove(tmp.Name())
	if err := b.profile(ctx, "heap?debug=1", tmp.Name()); err != nil {
		return "", err
	}
	text, err := os.ReadFile(tmp.Name())
	if err != nil {
		return "", err
	}
	var out []string
	mib := func(v string) string {
		n, _ := strconv.ParseInt(v, 10, 64)
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	}
	for line := range strings.Lines(string(text)) {
		if v, ok := strings.CutPrefix(line, "# Stack = "); ok { // inuse / sys
			out = append(out, "StackInuse "+mib(strings.Fields(v)[0]))
		}
		for _, k := range []string{"Sys", "HeapAlloc", "HeapSys", "HeapInuse", "HeapIdle", "HeapReleased", "GCSys", "OtherSys", "NextGC", "NumGC"} {
			if strings.HasPrefix(line, "# "+k+" = ") {
				f := strings.Fields(line)
				v := f[len(f)-1]
				if n, err := strconv.ParseInt(v, 10, 64); err == nil && k != "NumGC" {
					v = fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
				}
				out = append(out, k+" "+v)
			}
		}
	}
	if n, err := b.goroutines(ctx); err == nil {
		out = append(out, fmt.Sprintf("goroutines %d", n))
	}
	return strings.Join(out, ", "), nil
}

// goroutines is how many goroutines serve runs.
func (b *bluejay) goroutines(ctx context.Context) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+b.admin+"/debug/pprof/goroutine?debug=1", nil)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "Bearer "+b.client.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int
	_, err = fmt.Fscanf(resp.Body, "goroutine profile: total %d", &n)
	return n, err
}

// goroutinePath is where a goroutine profile taken with the heap
// profile at path goes.
func goroutinePath(heap string) string {
	return strings.TrimSuffix(strings.TrimSuffix(heap, ".gz"), ".pb") + ".goroutines.pb.gz"
}
