package controller

import (
	"context"
	"fmt"
	"maps"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/hooks"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// Notifier is told about every event the controller persisted, with the
// rollout as it stands. It must not block: the loop calls it inline.
type Notifier interface {
	Notify(r engine.Rollout, ev engine.Event)
}

// hookKey names one hook of one rollout.
type hookKey struct {
	rollout int64
	hook    engine.Hook
}

// runHook runs a hook in the background, like the smoke tests; its
// result is posted back to the loop for the rollout that asked, and its
// outcome is recorded in the event log. A hook runs once per rollout and
// bluejay run: the engine asks for it again only if it had not ended.
func (l *loop) runHook(ctx context.Context, a engine.Action) {
	key := hookKey{l.r.ID, a.Hook}
	if l.hookRunning[key] || l.hookResults[a.Hook] != nil {
		return
	}
	job := l.migrationJob(a.Hook)
	if job == nil {
		h := l.svc.Spec.Hooks.Get(string(a.Hook))
		if h == nil { // the config no longer has it (a rollout started before a restart)
			l.hookResults[a.Hook] = &engine.HookResult{Passed: true, Reason: "no longer configured"}
			return
		}
		p := hooks.Payload{Hook: string(a.Hook), Service: l.r.Service, RolloutID: l.r.ID, Strategy: l.r.Strategy,
			From: l.r.From.Label, To: l.r.To.Label, Phase: string(l.r.Phase), Reason: l.r.Reason, Weights: l.r.Weights,
			Exposure: l.r.Exposure, Time: l.c.now()}
		hook, runner := *h, l.c.hookRunner()
		l.c.logger().Info("running hook", "service", l.r.Service, "rollout", l.r.ID, "hook", a.Hook, "what", describe(hook))
		job = func(ctx context.Context) engine.HookResult {
			res := runner.Run(ctx, hook, p)
			return engine.HookResult{Passed: res.Passed, Reason: res.Reason}
		}
	} else {
		l.c.logger().Info("running migration step", "service", l.r.Service, "rollout", l.r.ID, "step", a.Hook)
	}
	l.hookRunning[key] = true
	l.c.spawn(func() {
		res := job(ctx)
		l.post(ctx, func() {
			delete(l.hookRunning, key)
			if ctx.Err() != nil || l.r.ID != key.rollout {
				return
			}
			l.hookResults[a.Hook] = &engine.HookResult{Passed: res.Passed, Reason: res.Reason}
			outcome := "failed"
			if res.Passed {
				outcome = "passed"
			}
			l.recordHook(ctx, a.Hook, fmt.Sprintf("%s hook %s: %s", a.Hook, outcome, res.Reason))
		})
	})
}

func describe(h spec.Hook) string {
	if h.Webhook != "" {
		return "webhook"
	}
	return "command " + h.Command[0]
}

func (c *Controller) hookRunner() *hooks.Runner {
	if c.Hooks != nil {
		return c.Hooks
	}
	return &hooks.Runner{}
}

// hookObs is what the engine sees of the current rollout's hooks.
func (l *loop) hookObs() map[engine.Hook]*engine.HookResult {
	return maps.Clone(l.hookResults)
}

// fixParams sets, for params, the settings of a new rollout that apply to
// every strategy: the progress deadline and the hooks.
func (l *loop) fixParams(p *engine.Params, strategy string) {
	s := l.svc.Spec
	p.ProgressDeadline, p.PauseOnDeadline = s.ProgressDeadline.D(), s.OnProgressDeadline == "pause"
	switch strategy {
	case spec.StrategyCanary:
		p.ProgressDeadline, p.PauseOnDeadline = s.Canary.ProgressDeadline.D(), s.Canary.OnProgressDeadline == "pause"
	case spec.StrategyRolling:
		p.ProgressDeadline = s.Rolling.ProgressDeadline.D()
	}
	p.Hooks = nil
	for _, h := range s.Hooks.ByName() {
		p.Hooks = append(p.Hooks, engine.Hook(h.Name))
	}
}
