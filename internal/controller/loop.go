package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/checks"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// loop is one service's reconcile loop. Everything but snap is owned by
// the goroutine in run; other goroutines reach it through exec.
type loop struct {
	c       *Controller
	svc     Service
	monitor *checks.Monitor
	do      chan func()

	r        engine.Rollout // the service's current (latest) rollout
	applied  router.Route   // the route last applied
	unrouted string         // why the route of the rollout's split is not applied ("" once it is): Observation.Route

	maintenance *router.Maintenance // the service's maintenance, nil: none (edge.go)
	hold        *router.Hold        // the service's pause-traffic, nil: none

	phaseBase     metrics.Counts // new version's counts when the phase began
	exposureBase  metrics.Counts // new version's counts when the rollout was loaded
	exposureStart metrics.Counts // the rollout's exposure when it was loaded

	smoke        *engine.SmokeResult
	smokeRunning bool
	hookResults  map[engine.Hook]*engine.HookResult // the current rollout's hooks that ended in this run
	hookRunning  map[hookKey]bool
	versions     map[string]*versionRec  // by label: see records.go
	insts        map[string]*instanceRec // by readiness key: see records.go

	stepRun, bgRun *analysisRun      // the analyses under way
	wake           chan struct{}     // signalled by Notify
	failures       map[string]string // operation → its repeating error, logged once (failing)
	scaleDowns     []scaleDown       // scale-downs waiting for the route to drop their instances
	runCtx         context.Context   // the loop's own context, for work a command starts (set by run)

	steps atomic.Int64 // steps taken, for tests (export_test.go)

	mu   sync.Mutex
	snap snapshot
	rev  uint64 // snap's revision (StatusRev)
}

func newLoop(c *Controller, s Service) *loop {
	return &loop{
		c: c, svc: s,
		monitor:  c.newMonitor(s.Spec),
		do:       make(chan func()),
		wake:     make(chan struct{}, 1),
		versions: map[string]*versionRec{}, insts: map[string]*instanceRec{},
		hookResults: map[engine.Hook]*engine.HookResult{}, hookRunning: map[hookKey]bool{},
	}
}

// load reads the service's latest rollout, creating the first deploy of
// the configured version if the service has none.
func (l *loop) load(ctx context.Context) error {
	rs, err := l.c.Store.ListRollouts(ctx, l.svc.Spec.Name, 1)
	if err != nil {
		return err
	}
	if len(rs) == 1 {
		l.take(ctx, rs[0])
		l.resumeAnalysis(ctx)
		return l.owned(ctx)
	}
	r, err := l.create(ctx, l.version(l.svc.Spec.Version, nil, nil), l.svc.Spec.Strategy, "first start: deploying the configured version")
	if err != nil {
		return err
	}
	l.adopt(ctx, r)
	return nil
}

// adopt makes a rollout just created the loop's current one and
// announces its first event.
func (l *loop) adopt(ctx context.Context, r engine.Rollout) {
	l.take(ctx, r)
	l.notify(engine.Event{RolloutID: r.ID, Service: r.Service, Time: r.Started, Phase: r.Phase, Reason: r.Reason, Weights: r.Weights})
}

// owned marks, after a restart, the versions of recent rollouts whose
// instances still run (the platform adopted them) as this run's, so that
// they are stopped once superseded (collect) like the versions it starts.
func (l *loop) owned(ctx context.Context) error {
	rs, err := l.c.Store.ListRollouts(ctx, l.svc.Spec.Name, ownedLookback)
	if err != nil {
		return err
	}
	for _, r := range rs {
		for _, label := range []string{r.To.Label, r.From.Label, r.BaselineLabel()} {
			if label == "" || l.ver(label).owned() {
				continue
			}
			running, err := l.running(label)
			if err != nil || len(running) > 0 {
				// Unknown counts as running: stopping a version that does
				// not run is no error, leaving one running is a leak.
				l.ver(label).on(verDeployed, "")
			}
		}
	}
	return nil
}

// ownedLookback is how many recent rollouts owned looks through: a
// version older than that was stopped when it was superseded.
const ownedLookback = 10

