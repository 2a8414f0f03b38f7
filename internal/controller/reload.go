package controller

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// Reload is a new configuration for a running controller (a config
// reload): every service, in config order, and the analysis templates.
type Reload struct {
	// Services are all the configured services: those already running
	// take their new spec (and platform; nil keeps the running one), new
	// ones are deployed, and the running ones missing here are drained
	// and stopped.
	Services []Service
	// Templates replace Controller.Templates.
	Templates map[string]spec.AnalysisTemplate
	// Apply, if set, is called while every loop waits, once the reload
	// is known to go ahead: the caller's own changes (platforms,
	// certificates) then land with the controller's, never half.
	Apply func()
	// RestartActive restarts the active rollout of each changed service
	// (in What) under its new spec: it is aborted, and the same version
	// rolls out again once it has rolled back. False: it keeps its plan.
	RestartActive bool
	// What is the reload's summary, recorded in each changed service's
	// decision log ("canary changed").
	What map[string]string
}

// ReloadResult says what a reload started.
type ReloadResult struct {
	// Rollouts are the rollouts the reload started or asked for, one
	// line each ("web: rollout #4 to v3").
	Rollouts []string `json:"rollouts,omitempty"`
}

// reloadState is the controller's part in reloads: the loops' own
// contexts (so that a removed service's loop can be ended), and queued
// versions.
type reloadState struct {
	mu     sync.Mutex
	runCtx context.Context               // Run's context, for the loops a reload adds
	loops  map[string]loopHandle         // service → its loop's cancel and end
	queued map[string]context.CancelFunc // service → the wait for its active rollout to end
	kept   map[string]keptPlan           // service → the active rollout a reload changed the spec under
}

type keptPlan struct {
	rollout int64
	what    string
}

type loopHandle struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startLoop runs l under a context of its own, which a reload that
// removes the service cancels; Run waits for it.
func (c *Controller) startLoop(ctx context.Context, l *loop) {
	lctx, cancel := context.WithCancel(ctx)
	h := loopHandle{cancel: cancel, done: make(chan struct{})}
	c.reload.mu.Lock()
	if c.reload.loops == nil {
		c.reload.loops = map[string]loopHandle{}
	}
	c.reload.runCtx = ctx
	c.reload.loops[l.svc.Spec.Name] = h
	c.reload.mu.Unlock()
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		defer close(h.done)
		defer cancel()
		l.run(lctx)
	}()
}

// ErrRemoveActive refuses a reload that removes a service in the middle
// of a rollout.
var ErrRemoveActive = fmt.Errorf("%w: a service with an active rollout cannot be removed", ErrConflict)

