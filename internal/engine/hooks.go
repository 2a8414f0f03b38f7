package engine

import (
	"fmt"
	"maps"
	"slices"
)

// Hooks are observations like smoke tests: the engine asks for one with
// an ActHook action, the controller runs it in the background, and its
// result comes back in Observation.Hooks. Their states are persisted in
// Rollout.Hooks, so a hook that ended never runs again in the same
// rollout, while a gate whose hook had not ended when bluejay stopped
// asks for it again (level-triggered).
//
//   - preRollout runs before anything is deployed (the rollout stays in
//     Deploying, nothing started); a failure ends the rollout Failed.
//   - prePromotion is a confirm gate right before the new version takes
//     all traffic: a blue-green switch (or a first version), a canary's
//     setWeight 100 or final promotion, a rolling rollout's removal of
//     its first old instance. Until it passes the rollout stays where it
//     is, still guarded; a failure ends it Failed (no user traffic yet)
//     or RolledBack.
//   - postPromotion runs once the rollout Completed; its outcome is
//     recorded, nothing is rolled back.
//   - onRollback runs once the rollout ended RolledBack, Failed or
//     Aborted.

// configured reports whether the service has hook h.
func (b machine) configured(h Hook) bool { return slices.Contains(b.r.Params.Hooks, h) }

// awaits reports whether the rollout must still pass gate hook h.
func (b machine) awaits(h Hook) bool { return b.configured(h) && b.r.Hooks[h] != HookPassed }

// withHook returns d with hook h in state st.
func withHook(d Decision, h Hook, st HookState) Decision {
	d.Hooks = maps.Clone(d.Hooks)
	if d.Hooks == nil {
		d.Hooks = map[Hook]HookState{}
	}
	d.Hooks[h] = st
	return d
}

// askHook makes d wait for hook h, which runs before what before names.
func (b machine) askHook(d Decision, h Hook, before string) Decision {
	ask := fmt.Sprintf("running the %s hook before %s", h, before)
	if d.Reason != "" {
		ask = d.Reason + "; " + ask
	}
	d.Reason = ask
	d.Actions = append(d.Actions, Action{Kind: ActHook, Hook: h, Version: b.r.To.Label, Reason: ask})
	return withHook(d, h, HookRunning)
}

// preRollout holds a rollout in Deploying, with nothing deployed, until
// its gate hooks passed, in order: preRollout, expand (the schema
// migration the new version needs) and rehearsal (the old version's
// smoke tests on the expanded schema). Passing one restarts the phase's
// clock, so the gates' time is not taken from the new version's
// readyTimeout.
func (b machine) preRollout() (Decision, bool) {
	for _, h := range preDeploy {
		if !b.awaits(h) {
			continue
		}
		res := b.obs.Hooks[h]
		switch {
		case res == nil:
			return b.askHook(b.stay(PhaseDeploying, "", nil), h, "deploying "+b.r.To.Label), true
		case !res.Passed:
			d := b.to(PhaseFailed, b.gateFailed(h, res.Reason), b.stableOnly())
			return withHook(d, h, HookFailed), true
		}
		d := b.stay(PhaseDeploying, fmt.Sprintf("%s passed: %s", gateName(h), res.Reason), nil)
		d.RestartStep = true
		return withHook(d, h, HookPassed), true
	}
	return Decision{}, false
}

// gateName names a gate hook in reasons.
func gateName(h Hook) string {
	switch h {
	case HookExpand:
		return "expand migration"
	case HookRehearsal:
		return "rollback rehearsal"
	}
	return string(h) + " hook"
}

// gateFailed is the reason of a rollout that a gate hook failed.
func (b machine) gateFailed(h Hook, why string) string {
	switch h {
	case HookExpand:
		return fmt.Sprintf("expand migration of %s failed: %s; %s was not deployed", b.r.To.Label, why, b.r.To.Label)
	case HookRehearsal:
		return fmt.Sprintf("rollback rehearsal failed: %s's smoke tests against the expanded schema: %s; the expand is not "+
			"backward compatible, so %s was not deployed and no user saw it (%s serves on the expanded schema: fix it forward)",
			b.r.From.Label, why, b.r.To.Label, b.r.From.Label)
	}
	return fmt.Sprintf("%s hook failed: %s; nothing was deployed", h, why)
}

// preRolloutDone reports whether d lets the new version be deployed: its
// gate hooks passed.
func (b machine) preRolloutDone(d Decision) bool {
	for _, h := range preDeploy {
		if b.configured(h) && d.Hooks[h] != HookPassed {
			return false
		}
	}
	return true
}

