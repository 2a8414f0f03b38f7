package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/checks"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// route applies the decided weights over the versions' ready instances,
// persisting the route before the router sees it.
func (l *loop) route(ctx context.Context, weights map[string]int) {
	m := l.svc.Spec.Match
	rt := router.Route{Service: l.svc.Spec.Name, Host: m.Host, PathPrefix: m.PathPrefix, Backends: []router.Backend{},
		Sticky: l.sticky()}
	if _, ok := weights[l.r.To.Label]; !ok && (len(l.r.HeaderRoutes) > 0 || l.r.MirrorPercent > 0) {
		// The header or mirror routes' target at weight 0: only they send to it.
		weights = maps.Clone(weights)
		weights[l.r.To.Label] = 0
	}
	for _, label := range pickOrder(weights, l.r.To.Label, l.r.BaselineLabel()) {
		rt.Backends = append(rt.Backends, router.Backend{Version: label, Weight: weights[label], Addrs: l.readyAddrs(label)})
	}
	if l.r.MirrorPercent > 0 {
		rt.Mirror = &router.Mirror{Version: l.r.To.Label, Percent: l.r.MirrorPercent}
	}
	l.protect(&rt)
	if p := l.svc.Spec.Protocol; p != spec.ProtocolHTTP {
		rt.Protocol, rt.GRPCErrorCodes = p, l.svc.Spec.GRPCErrorCodes()
	}
	rt.Maintenance, rt.Hold = l.maintenance, l.liveHold()
	for _, h := range l.r.HeaderRoutes {
		rt.Rules = append(rt.Rules, router.Rule{Header: h.Header, Cookie: h.Cookie, Exact: h.Exact, Prefix: h.Prefix,
			Regex: h.Regex, Version: l.r.To.Label})
	}
	if rt.Equal(l.applied) {
		l.unrouted = ""
		return
	}
	err := l.c.Store.PutRoute(ctx, rt)
	l.failing("persisting route", err, slog.LevelError)
	if err != nil {
		l.unrouted = "persisting the route: " + err.Error()
		return
	}
	err = l.c.Router.SetRoute(ctx, rt)
	level := slog.LevelError
	if errors.Is(err, router.ErrPending) {
		level = slog.LevelInfo // written; the next step checks again
	}
	l.failing("applying route", err, level)
	if err != nil {
		// The engine holds the rollout where it is until the router
		// confirms: a refused split is not one that was obeyed.
		l.unrouted = err.Error()
		return
	}
	l.applied, l.unrouted = rt, ""
}

// pickOrder lists the versions with the new one first, then the
// dedicated baseline, then the rest: the order sticky users fill buckets
// in, so that as the new version grows users only move to it.
func pickOrder(weights map[string]int, first ...string) []string {
	var out []string
	for _, f := range first {
		if _, ok := weights[f]; ok && f != "" {
			out = append(out, f)
		}
	}
	for _, label := range slices.Sorted(maps.Keys(weights)) {
		if !slices.Contains(out, label) {
			out = append(out, label)
		}
	}
	return out
}

// protect adds the service's shield (on the stable version, while a new
// version takes traffic) and outlier ejection to a route.
func (l *loop) protect(rt *router.Route) {
	s := l.svc.Spec
	if sh := s.Shield; sh != nil && l.r.Phase.Active() && l.r.From.Label != "" {
		rt.Shield = &router.Shield{Stable: l.r.From.Label, Methods: sh.Methods}
	}
	if o := s.Outlier; o != nil {
		rt.Outlier = &router.Outlier{ConsecutiveFailures: o.ConsecutiveFailures,
			BaseEjection: o.BaseEjection.D().Seconds(), MaxEjection: o.MaxEjection.D().Seconds()}
	}
}

// sticky is the service's sticky key for the router, nil without.
func (l *loop) sticky() *router.Sticky {
	st := l.svc.Spec.Sticky
	if st == nil {
		return nil
	}
	return &router.Sticky{Header: st.Header, Cookie: st.Cookie, Generate: st.Generate != nil && *st.Generate,
		MaxAge: int(st.MaxAge.D().Seconds()), Path: st.Path, Secure: st.Secure,
		HTTPOnly: st.HTTPOnly != nil && *st.HTTPOnly, SameSite: st.SameSite}
}

// act carries out the engine's actions. Each is idempotent: an action
// already under way is not started twice.
func (l *loop) act(ctx context.Context, actions []engine.Action) {
	for _, a := range actions {
		switch a.Kind {
		case engine.ActDeploy:
			l.deploy(ctx, a)
		case engine.ActSmoke:
			l.runSmoke(ctx, a.Version)
		case engine.ActStop:
			l.stop(ctx, a.Version, a.Reason)
		case engine.ActScale:
			l.scale(ctx, a)
		case engine.ActHook:
			l.runHook(ctx, a)
		}
	}
}