// Reload applies a new configuration while every service's loop waits,
// so that no decision sees half of it: specs, platforms and templates are
// swapped, added services start (their first version, through the same
// gates) and removed ones are drained and stopped. An active rollout
// keeps the plan (steps, analysis, strategy) it started with; what is
// read at each decision (routing, health, smoke, hooks) is the new one.
// It is refused whole, with nothing changed, if a removed service has an
// active rollout. A service whose configured version changed is then
// reconciled (Declare).
func (c *Controller) Reload(ctx context.Context, rl Reload) (ReloadResult, error) {
	c.mu.Lock()
	loops := make([]*loop, 0, len(c.order))
	for _, name := range c.order {
		loops = append(loops, c.services[name])
	}
	c.mu.Unlock()
	release, err := c.park(ctx, loops)
	if err != nil {
		return ReloadResult{}, err
	}
	wanted := map[string]Service{}
	for _, s := range rl.Services {
		wanted[s.Spec.Name] = s
	}
	var removed []*loop
	versionChanged := map[string]bool{}
	for _, l := range loops {
		if _, ok := wanted[l.svc.Spec.Name]; !ok {
			if l.r.Phase.Active() {
				release()
				return ReloadResult{}, fmt.Errorf("%w: %s has rollout #%d %s; abort or promote it, then reload", ErrRemoveActive, l.svc.Spec.Name, l.r.ID, l.r.Phase)
			}
			removed = append(removed, l)
		}
	}
	// Every loop waits: swap everything at once.
	var added []*loop
	if rl.Apply != nil {
		rl.Apply()
	}
	c.mu.Lock()
	c.Templates = rl.Templates
	for _, l := range loops {
		s, ok := wanted[l.svc.Spec.Name]
		if !ok {
			delete(c.services, l.svc.Spec.Name)
			continue
		}
		versionChanged[s.Spec.Name] = s.Spec.Version != l.svc.Spec.Version
		if s.Platform == nil {
			s.Platform = l.svc.Platform
		}
		l.svc = s
		l.monitor.SetConfig(s.Spec.Health)
	}
	c.order = c.order[:0]
	for _, s := range rl.Services {
		if _, ok := c.services[s.Spec.Name]; !ok {
			l := newLoop(c, s)
			c.services[s.Spec.Name] = l
			added = append(added, l)
		}
		c.order = append(c.order, s.Spec.Name)
	}
	c.mu.Unlock()
	release()
	for _, l := range loops {
		c.Notify(l.svc.Spec.Name) // the new route at once, not at the next tick
	}

	for _, l := range removed {
		c.retire(ctx, l)
	}
	var res ReloadResult
	for _, l := range added {
		if err := l.load(ctx); err != nil {
			c.logger().Error("reload: starting an added service", "service", l.svc.Spec.Name, "err", err)
			res.Rollouts = append(res.Rollouts, fmt.Sprintf("%s: not started: %v", l.svc.Spec.Name, err))
			continue
		}
		c.reload.mu.Lock()
		runCtx := c.reload.runCtx
		c.reload.mu.Unlock()
		res.Rollouts = append(res.Rollouts, fmt.Sprintf("%s: added, rollout #%d to %s", l.svc.Spec.Name, l.r.ID, l.r.To.Label))
		c.startLoop(runCtx, l) // l is the loop's from here on
	}
	for _, s := range rl.Services {
		name := s.Spec.Name
		switch what := rl.What[name]; {
		case slices.ContainsFunc(added, func(l *loop) bool { return l.svc.Spec.Name == name }):
			c.recordReload(ctx, name, "service added")
		case what != "":
			c.recordReload(ctx, name, what)
		}
		if rl.RestartActive && rl.What[name] != "" && !versionChanged[name] {
			if line := c.restartActive(ctx, name); line != "" {
				res.Rollouts = append(res.Rollouts, line)
			}
		}
		if versionChanged[name] {
			line, err := c.Declare(ctx, name)
			if err != nil {
				line = fmt.Sprintf("%s: version %s: %v", name, s.Spec.Version, err)
			}
			if line != "" {
				res.Rollouts = append(res.Rollouts, line)
			}
		}
	}
	return res, nil
}

// park holds every loop in a command until release is called, so that
// the caller changes their state with no step under way. A loop that does
// not answer (a standby's) fails it, with those parked released.
func (c *Controller) park(ctx context.Context, loops []*loop) (release func(), err error) {
	gate := make(chan struct{})
	parked := make(chan error, len(loops))
	var wg sync.WaitGroup
	for _, l := range loops {
		wg.Go(func() {
			err := l.exec(ctx, func() error {
				parked <- nil
				<-gate
				return nil
			})
			if err != nil {
				parked <- err
			}
		})
	}
	var once sync.Once
	release = func() { once.Do(func() { close(gate); wg.Wait() }) }
	for range loops {
		if err = <-parked; err != nil {
			break
		}
	}
	if err != nil {
		release()
		return nil, fmt.Errorf("reload: waiting for the service loops: %w", err)
	}
	return release, nil
}

// recordReload appends an event to the service's latest rollout saying
// what the reload changed.
func (c *Controller) recordReload(ctx context.Context, service, what string) {
	l, err := c.service(service)
	if err != nil {
		return
	}
	err = l.exec(ctx, func() error {
		if l.r.ID == 0 {
			return nil
		}
		why := "config reloaded: " + what
		if l.r.Phase.Active() && what != "service added" {
			why += "; the active rollout keeps the plan it started with"
			c.reload.mu.Lock()
			if c.reload.kept == nil {
				c.reload.kept = map[string]keptPlan{}
			}
			c.reload.kept[service] = keptPlan{rollout: l.r.ID, what: what}
			c.reload.mu.Unlock()
		}
		l.record(ctx, why)
		return nil
	})
	if err != nil {
		c.logger().Error("reload: recording the change", "service", service, "err", err)
	}
}

