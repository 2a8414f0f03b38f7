package controller_test

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// TestProbesKeepTheirConnection: the default client's health probes
// reuse one connection to an instance rather than dialing for each
// (issue 22: with thousands of instances probed every second, the
// connections were most of the probes' CPU).
func TestProbesKeepTheirConnection(t *testing.T) {
	var conns, probes atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			probes.Add(1)
			return
		}
		fmt.Fprintln(w, "version=v1")
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	v1 := &backend{Server: srv, version: "v1"}
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), service(v1))
	r.waitPhase(1, engine.PhaseCompleted)
	from, before := probes.Load(), conns.Load()
	deadline := time.Now().Add(30 * time.Second)
	for probes.Load() < from+20 {
		if time.Now().After(deadline) {
			t.Fatalf("%d probes in 30s, want 20 (every 20ms)", probes.Load()-from)
		}
		time.Sleep(10 * time.Millisecond) // poll interval
	}
	n := conns.Load() - before
	t.Logf("%d new connections for %d probes", n, probes.Load()-from)
	if n > 5 {
		t.Errorf("%d new connections for %d probes, want the probes to reuse theirs (at most 5 new: a probe that times out under load closes its connection)", n, probes.Load()-from)
	}
}
