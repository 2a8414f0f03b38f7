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

// TestSetConfigShortensTheWait: a reload that shortens the interval
// (1h to 1s) brings the next probe within the new interval, not an hour
// later.
func TestSetConfigShortensTheWait(t *testing.T) {
	hour := second
	hour.Interval = spec.Duration(time.Hour)
	r := newRig(t, hour, SchedulerOptions{Jitter: -1})
	a := addrs(1)[0]
	r.m.Watch(a)
	r.run(t, 300*time.Millisecond, 10*time.Millisecond)
	if n := len(r.log.times(a)); n != 1 {
		t.Fatalf("%d probes, want the first", n)
	}
	r.m.SetConfig(second)
	r.run(t, 1100*time.Millisecond, 10*time.Millisecond)
	if n := len(r.log.times(a)); n != 2 {
		t.Errorf("%d probes 1.1s after the interval became 1s, want 2", n)
	}
}