// retire ends a removed service: its loop stops, its route leaves the
// router (the stored route is emptied), its traffic drains and its
// versions stop.
func (c *Controller) retire(ctx context.Context, l *loop) {
	name := l.svc.Spec.Name
	c.reload.mu.Lock()
	h, ok := c.reload.loops[name]
	delete(c.reload.loops, name)
	c.reload.mu.Unlock()
	if ok {
		h.cancel()
		<-h.done
	}
	addrs := routeAddrs(l.applied)
	empty := router.Route{Service: name, Backends: []router.Backend{}}
	if err := c.Store.PutRoute(ctx, empty); err != nil {
		c.logger().Error("reload: emptying a removed service's route", "service", name, "err", err)
	}
	if rm, ok := c.Router.(routeRemover); ok {
		rm.RemoveRoute(name)
	} else if err := c.Router.SetRoute(ctx, empty); err != nil {
		c.logger().Error("reload: removing a removed service's route", "service", name, "err", err)
	}
	c.logger().Info("config reloaded: service removed; draining and stopping it", "service", name)
	versions := []string{l.r.To.Label, l.r.From.Label, l.r.BaselineLabel()}
	c.spawn(func() {
		dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.drainTimeout())
		defer cancel()
		if c.Drainer != nil && len(addrs) > 0 {
			if err := c.Drainer.WaitDrained(dctx, addrs); err != nil {
				c.logger().Warn("draining a removed service did not finish; stopping anyway", "service", name, "err", err)
			}
		}
		for _, v := range versions {
			if v == "" {
				continue
			}
			if err := l.svc.Platform.Stop(dctx, name, v); err != nil {
				c.logger().Error("stopping a removed service's version", "service", name, "version", v, "err", err)
			}
		}
	})
}

// routeRemover is the optional capability of a router that can forget a
// service's entry (the builtin proxy): the service's requests then get
// the proxy's "no route" answer, as if it had never been configured.
type routeRemover interface {
	RemoveRoute(service string)
}

func routeAddrs(r router.Route) []string {
	var out []string
	for _, b := range r.Backends {
		out = append(out, b.Addrs...)
	}
	return out
}

// Declare reconciles a service with the version its config names (after
// a reload changed it): with no active rollout and another stable
// version, it starts a rollout to it, as Deploy would. While a rollout to
// another version is active, onNewVersion decides: "abort" (the default)
// aborts it and starts the new one once it has rolled back; "queue"
// starts the new one once the active one has ended. It returns what it
// did, in one line ("" when nothing was needed).
func (c *Controller) Declare(ctx context.Context, service string) (string, error) {
	l, err := c.service(service)
	if err != nil {
		return "", err
	}
	c.unqueue(service)
	var desired, policy string
	var cur engine.Rollout
	err = l.exec(ctx, func() error {
		desired, policy, cur = l.svc.Spec.Version, l.svc.Spec.OnNewVersion, l.r
		return nil
	})
	if err != nil {
		return "", err
	}
	switch {
	case cur.Phase.Active() && cur.To.Label == desired:
		return "", nil
	case !cur.Phase.Active() && cur.Stable() == desired:
		return "", nil
	case !cur.Phase.Active():
		r, err := c.deploy(ctx, DeployRequest{Service: service, Version: desired}, "config reloaded: version changed")
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s: rollout #%d to %s", service, r.ID, desired), nil
	}
	if policy != spec.OnNewVersionQueue {
		if _, err := c.Command(ctx, service, engine.CmdAbort); err != nil && !errors.Is(err, ErrConflict) {
			return "", fmt.Errorf("aborting rollout #%d: %w", cur.ID, err)
		}
	}
	c.queue(service, desired)
	verb := map[bool]string{true: "queued after", false: "aborted, then starts after"}[policy == spec.OnNewVersionQueue]
	return fmt.Sprintf("%s: %s %s rollout #%d to %s ends", service, desired, verb, cur.ID, cur.To.Label), nil
}