// resumeAnalysis, at start, begins a canary's analysis step again when
// the measurements since it began were lost with the process that held
// them (the in-process proxy restarted with bluejay, so its counters went
// back): judging the rest of the step on the few requests after the
// restart would end it Inconclusive and pause a healthy canary. With a
// source that kept counting (a separate proxy, Prometheus) the analysis
// carries on from the step's start instead (runFor).
func (l *loop) resumeAnalysis(ctx context.Context) {
	r := l.r
	if r.Strategy != engine.StrategyCanary || r.Phase != engine.PhaseProgressing || r.Step >= len(r.Params.Steps) ||
		r.Params.Steps[r.Step].Kind != engine.StepAnalysis {
		return
	}
	// With a fresh source, counters at the step's start that were 0 would
	// look unchanged: only the flag tells (regression: a second crash in
	// one step judged it on the moments after the restart, and paused).
	lost := l.c.FreshMetrics || len(r.StepCounts) == 0
	for label, base := range r.StepCounts {
		if l.counts(ctx, label).Requests < base.Requests {
			lost = true
		}
	}
	if !lost {
		return
	}
	now := l.c.now()
	next := r
	next.StepSince, next.PhaseSince = now, now
	next.StepCounts = l.stepCounts(ctx, next)
	why := fmt.Sprintf("step %d/%d begins again: bluejay restarted and the measurements since the step began were lost with its in-process proxy",
		r.Step+1, len(r.Params.Steps))
	ev := &engine.Event{RolloutID: r.ID, Service: r.Service, Time: now, From: r.Phase, Phase: r.Phase, Reason: why, Weights: r.Weights}
	if err := l.c.Store.UpdateRollout(ctx, next, ev); err != nil {
		l.c.logger().Error("restarting an analysis step", "service", r.Service, "rollout", r.ID, "err", err)
		return
	}
	l.c.logger().Info("analysis step begins again", "service", r.Service, "rollout", r.ID, "step", r.Step+1)
	l.r = next
}

// stepCounts reads the counters of r's measured versions, for
// Rollout.StepCounts.
func (l *loop) stepCounts(ctx context.Context, r engine.Rollout) map[string]metrics.Counts {
	out := map[string]metrics.Counts{}
	for _, label := range []string{r.To.Label, r.From.Label, r.BaselineLabel()} {
		if label != "" {
			out[label] = l.counts(ctx, label)
		}
	}
	return out
}

// take makes r the loop's current rollout.
func (l *loop) take(ctx context.Context, r engine.Rollout) {
	l.r = r
	clear(l.hookResults)
	l.exposureBase = l.counts(ctx, r.To.Label)
	l.exposureStart = r.Exposure
	l.phaseBase = l.exposureBase
	l.smoke, l.smokeRunning = nil, false
	l.publish()
}

// reread, after a write refused as stale (another controller wrote the
// rollout since this one read it: this one may have lost its lease),
// takes the service's latest stored rollout as the truth. The refused
// decision was never acted on, so the next step decides afresh from
// what was persisted instead of failing on every tick.
func (l *loop) reread(ctx context.Context) {
	rs, err := l.c.Store.ListRollouts(ctx, l.svc.Spec.Name, 1)
	if err != nil || len(rs) == 0 {
		l.c.logger().Error("rereading the rollout after a stale write", "service", l.svc.Spec.Name, "err", err)
		return
	}
	l.c.logger().Warn("another controller wrote the rollout; carrying on from the stored one",
		"service", l.svc.Spec.Name, "rollout", rs[0].ID, "phase", rs[0].Phase)
	l.take(ctx, rs[0])
	l.applied = router.Route{} // the other controller may have routed otherwise: route afresh
}

// run steps the rollout whenever something may have changed, until ctx
// is done: a readiness flip, a failed request (Notify), a command, a
// finished action, or the loop's timer (wait).
func (l *loop) run(ctx context.Context) {
	l.runCtx = ctx
	l.c.spawn(func() { l.monitor.Run(ctx) })
	var t *time.Timer // the real clock's timer, reused (nil with Controller.After)
	if l.c.After == nil {
		t = time.NewTimer(l.c.tick())
		defer t.Stop()
	}
	for {
		if _, err := l.step(ctx, ""); err != nil {
			l.c.logger().Error("rollout step", "service", l.svc.Spec.Name, "rollout", l.r.ID, "err", err)
		}
		var timer <-chan time.Time
		if t != nil {
			t.Reset(l.wait(l.c.now()))
			timer = t.C
		} else {
			timer = l.c.After(l.wait(l.c.now()))
		}
		select {
		case <-ctx.Done():
			return
		case <-timer:
		case <-l.monitor.Changes():
		case <-l.wake:
		case f := <-l.do:
			f()
		}
	}
}

// wait is how long the loop sleeps after a step when nothing wakes it
// (issue 22: thousands of services each stepping five times a second
// were most of an idle controller's CPU). The engine's next deadline
// (engine.NextDeadline: a watch, a pause, a readiness wait, a scale-down
// delay, the progress deadline ending) always ends the wait, so that a
// time-based transition is taken when it is due; before it, the wait is
// the loop's period.
func (l *loop) wait(now time.Time) time.Duration {
	w := l.period()
	if next := engine.NextDeadline(l.r, now); !next.IsZero() {
		w = min(w, next.Sub(now))
	}
	return max(w, time.Millisecond)
}

