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
// its preRollout hook passed. Passing restarts the phase's clock, so the
// hook's time is not taken from the new version's readyTimeout.
func (b machine) preRollout() (Decision, bool) {
	if !b.awaits(HookPreRollout) {
		return Decision{}, false
	}
	res := b.obs.Hooks[HookPreRollout]
	switch {
	case res == nil:
		return b.askHook(b.stay(PhaseDeploying, "", nil), HookPreRollout, "deploying "+b.r.To.Label), true
	case !res.Passed:
		d := b.to(PhaseFailed, fmt.Sprintf("preRollout hook failed: %s; nothing was deployed", res.Reason), b.stableOnly())
		return withHook(d, HookPreRollout, HookFailed), true
	}
	d := b.stay(PhaseDeploying, fmt.Sprintf("preRollout hook passed: %s; deploying %s", res.Reason, b.r.To.Label), nil)
	d.RestartStep = true
	return withHook(d, HookPreRollout, HookPassed), true
}

// preRolloutDone reports whether d lets the new version be deployed.
func (b machine) preRolloutDone(d Decision) bool {
	return !b.configured(HookPreRollout) || d.Hooks[HookPreRollout] == HookPassed
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
