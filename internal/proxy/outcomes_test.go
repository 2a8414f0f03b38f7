package proxy_test

import (
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/checks"
	"github.com/bluejay-deploy/bluejay/internal/proxy"
)

var (
	_ checks.Outcomes        = (*proxy.Proxy)(nil)
	_ checks.FailureNotifier = (*proxy.Proxy)(nil)
)

// TestOutcomesForTheProbes: the proxy tells the probes when an instance
// last served a success, and calls NotifyFailures' function when a
// request to it failed (passive health, issue 22).
func TestOutcomesForTheProbes(t *testing.T) {
	var fail atomic.Bool
	addr := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if fail.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	now := time.Unix(1_000_000, 0)
	p := &proxy.Proxy{Now: func() time.Time { return now }}
	p.SetRoute(route("web", be("v1", 100, addr)))
	var failed []string
	p.NotifyFailures(func(a string) { failed = append(failed, a) })

	if got := p.LastSuccess(addr); !got.IsZero() {
		t.Fatalf("LastSuccess before any request = %v, want zero", got)
	}
	if code, _ := send(t, p, "example.com", "/"); code != http.StatusOK {
		t.Fatalf("status %d", code)
	}
	if got := p.LastSuccess(addr); !got.Equal(now) {
		t.Errorf("LastSuccess = %v, want %v", got, now)
	}

	fail.Store(true)
	now = now.Add(time.Second)
	send(t, p, "example.com", "/")
	send(t, p, "example.com", "/") // within the resolution: not told again
	if len(failed) != 1 || failed[0] != addr {
		t.Errorf("NotifyFailures got %q, want [%s] once", failed, addr)
	}
	if got := p.LastSuccess(addr); !got.Equal(now.Add(-time.Second)) {
		t.Errorf("LastSuccess after failures = %v, want the success's time", got)
	}
	p.NotifyFailures(nil)
	now = now.Add(time.Second)
	send(t, p, "example.com", "/")
	if len(failed) != 1 {
		t.Errorf("NotifyFailures(nil) did not stop the calls: %q", failed)
	}
}