// queue waits, in the background, for the service's active rollout to
// end, then deploys version (unless the config changed it since, which
// queues again).
func (c *Controller) queue(service, version string) {
	c.reload.mu.Lock()
	defer c.reload.mu.Unlock()
	if c.reload.queued == nil {
		c.reload.queued = map[string]context.CancelFunc{}
	}
	ctx, cancel := context.WithCancel(c.reload.runCtx)
	c.reload.queued[service] = cancel
	c.spawn(func() {
		defer cancel()
		t := time.NewTicker(c.tick())
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			st, err := c.Status(service)
			if err != nil {
				return // removed
			}
			if st.Rollout.Phase.Active() {
				continue
			}
			if st.Stable == version {
				return
			}
			_, err = c.deploy(ctx, DeployRequest{Service: service, Version: version}, "config reloaded: queued version")
			switch {
			case err == nil, ctx.Err() != nil:
				return
			case errors.Is(err, ErrConflict):
				continue // a deploy got there first; wait for it
			default:
				c.logger().Error("starting a queued version", "service", service, "version", version, "err", err)
				return
			}
		}
	})
}

func (c *Controller) unqueue(service string) {
	c.reload.mu.Lock()
	defer c.reload.mu.Unlock()
	if cancel := c.reload.queued[service]; cancel != nil {
		cancel()
		delete(c.reload.queued, service)
	}
}

// declaredLookback is how many recent rollouts declareOnStart looks
// through for the configured version.
const declaredLookback = 50

// declareOnStart, once the loops run, rolls out each service's
// configured version if the service never ran it: the file was changed
// while bluejay was down, or bluejay died in the middle of the reload
// that changed it. A version that ran before is left alone, so that a
// restart neither undoes an imperative deploy nor repeats a rollback.
func (c *Controller) declareOnStart(ctx context.Context) {
	for _, name := range c.Services() {
		l, err := c.service(name)
		if err != nil {
			continue
		}
		var desired string
		if l.exec(ctx, func() error { desired = l.svc.Spec.Version; return nil }) != nil {
			return
		}
		rs, err := c.Store.ListRollouts(ctx, name, declaredLookback)
		if err != nil {
			c.logger().Error("reading rollouts for the configured version", "service", name, "err", err)
			continue
		}
		if slices.ContainsFunc(rs, func(r engine.Rollout) bool { return r.To.Label == desired }) {
			continue
		}
		line, err := c.Declare(ctx, name)
		if err != nil {
			c.logger().Error("rolling out the configured version", "service", name, "version", desired, "err", err)
			continue
		}
		c.logger().Info("the configured version never ran: rolling it out", "service", name, "version", desired, "did", line)
	}
}

// restartActive aborts the service's active rollout and queues its
// version again, so that it starts over under the reloaded spec.
func (c *Controller) restartActive(ctx context.Context, service string) string {
	st, err := c.Status(service)
	if err != nil || !st.Rollout.Phase.Active() {
		return ""
	}
	ro := st.Rollout
	if _, err := c.Command(ctx, service, engine.CmdAbort); err != nil && !errors.Is(err, ErrConflict) {
		return fmt.Sprintf("%s: restarting rollout #%d: %v", service, ro.ID, err)
	}
	c.queue(service, ro.To.Label)
	return fmt.Sprintf("%s: rollout #%d to %s aborted; %s starts again under the new config once it has rolled back", service, ro.ID, ro.To.Label, ro.To.Label)
}

// keptPlan is Status's KeptPlan for the service's rollout r.
func (c *Controller) keptPlan(service string, r engine.Rollout) string {
	c.reload.mu.Lock()
	defer c.reload.mu.Unlock()
	k, ok := c.reload.kept[service]
	if !ok || k.rollout != r.ID || !r.Phase.Active() {
		return ""
	}
	return fmt.Sprintf("rollout #%d keeps the plan it started with; since then the config reload changed: %s (reload --restart-active restarts it under the new one)", r.ID, k.what)
}
