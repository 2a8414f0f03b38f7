package checks

import (
	"container/heap"
	"context"
	"math/rand/v2"
	"runtime"
	"sync"
	"time"
)

// Scheduler runs the probes of any number of Monitors: one min-heap of
// next-probe times, one timer for its head, and a bounded pool of
// workers, rather than a goroutine and a ticker per instance (issue 22).
//
//   - Jitter: a newly watched address is first probed within
//     min(Jitter×interval, 250ms); each later probe comes interval ×
//     (1 ± Jitter) after the previous one started, so that instances
//     watched together spread out rather than probe in step.
//   - Wake-ups are coalesced: every probe due within Slack of the head is
//     handed out at the same wake-up.
//   - Workers: MinWorkers run from the start and more are started, up to
//     MaxWorkers, while probes wait with none idle.
//   - Passive health (Outcomes, Kick): see Outcomes.
//
// A Monitor uses the scheduler in its Run context (WithScheduler), else
// one of its own. Its methods are safe for concurrent use.
type Scheduler struct {
	clock      Clock
	jitter     float64
	slack      time.Duration
	minWorkers int
	maxWorkers int
	outcomes   Outcomes
	stretch    int

	mu      sync.Mutex
	cond    sync.Cond // signalled when queue grows or the scheduler stops
	due     dueHeap   // watched targets waiting for their next probe
	queue   []*target // targets due, waiting for a worker, oldest first
	byAddr  map[string][]*target
	idle    int // workers waiting on cond
	busy    int // workers probing
	workers int
	stopped bool
	wake    chan struct{} // tells Run that the head of due changed
	wg      sync.WaitGroup
}

// SchedulerOptions configure a Scheduler. Zero fields take the defaults.
type SchedulerOptions struct {
	// Clock is the time source. Nil means the system clock.
	Clock Clock
	// Jitter is the spread of each interval, a fraction of it. Zero means
	// 0.1 (±10%); a negative value means none.
	Jitter float64
	// Slack is how far ahead of the head of the heap a wake-up hands out
	// probes. Zero means 5ms.
	Slack time.Duration
	// MinWorkers and MaxWorkers bound the worker pool. Zero means
	// 2×GOMAXPROCS and 256 (at least MinWorkers). A probe of an instance
	// that hangs holds its worker for the whole timeout, so the pool
	// must outnumber the hanging probes of a second (256 of 10,000
	// instances at a 1s timeout) for the others to start on time; idle
	// workers cost no CPU.
	MinWorkers, MaxWorkers int
	// Outcomes, if set, tells of the proxy's requests to instances:
	// an instance that is ready, passed its last probe and served a
	// success within Stretch intervals is probed Stretch times less
	// often. Nil: intervals are as configured.
	Outcomes Outcomes
	// Stretch is that factor. Zero means 5.
	Stretch int
}

// Outcomes is passive health: what the proxy saw of the requests it
// forwarded. The builtin proxy is one. Its failures reach a Scheduler
// by Kick, which a FailureNotifier can call.
type Outcomes interface {
	// LastSuccess returns when a request forwarded to addr last
	// succeeded; the zero time if none is known.
	LastSuccess(addr string) time.Time
}

// FailureNotifier is an Outcomes that tells of failures as they come:
// it calls f with the instance's address after a request to it failed
// (at most every so often per address). A later call replaces f.
type FailureNotifier interface {
	NotifyFailures(f func(addr string))
}

// Clock is a Scheduler's time source. Its timers take the time they
// fire at, not a duration, so that a clock that moves between Now and
// Reset cannot delay them.
type Clock interface {
	Now() time.Time
	// NewTimer returns a stopped timer.
	NewTimer() Timer
}

// Timer is a Clock's timer, as time.Timer (Go 1.23 semantics: after
// Stop or Reset no stale value is received).
type Timer interface {
	C() <-chan time.Time
	Stop()
	// Reset arms the timer to fire at at (at once if at has passed).
	Reset(at time.Time)
}

type systemClock struct{}

func (systemClock) Now() time.Time { return time.Now() }
func (systemClock) NewTimer() Timer {
	t := time.NewTimer(time.Hour)
	t.Stop()
	return sysTimer{t}
}

