package controller_test

import (
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestProxyFailureProbesAtOnce: with the builtin proxy as Drainer, a
// request that an instance fails has it probed at once, not at its next
// interval (passive health, issue 22). The interval here is an hour.
func TestProxyFailureProbesAtOnce(t *testing.T) {
	var probes atomic.Int64
	var failing atomic.Bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			probes.Add(1)
			return
		}
		if failing.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
		w.Write([]byte("version=v1\n"))
	}))
	t.Cleanup(srv.Close)
	v1 := &backend{Server: srv, version: "v1"}
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), service(v1, func(s *spec.Service) {
		s.Health.Interval = spec.Duration(time.Hour)
	}))
	r.waitPhase(1, engine.PhaseCompleted)
	from := probes.Load()
	failing.Store(true)
	deadline := time.Now().Add(10 * time.Second)
	for probes.Load() == from {
		if time.Now().After(deadline) {
			t.Fatalf("no probe in 10s after the proxy saw the instance fail (interval 1h)")
		}
		r.get()                           // fails: the proxy tells the probes
		time.Sleep(20 * time.Millisecond) // poll interval
	}
}