// activeTicks is how many ticks a loop whose rollout is under way waits
// for what no event announces (the new version's traffic reaching
// minRequests, instances the platform lists, a retry of a failed
// action), when nothing the controller drives itself is pending.
const activeTicks = 5

// idleTicks is how many ticks a service with nothing to do waits between
// steps on a platform that reports readiness itself (Kubernetes): no
// probe of bluejay's tells the loop that an instance became unready.
const idleTicks = 5

// period is how long the loop waits for a step when nothing wakes it and
// no deadline comes first:
//   - a tick while something the loop drives and no event ends is under
//     way: an analysis (its latest evaluation is taken at every step), a
//     scale-down waiting for the route, a drain, a route not confirmed,
//     a rolling batch (its instances' minHealthyTime);
//   - activeTicks ticks for the rest of an active rollout, or a service
//     whose last action failed (to retry it);
//   - Resync once the rollout ended and settled: readiness flips, failed
//     requests, commands and finished actions wake it at once, so the
//     timer only catches what no event reports (an instance gone from
//     the platform's list). On a platform that reports readiness itself
//     (no probe wakes the loop), idleTicks ticks.
func (l *loop) period() time.Duration {
	tick := l.c.tick()
	switch {
	case l.stepRun != nil || l.bgRun != nil || len(l.scaleDowns) > 0 || l.draining() || l.unrouted != "",
		l.r.Phase.Active() && l.r.Strategy == engine.StrategyRolling:
		return tick
	case !l.r.Phase.Terminal() || !l.r.Settled || len(l.failures) > 0:
		return activeTicks * tick
	case l.selfReady():
		return idleTicks * tick
	}
	return l.c.resync()
}

// standbyWait is how long a command waits for the loops to run before
// it is answered ErrStandby.
const standbyWait = 3 * time.Second