type sysTimer struct{ *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.Timer.C }
func (t sysTimer) Stop()               { t.Timer.Stop() }
func (t sysTimer) Reset(at time.Time)  { t.Timer.Reset(time.Until(at)) }

// kickGap bounds how long a Kick waits after the last probe started.
const kickGap = time.Second

// firstProbeMax bounds the jitter of a new address's first probe.
const firstProbeMax = 250 * time.Millisecond

// NewScheduler returns a Scheduler that probes nothing until Run.
func NewScheduler(o SchedulerOptions) *Scheduler {
	s := &Scheduler{
		clock: o.Clock, jitter: o.Jitter, slack: o.Slack, outcomes: o.Outcomes, stretch: o.Stretch,
		minWorkers: o.MinWorkers, maxWorkers: o.MaxWorkers,
		byAddr: map[string][]*target{}, wake: make(chan struct{}, 1),
	}
	s.cond.L = &s.mu
	if s.clock == nil {
		s.clock = systemClock{}
	}
	switch {
	case s.jitter == 0:
		s.jitter = 0.1
	case s.jitter < 0:
		s.jitter = 0
	}
	s.jitter = min(s.jitter, 0.9)
	if s.slack <= 0 {
		s.slack = 5 * time.Millisecond
	}
	if s.minWorkers <= 0 {
		s.minWorkers = 2 * runtime.GOMAXPROCS(0)
	}
	if s.maxWorkers <= 0 {
		s.maxWorkers = 256
	}
	s.maxWorkers = max(s.maxWorkers, s.minWorkers)
	if s.stretch <= 0 {
		s.stretch = 5
	}
	return s
}

type schedulerKey struct{}

// WithScheduler returns a context whose Monitors run their probes on s.
func WithScheduler(ctx context.Context, s *Scheduler) context.Context {
	return context.WithValue(ctx, schedulerKey{}, s)
}

func schedulerFrom(ctx context.Context) *Scheduler {
	s, _ := ctx.Value(schedulerKey{}).(*Scheduler)
	return s
}

// Run hands out due probes to the workers until ctx is done, then waits
// for the workers (whose probes end with their Monitors' contexts). Run
// is called once.
func (s *Scheduler) Run(ctx context.Context) {
	s.mu.Lock()
	for range s.minWorkers {
		s.startWorker()
	}
	s.mu.Unlock()
	timer := s.clock.NewTimer()
	defer timer.Stop()
	for {
		s.mu.Lock()
		now := s.clock.Now()
		s.dispatch(now)
		next, armed := time.Time{}, len(s.due) > 0
		if armed {
			next = s.due[0].due
		}
		s.mu.Unlock()
		timer.Stop()
		if armed {
			timer.Reset(next)
		}
		select {
		case <-ctx.Done():
			s.mu.Lock()
			s.stopped = true
			s.cond.Broadcast()
			s.mu.Unlock()
			s.wg.Wait()
			return
		case <-timer.C():
		case <-s.wake:
		}
	}
}

// dispatch moves every target due by now+slack to the queue, starting
// workers if none is idle for it. s.mu is held.
func (s *Scheduler) dispatch(now time.Time) {
	n := 0
	for len(s.due) > 0 && !s.due[0].due.After(now.Add(s.slack)) {
		t := heap.Pop(&s.due).(*target)
		t.queued = true
		s.queue = append(s.queue, t)
		n++
	}
	if n == 0 {
		return
	}
	for range min(len(s.queue)-s.idle, s.maxWorkers-s.workers) {
		s.startWorker()
	}
	// Wake as many workers as there is work for, not all of them.
	for range min(n, s.idle) {
		s.cond.Signal()
	}
}

func (s *Scheduler) startWorker() {
	s.workers++
	s.wg.Go(s.work)
}