func splitDeploys(actions []engine.Action) (deploys, rest []engine.Action) {
	for _, a := range actions {
		if a.Kind == engine.ActDeploy {
			deploys = append(deploys, a)
		} else {
			rest = append(rest, a)
		}
	}
	return deploys, rest
}

func (l *loop) deploy(ctx context.Context, a engine.Action) {
	rec := l.ver(a.Version)
	if rec.state == versionStopping {
		// Its stop, under way in the background, would take the new
		// instances with it: once it is done the version no longer runs,
		// and the engine asks again.
		return
	}
	v := l.versionSpec(a.Version)
	if err := l.svc.Platform.Deploy(ctx, v); err != nil {
		rec.on(verDeployFailed, fmt.Sprintf("deploying %s: %v", a.Version, err))
		l.record(ctx, rec.problem)
		return
	}
	rec.on(verDeployed, "")
	l.record(ctx, fmt.Sprintf("%s: started %s", a.Reason, a.Version))
}

func (l *loop) versionSpec(label string) platform.Version {
	switch label {
	case l.r.From.Label:
		return l.r.From
	case l.r.BaselineLabel():
		v := l.r.From
		v.Label, v.Build = label, l.r.From.BuildOf()
		return v
	}
	return l.r.To
}

// runSmoke runs the smoke tests in the background; the result is posted
// back to the loop for the phase that asked for it.
func (l *loop) runSmoke(ctx context.Context, label string) {
	if l.smokeRunning || l.smoke != nil {
		return
	}
	l.smokeRunning = true
	id, since, stepSince, addrs, tests := l.r.ID, l.r.PhaseSince, l.r.StepSince, l.readyAddrs(label), l.smokeTests()
	l.c.spawn(func() {
		res := checks.RunSmoke(ctx, checkClient(l.c, l.svc.Spec), addrs, tests)
		l.post(ctx, func() {
			l.smokeRunning = false
			if l.r.ID == id && l.r.PhaseSince.Equal(since) && l.r.StepSince.Equal(stepSince) {
				l.smoke = &engine.SmokeResult{Passed: res.Passed, Reason: res.Reason}
			}
		})
	})
}

// scale makes a version run a.Replicas instances. Missing ones start at
// once; extra ones (the highest-numbered, which the platform stops) are
// first taken out of the route and drained, in the background.
func (l *loop) scale(ctx context.Context, a engine.Action) {
	rec := l.ver(a.Version)
	if rec.scaling || rec.state == versionStopping {
		return
	}
	v := l.versionSpec(a.Version)
	v.Replicas = a.Replicas
	running, err := l.running(a.Version)
	if err != nil {
		return // unknown: scale once the platform answers
	}
	if a.Replicas == 0 { // 0 means "configured" to the platform: stop instead
		if len(running) > 0 {
			l.stop(ctx, a.Version, "scaled to 0 instances")
		}
		return
	}
	if len(running) <= a.Replicas || l.selfReady() { // such a platform drains what it removes
		if len(running) > a.Replicas {
			l.record(ctx, fmt.Sprintf("scaling %s from %d to %d instances", a.Version, len(running), a.Replicas))
			// Its instance ids come back if it grows again: as new instances.
			l.forgetReadiness(l.readinessKeys(running[a.Replicas:]))
		}
		if err := l.svc.Platform.Deploy(ctx, v); err != nil {
			rec.on(verDeployFailed, fmt.Sprintf("scaling %s to %d: %v", a.Version, a.Replicas, err))
		} else {
			rec.on(verDeployed, "")
		}
		return
	}
	rec.on(verDeployed, "") // the remaining instances run: it is this run's
	var victims []string
	for _, in := range running[a.Replicas:] {
		victims = append(victims, in.Addr)
		l.inst(in.Addr).on(instDrain, l.c.now())
	}
	rec.scaling = true
	l.record(ctx, fmt.Sprintf("scaling %s from %d to %d instances", a.Version, len(running), a.Replicas))
	l.scaleDowns = append(l.scaleDowns, scaleDown{victims, func() {
		l.drain(ctx, victims)
		err := l.svc.Platform.Deploy(ctx, v)
		l.post(ctx, func() {
			rec.scaling = false
			for _, addr := range victims {
				delete(l.insts, addr) // gone with the scale-down
			}
			l.monitor.Forget(victims...)
			if err != nil {
				l.c.logger().Error("scaling down", "service", l.svc.Spec.Name, "version", a.Version, "err", err)
			}
		})
	}})
}

