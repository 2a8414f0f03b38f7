package checks

import (
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestMonitorSetConfig: a config reload's new health settings apply to
// the next probe of every watched address, and a ready address stays
// ready across the change (it must not leave the route).
func TestMonitorSetConfig(t *testing.T) {
	b := newBackend(t)
	hanging := fast
	hanging.Path = "/slow" // never answers within the timeout
	m := runMonitor(t, hanging)
	m.Watch(b.addr())
	m.SetConfig(fast)
	waitChange(t, m)
	if !m.Ready(b.addr()) {
		t.Fatalf("after SetConfig to /healthz the address is not ready: %+v", m.Status(b.addr()))
	}
	slower := fast
	slower.Interval = spec.Duration(40 * time.Millisecond)
	m.SetConfig(slower)
	if !m.Ready(b.addr()) {
		t.Fatal("a ready address lost its readiness when the settings changed")
	}
	if got := m.config().Interval; got != slower.Interval {
		t.Errorf("interval after SetConfig = %s, want %s", got.D(), slower.Interval.D())
	}
}