// work runs queued probes until the scheduler stops.
func (s *Scheduler) work() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for {
		for len(s.queue) == 0 && !s.stopped {
			s.idle++
			s.cond.Wait()
			s.idle--
		}
		if s.stopped {
			s.workers--
			return
		}
		t := s.queue[0]
		s.queue[0] = nil
		s.queue = s.queue[1:]
		t.queued = false
		if t.gone {
			continue
		}
		t.m.probes.Add(1) // before the target can be removed: see Monitor.Run
		s.busy++
		start := s.clock.Now()
		lag := start.Sub(t.due)
		t.lastStart = start
		s.mu.Unlock()
		t.m.runProbe(s, t, start, lag)
		s.mu.Lock()
		s.busy--
		t.m.probes.Done()
	}
}

// add schedules t's first probe within min(Jitter×interval, 250ms).
func (s *Scheduler) add(t *target, interval time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.gone, t.interval = false, interval
	first := min(time.Duration(float64(interval)*s.jitter), firstProbeMax)
	s.push(t, s.clock.Now().Add(time.Duration(rand.Int64N(int64(first)+1))))
	s.byAddr[t.addr] = append(s.byAddr[t.addr], t)
}

// remove stops probing t; a probe of it under way is cancelled.
func (s *Scheduler) remove(t *target) {
	s.mu.Lock()
	defer s.mu.Unlock()
	t.gone = true
	if t.index >= 0 {
		heap.Remove(&s.due, t.index)
	}
	if t.cancel != nil {
		t.cancel()
	}
	ts := s.byAddr[t.addr]
	for i, o := range ts {
		if o == t {
			ts = append(ts[:i], ts[i+1:]...)
			break
		}
	}
	if len(ts) == 0 {
		delete(s.byAddr, t.addr)
	} else {
		s.byAddr[t.addr] = ts
	}
}

// next schedules t's next probe after one that started at start and
// ended at end: interval × (1 ± Jitter) after start (× Stretch when
// stretch says so), and not before end.
func (s *Scheduler) next(t *target, start, end time.Time, interval time.Duration, stretch bool) {
	if stretch && s.outcomes != nil {
		if ls := s.outcomes.LastSuccess(t.addr); !ls.IsZero() && end.Sub(ls) < time.Duration(s.stretch)*interval {
			interval *= time.Duration(s.stretch)
		}
	}
	d := time.Duration(float64(interval) * (1 + s.jitter*(2*rand.Float64()-1)))
	at := start.Add(d)
	if at.Before(end) {
		at = end
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if t.gone || t.index >= 0 {
		return
	}
	t.interval = interval
	s.push(t, at)
}

// shorten brings t's next probe within interval × (1 + Jitter) of now
// (the interval was shortened by a config reload).
func (s *Scheduler) shorten(t *target, interval time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	at := s.clock.Now().Add(time.Duration(float64(interval) * (1 + s.jitter*(2*rand.Float64()-1))))
	if t.index >= 0 && at.Before(t.due) {
		t.due, t.interval = at, interval
		heap.Fix(&s.due, t.index)
		s.signal(t)
	}
}

// Kick asks for a probe of every target at addr at once (the proxy saw
// a request to it fail), unless one is under way or started less than
// min(¼ interval, 1s) ago (then at that time).
func (s *Scheduler) Kick(addr string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	for _, t := range s.byAddr[addr] {
		if t.index < 0 {
			continue // running or queued
		}
		at := now
		if soonest := t.lastStart.Add(min(t.interval/4, kickGap)); soonest.After(at) {
			at = soonest
		}
		if at.Before(t.due) {
			t.due = at
			heap.Fix(&s.due, t.index)
			s.signal(t)
		}
	}
}

// push puts t in the heap, due at at. s.mu is held.
func (s *Scheduler) push(t *target, at time.Time) {
	t.due = at
	heap.Push(&s.due, t)
	s.signal(t)
}

// signal wakes Run if t became the head of the heap. s.mu is held.
func (s *Scheduler) signal(t *target) {
	if t.index == 0 {
		select {
		case s.wake <- struct{}{}:
		default:
		}
	}
}

// dueHeap orders targets by their next probe.
type dueHeap []*target

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].due.Before(h[j].due) }
func (h dueHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].index, h[j].index = i, j
}
func (h *dueHeap) Push(x any) {
	t := x.(*target)
	t.index = len(*h)
	*h = append(*h, t)
}
func (h *dueHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	old[len(old)-1] = nil
	t.index = -1
	*h = old[:len(old)-1]
	return t
}