// scaleDown is a scale-down waiting for its instances to leave the route.
type scaleDown struct {
	victims []string
	run     func() // drains and stops them; runs on its own goroutine
}

// startScaleDowns starts the scale-downs whose instances the applied
// route no longer sends requests to. Draining only means something once
// the router stopped picking them: started earlier, the wait could find
// nothing in flight while new requests still arrive (regression: a 502
// from an instance stopped during a rolling batch).
func (l *loop) startScaleDowns() {
	routed := map[string]bool{}
	for _, b := range l.applied.Backends {
		for _, a := range b.Addrs {
			routed[a] = true
		}
	}
	waiting := l.scaleDowns[:0]
	for _, sd := range l.scaleDowns {
		if slices.ContainsFunc(sd.victims, func(a string) bool { return routed[a] }) {
			waiting = append(waiting, sd)
			continue
		}
		l.c.spawn(sd.run)
	}
	l.scaleDowns = waiting
}

// smokeTests are the tests the current phase asks for: a canary's checks
// step, or the service's smoke tests.
func (l *loop) smokeTests() []spec.Smoke {
	steps := l.svc.Spec.Canary.Steps
	if l.r.Phase == engine.PhaseProgressing && l.r.Step < len(steps) && steps[l.r.Step].Checks != nil {
		return steps[l.r.Step].Checks
	}
	return l.svc.Spec.Smoke
}

// stop drains a version that has left the route, then stops it, in the
// background.
func (l *loop) stop(ctx context.Context, label, reason string) {
	rec := l.ver(label)
	if !rec.on(verStopStarted, "") {
		return // already stopping
	}
	l.record(ctx, fmt.Sprintf("stopping %s: %s", label, reason))
	addrs := l.addrs(label)
	insts, _ := l.instances(label) // unknown: their probes are forgotten with the addresses
	keys := l.readinessKeys(insts)
	l.c.spawn(func() {
		l.drain(ctx, addrs)
		err := l.svc.Platform.Stop(ctx, l.svc.Spec.Name, label)
		l.post(ctx, func() {
			rec.on(verStopDone, "")
			l.monitor.Forget(addrs...)
			l.forgetReadiness(keys)
			if err != nil {
				l.c.logger().Error("stopping version", "service", l.svc.Spec.Name, "version", label, "err", err)
			}
		})
	})
}

func (l *loop) drain(ctx context.Context, addrs []string) {
	if l.c.Drainer == nil || len(addrs) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(ctx, l.c.drainTimeout())
	defer cancel()
	if err := l.c.Drainer.WaitDrained(ctx, addrs); err != nil {
		l.c.logger().Warn("draining did not finish; stopping anyway", "service", l.svc.Spec.Name, "addrs", addrs, "err", err)
	}
}

// collect stops versions this run started that the current rollout no
// longer uses (the warm old version of a rollout superseded by a new one).
func (l *loop) collect(ctx context.Context) {
	for label, rec := range l.versions {
		if rec.owned() && label != l.r.From.Label && label != l.r.To.Label && label != l.r.BaselineLabel() {
			l.stop(ctx, label, fmt.Sprintf("superseded by rollout #%d", l.r.ID))
		}
	}
}

// restartBackoff spaces restarts of a crashing version so that a crash
// loop neither spins nor floods the event log.
const restartBackoff = 5 * time.Second

// supervise restarts exited instances of the version that serves users
// outside the rollout's judgement: the old version, and the new one once
// it is stable.
func (l *loop) supervise(ctx context.Context, obs engine.Observation) {
	if l.selfReady() {
		return // such a platform restarts its instances itself (the kubelet)
	}
	if obs.Old.Exited > 0 && l.ver(l.r.From.Label).state != versionStopping && l.ver(l.r.From.Label).state != versionBroken {
		l.restart(ctx, l.r.From, obs.Old.Problem)
	}
	if l.r.Phase == engine.PhaseCompleted && obs.New.Exited > 0 && l.ver(l.r.To.Label).state != versionStopping &&
		l.ver(l.r.To.Label).state != versionBroken {
		l.restart(ctx, l.r.To, obs.New.Problem)
	}
}

func (l *loop) restart(ctx context.Context, v platform.Version, why string) {
	now := l.c.now()
	rec := l.ver(v.Label)
	if now.Sub(rec.restarted) < restartBackoff {
		return
	}
	rec.restarted = now
	l.record(ctx, fmt.Sprintf("restarting %s instances (%s)", v.Label, why))
	if err := l.svc.Platform.Deploy(ctx, v); err != nil {
		l.c.logger().Error("restarting version", "service", v.Service, "version", v.Label, "err", err)
	}
}
