package main

import (
	"log/slog"
	"os"
	"runtime/debug"
)

// serveGOGC is the garbage collector's target percentage for serve and
// proxy when the environment does not set GOGC. Go's default, 100, lets
// the heap grow to twice what is live before a collection; the proxy's
// live heap is mostly its connections' buffers (20 KiB read, 4 KiB write
// per client connection on the fast path), and the garbage of requests
// allocated between collections is memory the process touches and keeps.
// At 50 the heap grows to 1.5× its live part, for a collection about
// twice as often (the proxy allocates a few hundred bytes per request).
// `go run ./bench/proxy -targets bluejay,haproxy`, peak RSS of serve:
// 103 → 78 MiB at 1,000 connections, 54 → 40 MiB at 50, CPU per request
// within the run-to-run noise (1.33–1.60× HAProxy's either way); GOGC=25
// gave 75 MiB at 1,000, little more for twice the collections again.
const serveGOGC = 50

// tuneGC sets serveGOGC unless GOGC is set: the user's choice stands.
func tuneGC(log *slog.Logger) {
	if _, ok := os.LookupEnv("GOGC"); ok {
		return
	}
	debug.SetGCPercent(serveGOGC)
	log.Debug("garbage collector target set", "GOGC", serveGOGC)
}
