package checks

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// fakeClock is a Clock that moves only when Advance says so.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	clk    *fakeClock
	c      chan time.Time
	at     time.Time
	active bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Unix(1_000_000, 0)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) NewTimer() Timer {
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	return t
}

// Advance moves the clock by d and fires the timers due.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	c.fire()
}

// fire sends on every active timer due. c.mu is held.
func (c *fakeClock) fire() {
	for _, t := range c.timers {
		if t.active && !t.at.After(c.now) {
			t.active = false
			select {
			case t.c <- c.now:
			default:
			}
		}
	}
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }

func (t *fakeTimer) Stop() {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	t.active = false
	select {
	case <-t.c:
	default:
	}
}

func (t *fakeTimer) Reset(at time.Time) {
	t.clk.mu.Lock()
	defer t.clk.mu.Unlock()
	select {
	case <-t.c:
	default:
	}
	t.at, t.active = at, true
	t.clk.fire()
}

// probeLog records, per address, the fake clock's time at each probe.
type probeLog struct {
	clk *fakeClock
	mu  sync.Mutex
	at  map[string][]time.Time
	err error // what every probe returns
}

func (l *probeLog) probe(_ context.Context, _ spec.Health, addr string) error {
	now := l.clk.Now()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.at[addr] = append(l.at[addr], now)
	return l.err
}

func (l *probeLog) times(addr string) []time.Time {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]time.Time(nil), l.at[addr]...)
}

func (l *probeLog) total() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, ts := range l.at {
		n += len(ts)
	}
	return n
}

// rig is a Scheduler on a fake clock and a Monitor whose probes only
// record when they ran.
type rig struct {
	clk   *fakeClock
	sched *Scheduler
	m     *Monitor
	log   *probeLog
	stop  func()
}

func newRig(t *testing.T, cfg spec.Health, o SchedulerOptions) *rig {
	t.Helper()
	clk := newFakeClock()
	o.Clock = clk
	s := NewScheduler(o)
	m := NewMonitor(cfg, nil)
	log := &probeLog{clk: clk, at: map[string][]time.Time{}}
	m.probeFn = log.probe
	ctx, cancel := context.WithCancel(WithScheduler(context.Background(), s))
	var wg sync.WaitGroup
	wg.Go(func() { s.Run(ctx) })
	wg.Go(func() { m.Run(ctx) })
	var once sync.Once
	r := &rig{clk: clk, sched: s, m: m, log: log, stop: func() { once.Do(func() { cancel(); wg.Wait() }) }}
	t.Cleanup(r.stop)
	waitFor(t, "the monitor to run", func() bool {
		m.mu.Lock()
		defer m.mu.Unlock()
		return m.sched != nil
	})
	return r
}

// settle waits until every probe due by the fake clock's now has run.
func (r *rig) settle(t *testing.T) {
	t.Helper()
	s := r.sched
	deadline := time.Now().Add(10 * time.Second)
	for {
		now := r.clk.Now()
		s.mu.Lock()
		ok := len(s.queue) == 0 && s.busy == 0 && (len(s.due) == 0 || s.due[0].due.After(now))
		state := fmt.Sprintf("queue %d, busy %d, idle %d, workers %d, heap %d", len(s.queue), s.busy, s.idle, s.workers, len(s.due))
		if len(s.due) > 0 {
			state += fmt.Sprintf(", head due in %s", s.due[0].due.Sub(now))
		}
		s.mu.Unlock()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for the probes due to run: %s", state)
		}
		time.Sleep(time.Millisecond) // poll interval
	}
}

// run advances the fake clock by total in steps, settling after each.
func (r *rig) run(t *testing.T, total, step time.Duration) {
	t.Helper()
	for d := time.Duration(0); d < total; d += step {
		r.clk.Advance(step)
		r.settle(t)
	}
}

func addrs(n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("10.0.%d.%d:80", i/250, i%250+1)
	}
	return out
}

var second = spec.Health{Interval: spec.Duration(time.Second), Timeout: spec.Duration(time.Second)}

