package controller

import (
	"context"

	"github.com/bluejay-deploy/bluejay/internal/checks"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/migrate"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// migrationParams adds to a new rollout of version the gates and the
// contract its migrations ask for: expand before it is deployed, then
// (when there is an old version to roll back to) the rehearsal of that
// rollback on the expanded schema, and contract after the window.
func (l *loop) migrationParams(p *engine.Params, version, from string) {
	m := l.svc.Spec.Migrations
	if m == nil {
		return
	}
	vm, ok := m.Versions[version]
	if !ok {
		return
	}
	if vm.Expand != nil {
		p.Hooks = append(p.Hooks, engine.HookExpand)
		if from != "" {
			p.Hooks = append(p.Hooks, engine.HookRehearsal)
		}
	}
	if vm.Contract != nil {
		p.Hooks = append(p.Hooks, engine.HookContract)
		p.AutoContract = m.AutoContract
	}
}

// migrationJob returns what runs for a migration hook of the current
// rollout, or nil for a user's hook (spec.Hooks).
func (l *loop) migrationJob(h engine.Hook) func(context.Context) engine.HookResult {
	r, m := l.r, l.svc.Spec.Migrations
	switch h {
	case engine.HookExpand, engine.HookContract:
		if m == nil || m.Versions[r.To.Label].Expand == nil && h == engine.HookExpand ||
			m.Versions[r.To.Label].Contract == nil && h == engine.HookContract {
			return func(context.Context) engine.HookResult {
				return engine.HookResult{Passed: true, Reason: "no longer configured"}
			}
		}
		step, kind := m.Versions[r.To.Label].Expand, migrate.Expand
		if h == engine.HookContract {
			step, kind = m.Versions[r.To.Label].Contract, migrate.Contract
		}
		st, db, runner := *step, m.Database, &migrate.Runner{Dir: l.c.hookRunner().Dir}
		return func(ctx context.Context) engine.HookResult {
			res := runner.Run(ctx, kind, st, db)
			return engine.HookResult{Passed: res.Passed, Reason: res.Reason}
		}
	case engine.HookRehearsal:
		addrs, tests, client := l.readyAddrs(r.From.Label), l.rehearsalTests(), checkClient(l.c, l.svc.Spec)
		from := r.From.Label
		return func(ctx context.Context) engine.HookResult {
			if len(addrs) == 0 {
				return engine.HookResult{Reason: from + " has no ready instance to rehearse on"}
			}
			res := checks.RunSmoke(ctx, client, addrs, tests)
			return engine.HookResult{Passed: res.Passed, Reason: from + ": " + res.Reason}
		}
	}
	return nil
}

// rehearsalTests are the old version's checks on the expanded schema: the
// service's smoke tests, or, without any, its readiness probe.
func (l *loop) rehearsalTests() []spec.Smoke {
	if len(l.svc.Spec.Smoke) > 0 {
		return l.svc.Spec.Smoke
	}
	h := l.svc.Spec.Health
	if h.GRPC != nil {
		return []spec.Smoke{{GRPC: h.GRPC, Timeout: h.Timeout}}
	}
	return []spec.Smoke{{Method: "GET", Path: h.Path, ExpectStatus: 200, Timeout: h.Timeout}}
}