// exec runs f on the loop's goroutine and returns its error.
func (l *loop) exec(ctx context.Context, f func() error) error {
	// The loops run once Run restored the routes and loaded the
	// rollouts: a command in the moments before waits for them; a
	// standby's (its loops never run while another leads) gives up.
	select {
	case <-l.c.readyChan():
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(standbyWait):
		return ErrStandby
	}
	done := make(chan error, 1)
	select {
	case l.do <- func() { done <- f() }:
	case <-ctx.Done():
		return ctx.Err()
	}
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// post hands f to the loop from a helper goroutine, giving up when ctx is done.
func (l *loop) post(ctx context.Context, f func()) {
	select {
	case l.do <- f:
	case <-ctx.Done():
	}
}

// step observes, decides, persists the decision, then acts on it.
func (l *loop) step(ctx context.Context, cmd engine.Command) (engine.Decision, error) {
	l.steps.Add(1)
	now := l.c.now()
	obs := l.observe(ctx, cmd, now)
	d := engine.Step(l.r, obs, now)
	if d.Rejected != "" {
		return d, nil
	}
	l.supervise(ctx, obs)
	if err := l.persist(ctx, d, now); err != nil {
		if errors.Is(err, store.ErrStale) {
			l.reread(ctx)
		}
		return d, fmt.Errorf("persisting decision %s: %w", d.Phase, err)
	}
	// Deploys go first so that, after a restart, the platform knows the
	// instances the restored route points at before the route is rebuilt;
	// stops go after the route no longer sends them new requests.
	deploys, rest := splitDeploys(d.Actions)
	l.act(ctx, deploys)
	l.route(ctx, d.Weights)
	l.act(ctx, rest)
	if l.draining() {
		l.route(ctx, d.Weights) // a scale-down took instances out of the split
	}
	l.startScaleDowns()
	l.collect(ctx)
	l.publish()
	return d, nil
}

// persist writes the decision into the rollout, with an event when the
// phase changes, before anything is acted on.
func (l *loop) persist(ctx context.Context, d engine.Decision, now time.Time) error {
	next := l.r
	next.Phase, next.Reason, next.Weights, next.Settled = d.Phase, d.Reason, d.Weights, d.Settled
	next.Step, next.Inconclusives = d.Step, d.Inconclusives
	next.NewCount, next.OldCount = d.NewCount, d.OldCount
	next.HeaderRoutes, next.MirrorPercent = d.HeaderRoutes, d.MirrorPercent
	next.Hooks, next.Hold = d.Hooks, d.Hold
	next.StepVerdicts, next.BackgroundVerdicts = l.verdicts()
	stepped := d.Step != l.r.Step || d.RestartStep
	if !stepped && next.Equal(l.r) {
		return nil // nothing changed: no write
	}
	next.Exposure = l.exposure(ctx)
	if stepped {
		next.StepSince = now
	}

	var ev *engine.Event
	if d.Transition(l.r) || stepped {
		next.PhaseSince = now
		if d.Phase.Terminal() {
			next.Ended = now
		}
		ev = &engine.Event{RolloutID: l.r.ID, Service: l.r.Service, Time: now, From: l.r.Phase,
			Phase: d.Phase, Reason: d.Reason, Weights: d.Weights, Numbers: withExposure(d.Numbers, next.Exposure)}
	}
	if !d.PhaseSince.IsZero() { // a resumed rollout's clocks, moved past its pause
		next.PhaseSince = d.PhaseSince
	}
	if !d.StepSince.IsZero() {
		next.StepSince = d.StepSince
	}
	if !next.StepSince.Equal(l.r.StepSince) && d.StepSince.IsZero() {
		next.StepCounts = l.stepCounts(ctx, next)
		next.Before = addBefore(l.r, next.StepCounts)
	}
	if d.Phase == engine.PhaseWatching && l.r.Phase != engine.PhaseWatching {
		next.Before = l.beforeSwitch(ctx)
	}
	if !next.StepSince.Equal(l.r.StepSince) || d.RestartStep {
		next.StepVerdicts, next.BackgroundVerdicts = engine.VerdictCounts{}, engine.VerdictCounts{}
	}
	if err := l.c.Store.UpdateRollout(ctx, next, ev); err != nil {
		return err
	}
	if ev != nil {
		l.notifyAs(next, *ev)
		l.c.logger().Info("rollout phase", "service", l.r.Service, "rollout", l.r.ID,
			"from", l.r.Phase, "to", d.Phase, "step", d.Step, "reason", d.Reason)
		l.phaseBase = l.counts(ctx, next.To.Label)
		l.smoke = nil
	}
	l.r = next
	return nil
}

// exposure is the blast radius so far: the new version's user requests
// since the rollout started. It never goes below the exposure the rollout
// recorded: a source that no longer has the version's counts (the proxy
// released a rolled-back version that left the route more than its
// Retain ago, before the rollout settled; a separate proxy restarted)
// must not shrink a blast radius already known.
func (l *loop) exposure(ctx context.Context) metrics.Counts {
	cur := l.counts(ctx, l.r.To.Label)
	d := cur.Sub(l.exposureBase)
	e := metrics.Counts{Requests: l.exposureStart.Requests + d.Requests, Errors: l.exposureStart.Errors + d.Errors,
		Users:       l.exposureStart.Users + max(0, cur.Users-l.exposureBase.Users),
		FailedUsers: l.exposureStart.FailedUsers + max(0, cur.FailedUsers-l.exposureBase.FailedUsers)}
	if e.Requests < l.r.Exposure.Requests || e.Errors < l.r.Exposure.Errors {
		return l.r.Exposure
	}
	return e
}

func withExposure(n map[string]float64, e metrics.Counts) map[string]float64 {
	out := maps.Clone(n)
	if out == nil {
		out = map[string]float64{}
	}
	out["exposedRequests"] = float64(e.Requests)
	out["exposedErrors"] = float64(e.Errors)
	out["exposedUsers"] = float64(e.Users)
	out["failedUsers"] = float64(e.FailedUsers)
	return out
}

func (l *loop) counts(ctx context.Context, version string) metrics.Counts {
	if version == "" {
		return metrics.Counts{}
	}
	c, err := l.c.Metrics.Counts(ctx, l.svc.Spec.Name, version)
	l.failing("reading metrics of "+version, err, slog.LevelWarn)
	return c
}

// record appends an event that changes no phase (an action's reason).
func (l *loop) record(ctx context.Context, reason string) { l.recordHook(ctx, "", reason) }

// recordHook appends an event that changes no phase, reporting a hook's
// run if hook is set.
func (l *loop) recordHook(ctx context.Context, hook engine.Hook, reason string) {
	ev := &engine.Event{RolloutID: l.r.ID, Service: l.r.Service, Time: l.c.now(), From: l.r.Phase,
		Phase: l.r.Phase, Reason: reason, Hook: hook}
	if err := l.c.Store.UpdateRollout(ctx, l.r, ev); err != nil {
		l.c.logger().Error("recording event", "service", l.r.Service, "reason", reason, "err", err)
		return
	}
	l.notify(*ev)
}

// notify tells the notifier about an event of the current rollout.
func (l *loop) notify(ev engine.Event) { l.notifyAs(l.r, ev) }

func (l *loop) notifyAs(r engine.Rollout, ev engine.Event) {
	if l.c.Notifier != nil {
		l.c.Notifier.Notify(r, ev)
	}
}
