package checks

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func TestObserveHysteresis(t *testing.T) {
	errDown := errors.New("down")
	tests := []struct {
		name   string
		start  bool
		probes string // p = pass, f = fail
		want   string // readiness after each probe: r = ready, - = not
		flips  int
	}{
		{"ready after two passes", false, "ppp", "-rr", 1},
		{"a failure resets the passes", false, "pfpp", "---r", 1},
		{"out after three failures", true, "fff", "rr-", 1},
		{"a pass resets the failures", true, "ffpfff", "rrrrr-", 1},
		{"flapping never gets in", false, "pfpfpfpf", "--------", 0},
		{"flapping never gets out", true, "fpfpfffp", "rrrrrr--", 1},
		{"in, out, in", false, "ppfffpp", "-rrr--r", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := HealthStatus{Ready: tt.start}
			var got strings.Builder
			flips := 0
			for i, p := range tt.probes {
				var err error
				if p == 'f' {
					err = errDown
				}
				var flipped bool
				s, flipped = s.observe(err, time.Unix(int64(i), 0), 2, 3)
				if flipped {
					flips++
				}
				if s.Ready {
					got.WriteByte('r')
				} else {
					got.WriteByte('-')
				}
			}
			if got.String() != tt.want || flips != tt.flips {
				t.Errorf("readiness %s with %d flips, want %s with %d", got.String(), flips, tt.want, tt.flips)
			}
		})
	}
}

// fast is a health config whose probes run every 20ms.
var fast = spec.Health{
	Path:               "/healthz",
	Interval:           spec.Duration(20 * time.Millisecond),
	Timeout:            spec.Duration(20 * time.Millisecond),
	HealthyThreshold:   2,
	UnhealthyThreshold: 3,
}