// contract runs the contract hook of a completed rollout once its
// rollback window closed (the old version stopped: settled), on
// CmdContract or at once with AutoContract. It returns the decision for a
// contract command, handled whatever the phase.
func (b machine) contract(d *Decision) {
	if !b.configured(HookContract) || d.Phase != PhaseCompleted {
		return
	}
	st := d.Hooks[HookContract]
	if st == HookRunning {
		res := b.obs.Hooks[HookContract]
		switch {
		case res == nil: // level-triggered: asked again after a restart
			b.askContract(d, "running "+b.r.To.Label+"'s contract migration")
		case res.Passed:
			*d = withHook(*d, HookContract, HookPassed)
		default:
			*d = withHook(*d, HookContract, HookFailed)
		}
		return
	}
	if st == HookPassed || !d.Settled || !b.r.Params.AutoContract || st == HookFailed {
		return
	}
	b.askContract(d, fmt.Sprintf("the rollback window closed (%s stopped): running %s's contract migration", b.r.From.Label, b.r.To.Label))
}

func (b machine) askContract(d *Decision, why string) {
	d.Actions = append(d.Actions, Action{Kind: ActHook, Hook: HookContract, Version: b.r.To.Label, Reason: why})
	*d = withHook(*d, HookContract, HookRunning)
	d.Settled = false
}

// contractCommand takes or refuses a person's contract: only a completed
// rollout whose old version was stopped may contract, since until then a
// rollback is a traffic flip to a version that needs what contract drops.
func (b machine) contractCommand() Decision {
	switch {
	case !b.configured(HookContract):
		return b.reject(fmt.Sprintf("%s has no contract migration", b.r.To.Label))
	case b.r.Phase.Active():
		return b.reject(fmt.Sprintf("the rollout is %s, so a rollback is still possible; contract runs once it "+
			"completed and %s was stopped", b.r.Phase, b.r.From.Label))
	case b.r.Phase != PhaseCompleted:
		return b.reject(fmt.Sprintf("contract runs only after a rollout that completed; this one ended %s", b.r.Phase))
	case b.r.Hooks[HookContract] == HookPassed:
		return b.reject(fmt.Sprintf("%s's contract migration already ran", b.r.To.Label))
	case b.r.Hooks[HookContract] == HookRunning:
		return b.reject(fmt.Sprintf("%s's contract migration is running", b.r.To.Label))
	case b.obs.Old.Started || b.oldWarm():
		return b.reject(fmt.Sprintf("a rollback to %s is still possible (it stays warm until the scale-down delay %s "+
			"passed and it was stopped); contracting now would break it", b.r.From.Label, b.r.Params.ScaleDownDelay))
	}
	d := b.stay(PhaseCompleted, b.r.Reason, nil)
	d.Weights = b.newOnly()
	b.askContract(&d, "contract requested")
	return d
}

// confirm runs the prePromotion hook before promote, which gives the new
// version all traffic: until the hook passes the rollout waits (wait is
// where it waits, with a reason computed afresh), a failure rolls it
// back, and the hook is asked for once per rollout.
func (b machine) confirm(why string, wait Decision, promote func(why string) Decision) Decision {
	if !b.awaits(HookPrePromotion) {
		return promote(why)
	}
	res := b.obs.Hooks[HookPrePromotion]
	switch {
	case res == nil:
		return b.askHook(wait, HookPrePromotion, b.r.To.Label+" takes all traffic")
	case !res.Passed:
		var d Decision
		if b.r.Strategy == StrategyRolling {
			d = b.revert("prePromotion hook failed: "+res.Reason, nil)
		} else {
			d = b.rollback("prePromotion hook failed: "+res.Reason, nil)
		}
		return withHook(d, HookPrePromotion, HookFailed)
	}
	d := promote(fmt.Sprintf("%s; prePromotion hook passed: %s", why, res.Reason))
	return withHook(d, HookPrePromotion, HookPassed)
}

// promoting reports whether the rollout waits for its prePromotion hook
// before a switch it already decided (a person's promote, say).
func (b machine) promoting() bool { return b.r.Hooks[HookPrePromotion] == HookRunning }

// endHooks runs postPromotion once the rollout completed and onRollback
// once it ended otherwise; the rollout is not settled before they end.
func (b machine) endHooks(d *Decision) {
	var h Hook
	switch d.Phase {
	case PhaseCompleted:
		h = HookPostPromotion
	case PhaseRolledBack, PhaseFailed, PhaseAborted:
		h = HookOnRollback
	}
	if h == "" || !b.configured(h) || d.Hooks[h] == HookPassed || d.Hooks[h] == HookFailed {
		return
	}
	if res := b.obs.Hooks[h]; res != nil && b.r.Phase == d.Phase {
		st := HookFailed
		if res.Passed {
			st = HookPassed
		}
		*d = withHook(*d, h, st)
		return
	}
	d.Actions = append(d.Actions, Action{Kind: ActHook, Hook: h, Version: b.r.To.Label,
		Reason: fmt.Sprintf("the rollout ended %s", d.Phase)})
	*d = withHook(*d, h, HookRunning)
	d.Settled = false
}
