package controller_test

import (
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// timerClock is a fake clock with timers (Controller.Now and After): the
// service loops sleep on it, so a test sees exactly when they wake.
type timerClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []timerWaiter
	fired   int
}

type timerWaiter struct {
	at time.Time
	ch chan time.Time
}

func newTimerClock() *timerClock {
	return &timerClock{now: time.Date(2026, 12, 7, 12, 0, 0, 0, time.UTC)}
}

func (c *timerClock) Now() time.Time { c.mu.Lock(); defer c.mu.Unlock(); return c.now }

func (c *timerClock) After(d time.Duration) <-chan time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := timerWaiter{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		w.ch <- c.now
		c.fired++
		return w.ch
	}
	c.waiters = append(c.waiters, w)
	return w.ch
}

// Advance moves the clock on and fires the timers due; it returns how
// many fired.
func (c *timerClock) Advance(d time.Duration) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	n := 0
	c.waiters = slices.DeleteFunc(c.waiters, func(w timerWaiter) bool {
		if w.at.After(c.now) {
			return false
		}
		w.ch <- c.now
		n++
		return true
	})
	c.fired += n
	return n
}

// pending reports whether a timer is set for at.
func (c *timerClock) pending(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.ContainsFunc(c.waiters, func(w timerWaiter) bool { return w.at.Equal(at) })
}

// newTimerRig is newRig with the loops' clock and timers on clk.
func newTimerRig(t *testing.T, svc spec.Service, clk *timerClock, resync time.Duration) *rig {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	plat := static.New()
	for v, addrs := range svc.Platform.Static.Targets {
		plat.SetTargets(svc.Name, v, addrs)
	}
	return newRigSet(t, st, svc, plat, func(c *controller.Controller) {
		c.Now, c.After, c.Resync = clk.Now, clk.After, resync
	})
}

// waitTicking polls cond, moving clk on by a tick each time (a loop waiting
// on its period wakes), until it holds.
func waitTicking(t *testing.T, clk *timerClock, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		clk.Advance(20 * time.Millisecond)
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

// waitAsleep polls, without moving the clock, until the loop has set a
// timer for at: it stepped and went to sleep until then.
func waitAsleep(t *testing.T, clk *timerClock, at time.Time) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !clk.pending(at) {
		if time.Now().After(deadline) {
			t.Fatalf("the loop set no timer for %v (now %v)", at, clk.Now())
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

// TestIdleServiceDoesNotStep (issue 22): a service whose rollout ended
// and settled sleeps until something wakes it, instead of stepping every
// few ticks; an event (a failed request) or the resync wakes it.
func TestIdleServiceDoesNotStep(t *testing.T) {
	v1 := newBackend(t, "v1")
	clk := newTimerClock()
	const resync = time.Hour
	r := newTimerRig(t, service(v1), clk, resync)
	waitTicking(t, clk, "the first rollout settled", func() bool {
		st, _ := r.ctrl.Status("web")
		return st.Rollout.ID == 1 && st.Rollout.Phase == engine.PhaseCompleted && st.Rollout.Settled
	})
	// Past every deadline of the rollout (its scale-down delay): the loop
	// then sleeps for the resync.
	clk.Advance(10 * time.Minute)
	waitAsleep(t, clk, clk.Now().Add(resync))
	steps := r.ctrl.Steps("web")

	for range 500 { // 10 s of ticks: the loop stepped 100 times in them before
		if n := clk.Advance(20 * time.Millisecond); n != 0 {
			t.Fatalf("%d timers came due in an idle service's ticks", n)
		}
	}
	if got := r.ctrl.Steps("web"); got != steps {
		t.Fatalf("an idle service stepped %d times in 10 s with nothing happening", got-steps)
	}

	r.ctrl.Notify("web") // what the proxy does on a failed request
	waitTicking(t, clk, "a step on Notify", func() bool { return r.ctrl.Steps("web") > steps })

	steps = r.ctrl.Steps("web")
	waitAsleep(t, clk, clk.Now().Add(resync))
	clk.Advance(resync)
	deadline := time.Now().Add(10 * time.Second)
	for r.ctrl.Steps("web") == steps {
		if time.Now().After(deadline) {
			t.Fatal("no step at the resync")
		}
		time.Sleep(5 * time.Millisecond) // polling interval, not a wait for a condition
	}
}

// TestDeadlineWakesTheLoop (issue 22): a time-based transition (the end
// of a blue-green watch) is taken at its deadline: the loop sets its
// timer for that very moment, and completes the rollout when it fires.
func TestDeadlineWakesTheLoop(t *testing.T) {
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	clk := newTimerClock()
	r := newTimerRig(t, service(v1, func(s *spec.Service) { s.BlueGreen.Watch = spec.Duration(time.Hour) }), clk, 0)
	waitTicking(t, clk, "the first rollout completed", func() bool {
		st, _ := r.ctrl.Status("web")
		return st.Rollout.ID == 1 && st.Rollout.Phase == engine.PhaseCompleted
	})
	ro := r.deploy(v2)
	var watching engine.Rollout
	waitTicking(t, clk, "the watch", func() bool {
		st, _ := r.ctrl.Status("web")
		watching = st.Rollout
		return watching.ID == ro.ID && watching.Phase == engine.PhaseWatching
	})
	end := watching.PhaseSince.Add(time.Hour)

	// 10 ms before the watch ends: the loop wakes (its period) and goes
	// back to sleep until the very end, shorter than its period.
	clk.Advance(end.Add(-10 * time.Millisecond).Sub(clk.Now()))
	waitAsleep(t, clk, end)
	if st, _ := r.ctrl.Status("web"); st.Rollout.Phase != engine.PhaseWatching {
		t.Fatalf("before the watch ended: %s (%s), want Watching", st.Rollout.Phase, st.Rollout.Reason)
	}
	clk.Advance(10 * time.Millisecond)
	done := r.waitPhase(ro.ID, engine.PhaseCompleted)
	if !done.PhaseSince.Equal(end) {
		t.Fatalf("completed at %v, want the watch's end %v", done.PhaseSince, end)
	}
}