// TestSchedulerJitter: new addresses are first probed within
// min(10% of the interval, 250ms) and then every interval ± 10%, so
// that instances watched together spread out.
func TestSchedulerJitter(t *testing.T) {
	r := newRig(t, second, SchedulerOptions{})
	start := r.clk.Now()
	as := addrs(200)
	r.m.Watch(as...)
	const step = 10 * time.Millisecond
	r.run(t, 5*time.Second, step)
	var firsts []time.Duration
	for _, a := range as {
		ts := r.log.times(a)
		if len(ts) < 4 {
			t.Fatalf("%s probed %d times in 5s, want at least 4", a, len(ts))
		}
		first := ts[0].Sub(start)
		firsts = append(firsts, first)
		if first > 100*time.Millisecond+step {
			t.Errorf("%s first probed after %s, want within 100ms", a, first)
		}
		for i := 1; i < len(ts); i++ {
			if gap := ts[i].Sub(ts[i-1]); gap < 900*time.Millisecond || gap > 1100*time.Millisecond+step {
				t.Errorf("%s: %s between probes, want 1s ± 10%%", a, gap)
			}
		}
	}
	// Spread: the first probes do not all fall in the same step.
	distinct := map[time.Duration]bool{}
	for _, f := range firsts {
		distinct[f] = true
	}
	if len(distinct) < 5 {
		t.Errorf("200 first probes fell in %d steps of 10ms, want them spread", len(distinct))
	}
}

// TestSchedulerNoGoroutinePerInstance: thousands of watched addresses
// cost a bounded pool of workers, not a goroutine each, and stopping
// ends every goroutine the scheduler started.
func TestSchedulerNoGoroutinePerInstance(t *testing.T) {
	before := runtime.NumGoroutine()
	r := newRig(t, second, SchedulerOptions{MaxWorkers: 16})
	r.m.Watch(addrs(5000)...)
	r.run(t, 2*time.Second, 50*time.Millisecond)
	if n := r.log.total(); n < 5000 {
		t.Fatalf("%d probes of 5000 addresses in 2s", n)
	}
	r.sched.mu.Lock()
	workers := r.sched.workers
	r.sched.mu.Unlock()
	if workers > 16 {
		t.Errorf("%d workers, want at most MaxWorkers 16", workers)
	}
	// The rig's Run goroutines, at most 16 workers, and slack for the
	// testing package's own.
	if n := runtime.NumGoroutine() - before; n > 2+16+5 {
		t.Errorf("%d goroutines for 5000 addresses, want at most the workers", n)
	}
	r.stop()
	waitFor(t, "the scheduler's goroutines to end", func() bool { return runtime.NumGoroutine() <= before })
}

// TestSchedulerForgetAndWatch: a forgotten address is probed no more,
// and the set can change while the scheduler runs.
func TestSchedulerForgetAndWatch(t *testing.T) {
	r := newRig(t, second, SchedulerOptions{})
	as := addrs(3)
	r.m.Watch(as...)
	r.run(t, 1500*time.Millisecond, 10*time.Millisecond)
	r.m.Forget(as[0])
	n := len(r.log.times(as[0]))
	r.m.Watch("10.9.9.9:80")
	r.run(t, 3*time.Second, 10*time.Millisecond)
	if got := len(r.log.times(as[0])); got != n {
		t.Errorf("forgotten address probed %d more times", got-n)
	}
	if got := len(r.log.times("10.9.9.9:80")); got < 3 {
		t.Errorf("address watched later probed %d times in 3s, want 3", got)
	}
	r.sched.mu.Lock()
	defer r.sched.mu.Unlock()
	if len(r.sched.byAddr) != 3 || len(r.sched.due) != 3 {
		t.Errorf("scheduler keeps %d addresses, %d in its heap, want 3", len(r.sched.byAddr), len(r.sched.due))
	}
}

// outcomesAt is Outcomes whose instances all succeeded at a set time.
type outcomesAt struct {
	mu sync.Mutex
	at time.Time
}

func (o *outcomesAt) LastSuccess(string) time.Time {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.at
}

func (o *outcomesAt) set(at time.Time) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.at = at
}

// TestSchedulerPassiveHealth: a ready instance that serves successes is
// probed 5 times less often; a failure the proxy saw probes it at once.
func TestSchedulerPassiveHealth(t *testing.T) {
	o := &outcomesAt{}
	r := newRig(t, second, SchedulerOptions{Outcomes: o, Jitter: -1})
	a := addrs(1)[0]
	r.m.Watch(a)
	const step = 10 * time.Millisecond
	r.run(t, 2500*time.Millisecond, step) // ready after 2 probes
	if !r.m.Ready(a) {
		t.Fatalf("not ready: %+v", r.m.Status(a))
	}
	// Serving successes: from the next probe on, every 5s.
	for range 12 {
		o.set(r.clk.Now())
		r.run(t, time.Second, step)
	}
	ts := r.log.times(a)
	if gap := ts[len(ts)-1].Sub(ts[len(ts)-2]); gap < 5*time.Second || gap > 5*time.Second+step {
		t.Errorf("busy instance: %s between probes, want 5s", gap)
	}

	// A failure seen by the proxy: probed at once.
	n := len(ts)
	r.run(t, 300*time.Millisecond, step) // more than a quarter interval after the last probe
	r.sched.Kick(a)
	r.settle(t)
	r.clk.Advance(0)
	r.settle(t)
	if got := len(r.log.times(a)); got != n+1 {
		t.Errorf("Kick: %d probes, want 1 at once", got-n)
	}
	r.sched.Kick("10.255.0.1:80") // not watched: nothing
}