// runMonitor starts a monitor and stops it when the test ends.
func runMonitor(t *testing.T, cfg spec.Health) *Monitor {
	t.Helper()
	m := NewMonitor(cfg, &http.Client{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return m
}

// drainChanges empties the Changes channel.
func drainChanges(m *Monitor) {
	select {
	case <-m.Changes():
	default:
	}
}

// waitChange waits for a value on m.Changes().
func waitChange(t *testing.T, m *Monitor) {
	t.Helper()
	select {
	case <-m.Changes():
	case <-time.After(5 * time.Second):
		t.Fatal("Changes was not signalled")
	}
}

func TestMonitorInAndOut(t *testing.T) {
	b := newBackend(t)
	m := runMonitor(t, fast)
	m.Watch(b.addr())
	if m.Ready(b.addr()) {
		t.Fatal("a new address is ready before any probe")
	}

	waitChange(t, m)
	if st := m.Status(b.addr()); !st.Ready || st.Passes < 2 || st.Failures != 0 || st.LastError != "" || st.LastProbe.IsZero() {
		t.Fatalf("after the flip in: %+v, want ready after 2 passes", st)
	}

	b.status.Store(http.StatusServiceUnavailable)
	waitChange(t, m)
	st := m.Status(b.addr())
	if st.Ready || st.Failures < 3 || st.Passes != 0 || !strings.Contains(st.LastError, "status 503") {
		t.Fatalf("after the flip out: %+v, want not ready after 3 failures of status 503", st)
	}

	b.status.Store(0)
	waitChange(t, m)
	if !m.Ready(b.addr()) {
		t.Fatal("recovered backend is not ready after the flip")
	}
}

func TestMonitorFlapping(t *testing.T) {
	b := newBackend(t)
	b.flap.Store(true)
	// A probe timing out on a loaded machine counts as a failure too;
	// a roomier timeout keeps the alternation the server's.
	cfg := fast
	cfg.Interval, cfg.Timeout = spec.Duration(50*time.Millisecond), spec.Duration(50*time.Millisecond)
	m := runMonitor(t, cfg)
	m.Watch(b.addr())
	waitFor(t, "8 probes", func() bool { return b.hits.Load() >= 8 })
	if m.Ready(b.addr()) {
		t.Fatal("a flapping backend became ready")
	}
	select {
	case <-m.Changes():
		t.Fatal("Changes signalled for a flapping backend that never got in")
	default:
	}

	b.flap.Store(false)
	waitChange(t, m)
	b.flap.Store(true)
	from := b.hits.Load()
	waitFor(t, "8 more probes", func() bool { return b.hits.Load() >= from+8 })
	if !m.Ready(b.addr()) {
		t.Fatal("a ready backend that flaps was taken out")
	}
}

func TestMonitorProbesNewAddressAtOnce(t *testing.T) {
	cfg := fast
	cfg.Interval = spec.Duration(time.Hour) // a wait for the first tick would time out
	cfg.HealthyThreshold = 1
	before, after := newBackend(t), newBackend(t)

	m := NewMonitor(cfg, nil)
	m.Watch(before.addr()) // watched before Run
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go m.Run(ctx)
	m.Watch(after.addr()) // watched while running
	waitFor(t, "both are ready", func() bool { return m.Ready(before.addr()) && m.Ready(after.addr()) })
}

func TestMonitorFailures(t *testing.T) {
	b := newBackend(t)
	refused := refusedAddr(t)
	m := runMonitor(t, fast)
	m.Watch(refused, b.addr())
	b.status.Store(http.StatusInternalServerError)
	for _, addr := range []string{refused, b.addr()} {
		waitFor(t, addr+" failed 3 probes", func() bool { return m.Status(addr).Failures >= 3 })
	}
	if st := m.Status(refused); st.Ready || !strings.Contains(st.LastError, "dial tcp "+refused) {
		t.Errorf("refused: %+v, want a dial error", st)
	}
	if st := m.Status(b.addr()); st.Ready || !strings.Contains(st.LastError, "status 500") {
		t.Errorf("500: %+v, want status 500", st)
	}
}

func TestMonitorTimeout(t *testing.T) {
	b := newBackend(t)
	cfg := fast
	cfg.Path = "/slow"
	m := runMonitor(t, cfg)
	m.Watch(b.addr())
	waitFor(t, "a failed probe", func() bool { return m.Status(b.addr()).Failures >= 1 })
	if st := m.Status(b.addr()); !strings.Contains(st.LastError, "deadline exceeded") {
		t.Errorf("LastError = %q, want a timeout", st.LastError)
	}
}

func TestMonitorForget(t *testing.T) {
	gone, kept := newBackend(t), newBackend(t)
	m := runMonitor(t, fast)
	m.Watch(gone.addr(), kept.addr())
	waitFor(t, "both are ready", func() bool { return m.Ready(gone.addr()) && m.Ready(kept.addr()) })
	drainChanges(m)

	m.Forget(gone.addr())
	if st := m.Status(gone.addr()); st != (HealthStatus{}) {
		t.Errorf("forgotten address has status %+v", st)
	}
	waitChange(t, m)
	// A probe in flight when Forget ran may still arrive; no more after it.
	before := gone.hits.Load()
	from := kept.hits.Load()
	waitFor(t, "5 more probes of the kept address", func() bool { return kept.hits.Load() >= from+5 })
	if n := gone.hits.Load() - before; n > 1 {
		t.Errorf("forgotten address probed %d times after Forget", n)
	}
	if m.Ready(gone.addr()) || !m.Ready(kept.addr()) {
		t.Error("Forget changed the wrong address")
	}

	m.Watch(gone.addr())
	if m.Ready(gone.addr()) {
		t.Error("an address watched again starts ready")
	}
	waitFor(t, "the address watched again is ready", func() bool { return m.Ready(gone.addr()) })
}

func TestMonitorRunReturns(t *testing.T) {
	b := newBackend(t)
	m := NewMonitor(fast, nil)
	m.Watch(b.addr())
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { m.Run(ctx); close(done) }()
	waitFor(t, "a probe", func() bool { return b.hits.Load() > 0 })
	cancel()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after its context ended")
	}
	// Watch after Run has returned registers the address but starts no
	// probe loop (which -race and the WaitGroup would catch).
	m.Watch(newBackend(t).addr())
}

func TestHealthDefaults(t *testing.T) {
	got := healthDefaults(spec.Health{Interval: spec.Duration(500 * time.Millisecond)})
	want := spec.Health{
		Path: "/healthz", Interval: spec.Duration(500 * time.Millisecond),
		Timeout: spec.Duration(500 * time.Millisecond), HealthyThreshold: 2, UnhealthyThreshold: 3,
	}
	if got != want {
		t.Errorf("healthDefaults = %+v, want %+v", got, want)
	}
}
