package engine

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

func hooks(hs ...Hook) func(*Rollout) { return func(r *Rollout) { r.Params.Hooks = hs } }

func hookState(h Hook, st HookState) func(*Rollout) {
	return func(r *Rollout) {
		if r.Hooks == nil {
			r.Hooks = map[Hook]HookState{}
		}
		r.Hooks[h] = st
	}
}

func hookResult(h Hook, passed bool) func(*Observation) {
	return func(o *Observation) {
		if o.Hooks == nil {
			o.Hooks = map[Hook]*HookResult{}
		}
		o.Hooks[h] = &HookResult{Passed: passed, Reason: "command ./hook exited 1: boom"}
	}
}

func TestHooks(t *testing.T) {
	notStarted := func(o *Observation) { o.New = VersionObs{} }
	smokePassed := func(o *Observation) { o.Smoke = &SmokeResult{Passed: true} }
	noPreview := func(r *Rollout) { r.Params.PreviewWeight = 0 }
	batch := func(o *Observation) { o.Old = versions(true, 4, 4, 4); o.New = versions(true, 1, 1, 1) }
	tests := []struct {
		name    string
		r       Rollout
		obs     Observation
		after   time.Duration
		phase   Phase
		actions []string // exactly these
		hook    Hook
		state   HookState // the decision's state of hook
		reason  string
		settled bool
	}{
		{name: "preRollout runs before anything is deployed",
			r: rollout(PhaseDeploying, stable, hooks(HookPreRollout)), obs: obs(notStarted),
			phase: PhaseDeploying, actions: []string{"hook preRollout"}, hook: HookPreRollout, state: HookRunning,
			reason: "running the preRollout hook before deploying v2"},
		{name: "preRollout passing deploys",
			r: rollout(PhaseDeploying, stable, hooks(HookPreRollout)), obs: obs(notStarted, hookResult(HookPreRollout, true)),
			phase: PhaseDeploying, actions: []string{"deploy v2"}, hook: HookPreRollout, state: HookPassed, reason: "preRollout hook passed"},
		{name: "preRollout failing ends the rollout Failed with nothing deployed, and runs onRollback",
			r:     rollout(PhaseDeploying, stable, hooks(HookPreRollout, HookOnRollback)),
			obs:   obs(notStarted, hookResult(HookPreRollout, false)),
			phase: PhaseFailed, actions: []string{"hook onRollback"}, hook: HookOnRollback, state: HookRunning, reason: "boom"},
		{name: "a preRollout passed before a restart does not run again",
			r:   rollout(PhaseDeploying, stable, hooks(HookPreRollout), hookState(HookPreRollout, HookPassed)),
			obs: obs(notStarted), phase: PhaseDeploying, actions: []string{"deploy v2"}, hook: HookPreRollout, state: HookPassed},
		{name: "a preRollout running when bluejay stopped runs again",
			r:   rollout(PhaseDeploying, stable, hooks(HookPreRollout), hookState(HookPreRollout, HookRunning)),
			obs: obs(notStarted), phase: PhaseDeploying, actions: []string{"hook preRollout"}, hook: HookPreRollout, state: HookRunning},
		{name: "prePromotion holds the switch after smoke",
			r: rollout(PhaseSmoke, stable, noPreview, hooks(HookPrePromotion)), obs: obs(smokePassed),
			phase: PhaseSmoke, actions: []string{"hook prePromotion"}, hook: HookPrePromotion, state: HookRunning,
			reason: "v2 passed its smoke tests; running the prePromotion hook before v2 takes all traffic"},
		{name: "prePromotion passing switches",
			r:     rollout(PhaseSmoke, stable, noPreview, hooks(HookPrePromotion), hookState(HookPrePromotion, HookRunning)),
			obs:   obs(smokePassed, hookResult(HookPrePromotion, true)),
			phase: PhaseWatching, hook: HookPrePromotion, state: HookPassed, reason: "prePromotion hook passed"},
		{name: "prePromotion failing before traffic fails",
			r:     rollout(PhaseSmoke, stable, noPreview, hooks(HookPrePromotion), hookState(HookPrePromotion, HookRunning)),
			obs:   obs(smokePassed, hookResult(HookPrePromotion, false)),
			phase: PhaseFailed, actions: []string{"stop v2"}, hook: HookPrePromotion, state: HookFailed, reason: "prePromotion hook failed"},
		{name: "prePromotion failing after a preview rolls back",
			r: rollout(PhasePreview, preview, hooks(HookPrePromotion)), obs: obs(hookResult(HookPrePromotion, false), served(40)), after: 10 * time.Second,
			phase: PhaseRolledBack, actions: []string{"stop v2"}, hook: HookPrePromotion, state: HookFailed},
		{name: "a person's promote waits for prePromotion in Paused",
			r:   rollout(PhasePaused, stable, func(r *Rollout) { r.Params.AutoPromote = false }, hooks(HookPrePromotion)),
			obs: obs(command(CmdPromote)), phase: PhasePaused, actions: []string{"hook prePromotion"}, hook: HookPrePromotion, state: HookRunning},
		{name: "and switches once it passed, without the command",
			r: rollout(PhasePaused, stable, func(r *Rollout) { r.Params.AutoPromote = false }, hooks(HookPrePromotion),
				hookState(HookPrePromotion, HookRunning)),
			obs: obs(hookResult(HookPrePromotion, true)), phase: PhaseWatching, hook: HookPrePromotion, state: HookPassed},
		{name: "a first version waits for prePromotion before taking all traffic",
			r:   rollout(PhaseSmoke, map[string]int{}, hooks(HookPrePromotion), func(r *Rollout) { r.From = platform.Version{} }),
			obs: obs(smokePassed), phase: PhaseSmoke, actions: []string{"hook prePromotion"}, hook: HookPrePromotion, state: HookRunning},
		{name: "canary setWeight 100 waits for prePromotion",
			r:   canaryRollout(PhaseProgressing, 0, at5, hooks(HookPrePromotion), func(r *Rollout) { r.Params.Steps[0].Weight = 100 }),
			obs: obs(), phase: PhaseProgressing, actions: []string{"hook prePromotion"}, hook: HookPrePromotion, state: HookRunning,
			reason: "step 1/6: setWeight 100; running the prePromotion hook"},
		{name: "canary setWeight 50 does not",
			r: canaryRollout(PhaseProgressing, 2, at5, hooks(HookPrePromotion)), obs: obs(), phase: PhaseProgressing},
		{name: "canary promote --full waits after the last step",
			r: canaryRollout(PhaseProgressing, 2, at5, hooks(HookPrePromotion)), obs: obs(command(CmdPromoteFull)),
			phase: PhaseProgressing, actions: []string{"hook prePromotion"}, hook: HookPrePromotion, state: HookRunning},
		{name: "canary completes once prePromotion passed",
			r:     canaryRollout(PhaseProgressing, 6, at5, hooks(HookPrePromotion), hookState(HookPrePromotion, HookRunning)),
			obs:   obs(hookResult(HookPrePromotion, true)),
			phase: PhaseCompleted, hook: HookPrePromotion, state: HookPassed},
		{name: "rolling keeps every old instance until prePromotion passed",
			r: rollingRollout(PhaseProgressing, 1, 4, stable, hooks(HookPrePromotion)), obs: obs(batch),
			phase: PhaseProgressing, actions: []string{"scale v2 1", "scale v1 4", "hook prePromotion"}, hook: HookPrePromotion, state: HookRunning},
		{name: "rolling removes an old instance once it passed",
			r:     rollingRollout(PhaseProgressing, 1, 4, stable, hooks(HookPrePromotion), hookState(HookPrePromotion, HookRunning)),
			obs:   obs(batch, hookResult(HookPrePromotion, true)),
			phase: PhaseProgressing, actions: []string{"scale v2 1", "scale v1 3"}, hook: HookPrePromotion, state: HookPassed},
		{name: "rolling reverts when it fails",
			r:     rollingRollout(PhaseProgressing, 1, 4, stable, hooks(HookPrePromotion), hookState(HookPrePromotion, HookRunning)),
			obs:   obs(batch, hookResult(HookPrePromotion, false)),
			phase: PhaseRolledBack, actions: []string{"scale v1 4", "stop v2"}, hook: HookPrePromotion, state: HookFailed},
		{name: "postPromotion runs when the rollout completes",
			r: rollout(PhaseWatching, flipped, hooks(HookPostPromotion)), obs: obs(served(40)), after: 30 * time.Second,
			phase: PhaseCompleted, actions: []string{"hook postPromotion"}, hook: HookPostPromotion, state: HookRunning},
		{name: "a failed postPromotion is recorded, nothing rolls back",
			r:   rollout(PhaseCompleted, newOnly, hooks(HookPostPromotion), hookState(HookPostPromotion, HookRunning)),
			obs: obs(hookResult(HookPostPromotion, false)), after: 10 * time.Minute,
			phase: PhaseCompleted, actions: []string{"stop v1"}, hook: HookPostPromotion, state: HookFailed},
		{name: "a completed rollout is not settled before postPromotion ended",
			r:   rollout(PhaseCompleted, newOnly, hooks(HookPostPromotion), hookState(HookPostPromotion, HookRunning)),
			obs: obs(func(o *Observation) { o.Old = VersionObs{} }), after: 10 * time.Minute,
			phase: PhaseCompleted, actions: []string{"hook postPromotion"}, hook: HookPostPromotion, state: HookRunning},
		{name: "onRollback runs when the rollout rolls back",
			r: rollout(PhaseWatching, flipped, hooks(HookOnRollback)), obs: obs(command(CmdRollback)),
			phase: PhaseRolledBack, actions: []string{"stop v2", "hook onRollback"}, hook: HookOnRollback, state: HookRunning},
		{name: "and once only",
			r:   rollout(PhaseRolledBack, stable, hooks(HookOnRollback), hookState(HookOnRollback, HookPassed)),
			obs: obs(func(o *Observation) { o.New = VersionObs{} }), phase: PhaseRolledBack, hook: HookOnRollback, state: HookPassed, settled: true},
		{name: "onRollback runs when an abort ends the rollout before traffic",
			r: rollout(PhaseSmoke, stable, hooks(HookOnRollback)), obs: obs(command(CmdAbort)),
			phase: PhaseAborted, actions: []string{"stop v2", "hook onRollback"}, hook: HookOnRollback, state: HookRunning},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, tt.obs, t0.Add(tt.after))
			if d.Phase != tt.phase || d.Rejected != "" {
				t.Fatalf("phase %s (%s) rejected %q, want %s", d.Phase, d.Reason, d.Rejected, tt.phase)
			}
			var acts []string
			for _, a := range d.Actions {
				acts = append(acts, a.String())
			}
			if !slices.Equal(acts, tt.actions) {
				t.Errorf("actions %q, want %q", acts, tt.actions)
			}
			if tt.hook != "" && d.Hooks[tt.hook] != tt.state {
				t.Errorf("hook %s is %q, want %q", tt.hook, d.Hooks[tt.hook], tt.state)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tt.reason)
			}
			if d.Settled != tt.settled {
				t.Errorf("settled %v, want %v", d.Settled, tt.settled)
			}
		})
	}
}
