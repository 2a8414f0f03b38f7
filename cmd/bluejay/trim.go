package main

import (
	"log/slog"
	"os"
)

// The binary is large (the Kubernetes, etcd, Postgres and SQLite clients
// are all linked in), and its package initialisers run code and read type
// data and function tables scattered across most of it, so that a
// starting process maps 50–55 MiB of the executable that the long-running
// proxy never reads again: most of `bluejay serve`'s resident memory
// before its first request (issue 21). trimStartupPages, called by serve
// and proxy once they are set up, unmaps the executable's read-only pages
// (code, read-only data, function tables) from the process; what the
// process runs afterwards is mapped back on demand from the page cache,
// as at any first call. Nothing the process wrote is dropped: only
// mappings that were never writable are. BLUEJAY_TRIM=0 turns it off.

// trimEnv is the environment variable that turns trimStartupPages off.
const trimEnv = "BLUEJAY_TRIM"

// trimStartupPages releases the executable's read-only pages, unless
// BLUEJAY_TRIM=0; a failure is logged at debug and changes nothing else.
func trimStartupPages(log *slog.Logger) {
	if os.Getenv(trimEnv) == "0" {
		return
	}
	n, err := releaseExecutablePages()
	if err != nil {
		log.Debug("releasing the executable's startup pages", "err", err)
		return
	}
	if n > 0 {
		log.Debug("released the executable's startup pages", "bytes", n)
	}
}