// TestLateTimeoutsAreInconclusive pins the rule for probes that timed
// out while the prober ran late: at most 3 in a row since the last pass
// count for nothing, the next ones are failures, so an instance that
// hangs goes out after at most 3 + UnhealthyThreshold probes.
func TestLateTimeoutsAreInconclusive(t *testing.T) {
	errTimeout := errors.New("context deadline exceeded")
	tests := []struct {
		name   string
		probes string // p pass, f fail, l late timeout
		want   string // r ready, - not, after each
		inconc int    // Inconclusive at the end
	}{
		{"late timeouts of a ready instance", "ppllllll", "-rrrrrr-", 3},
		{"a pass resets the count", "ppllplllf", "-rrrrrrrr", 3},
		{"failures do not reset it", "pplllfplllfff", "-rrrrrrrrrrr-", 3},
		{"plain failures still count", "ppfff", "-rrr-", 0},
		{"a hanging new instance never gets in", "llllpllll", "---------", 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := NewMonitor(spec.Health{}, nil)
			tg := &target{m: m, addr: "a", index: -1}
			m.targets["a"] = tg
			var got strings.Builder
			for i, p := range tt.probes {
				var err error
				if p != 'p' {
					err = errTimeout
				}
				m.record(tg, err, p == 'l', time.Unix(int64(i), 0))
				if tg.status.Ready {
					got.WriteByte('r')
				} else {
					got.WriteByte('-')
				}
			}
			if got.String() != tt.want || tg.status.Inconclusive != tt.inconc {
				t.Errorf("readiness %s, %d inconclusive; want %s, %d", got.String(), tg.status.Inconclusive, tt.want, tt.inconc)
			}
		})
	}
}

func TestProberLate(t *testing.T) {
	const timeout = time.Second
	tests := []struct {
		lag, took time.Duration
		want      bool
	}{
		{0, timeout, false},
		{50 * time.Millisecond, timeout + 50*time.Millisecond, false},
		{200 * time.Millisecond, timeout, true},                // started late
		{0, timeout + 300*time.Millisecond, true},              // ended long after its deadline
		{0, 10 * time.Millisecond, false},                      // not a timeout at all
		{time.Second, timeout + 2*time.Second, true},           // both
		{timeout / 10, timeout + timeout/10, false},            // the bounds themselves
		{timeout/10 + 1, timeout + timeout/10 + 1, true},       // just over
		{-time.Millisecond, timeout - time.Millisecond, false}, // early (slack)
		{0, 0, false},
	}
	for _, tt := range tests {
		if got := proberLate(timeout, tt.lag, tt.took); got != tt.want {
			t.Errorf("proberLate(lag %s, took %s) = %v, want %v", tt.lag, tt.took, got, tt.want)
		}
	}
}

// TestSchedulerLateTimeoutThroughTheMonitor: a probe that times out
// after the scheduler started it late (the clock jumped past its due
// time) is inconclusive; one started on time is a failure.
func TestSchedulerLateTimeoutThroughTheMonitor(t *testing.T) {
	cfg := spec.Health{Interval: spec.Duration(time.Second), Timeout: spec.Duration(100 * time.Millisecond)}
	r := newRig(t, cfg, SchedulerOptions{Jitter: -1})
	r.m.probeFn = func(ctx context.Context, _ spec.Health, _ string) error {
		<-ctx.Done() // hangs until its (real) timeout
		return ctx.Err()
	}
	a := addrs(1)[0]
	r.m.Watch(a)
	r.run(t, time.Second+10*time.Millisecond, 10*time.Millisecond) // 2 probes on time
	if st := r.m.Status(a); st.Failures != 2 || st.Inconclusive != 0 {
		t.Fatalf("probes on time: %+v, want 2 failures", st)
	}
	r.clk.Advance(3 * time.Second) // the next probe starts 2s late
	r.settle(t)
	if st := r.m.Status(a); st.Failures != 2 || st.Inconclusive != 1 {
		t.Errorf("probe started late: %+v, want it inconclusive", st)
	}
}
