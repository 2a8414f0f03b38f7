package engine

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// TestMigrationGates: expand runs after preRollout and before anything is
// deployed, the rollback rehearsal after it; contract only once the
// rollback window closed (the old version stopped), by command or
// automatically.
func TestMigrationGates(t *testing.T) {
	notStarted := func(o *Observation) { o.New = VersionObs{} }
	oldStopped := func(o *Observation) { o.Old = VersionObs{} }
	auto := func(r *Rollout) { r.Params.AutoContract = true }
	tests := []struct {
		name     string
		r        Rollout
		obs      Observation
		after    time.Duration
		phase    Phase
		actions  []string
		hook     Hook
		state    HookState
		reason   string
		rejected string
	}{
		{name: "expand runs first, nothing deployed",
			r: rollout(PhaseDeploying, stable, hooks(HookExpand, HookRehearsal)), obs: obs(notStarted),
			phase: PhaseDeploying, actions: []string{"hook expand"}, hook: HookExpand, state: HookRunning,
			reason: "running the expand hook before deploying v2"},
		{name: "after preRollout",
			r: rollout(PhaseDeploying, stable, hooks(HookPreRollout, HookExpand)), obs: obs(notStarted),
			phase: PhaseDeploying, actions: []string{"hook preRollout"}, hook: HookExpand, state: ""},
		{name: "expand passing runs the rehearsal, still nothing deployed",
			r:   rollout(PhaseDeploying, stable, hooks(HookExpand, HookRehearsal), hookState(HookExpand, HookPassed)),
			obs: obs(notStarted), phase: PhaseDeploying, actions: []string{"hook rehearsal"}, hook: HookRehearsal, state: HookRunning},
		{name: "expand failing fails the rollout before the new version runs",
			r:   rollout(PhaseDeploying, stable, hooks(HookExpand, HookRehearsal), hookState(HookExpand, HookRunning)),
			obs: obs(notStarted, hookResult(HookExpand, false)), phase: PhaseFailed, hook: HookExpand, state: HookFailed,
			reason: "expand migration of v2 failed: command ./hook exited 1: boom; v2 was not deployed"},
		{name: "a failed rehearsal stops the rollout before any user sees the new version",
			r: rollout(PhaseDeploying, stable, hooks(HookExpand, HookRehearsal), hookState(HookExpand, HookPassed),
				hookState(HookRehearsal, HookRunning)),
			obs: obs(notStarted, hookResult(HookRehearsal, false)), phase: PhaseFailed, hook: HookRehearsal, state: HookFailed,
			reason: "rollback rehearsal failed: v1's smoke tests against the expanded schema: command ./hook exited 1: boom; the expand is not backward compatible"},
		{name: "both passed: deploy",
			r: rollout(PhaseDeploying, stable, hooks(HookExpand, HookRehearsal), hookState(HookExpand, HookPassed),
				hookState(HookRehearsal, HookPassed)),
			obs: obs(notStarted), phase: PhaseDeploying, actions: []string{"deploy v2"}},
		{name: "contract is refused while the old version is warm",
			r: rollout(PhaseCompleted, newOnly, hooks(HookContract)), obs: obs(command(CmdContract)), after: time.Second,
			rejected: "cannot contract: a rollback to v1 is still possible"},
		{name: "contract is refused before completion",
			r: rollout(PhaseWatching, flipped, hooks(HookContract)), obs: obs(command(CmdContract)),
			rejected: "cannot contract: the rollout is Watching, so a rollback is still possible"},
		{name: "contract runs on command once the old version stopped",
			r: rollout(PhaseCompleted, newOnly, hooks(HookContract)), obs: obs(command(CmdContract), oldStopped), after: 10 * time.Minute,
			phase: PhaseCompleted, actions: []string{"hook contract"}, hook: HookContract, state: HookRunning},
		{name: "without the command, it waits",
			r: rollout(PhaseCompleted, newOnly, hooks(HookContract)), obs: obs(oldStopped), after: 10 * time.Minute,
			phase: PhaseCompleted, hook: HookContract, state: ""},
		{name: "autoContract runs it as the window closes",
			r: rollout(PhaseCompleted, newOnly, hooks(HookContract), auto), obs: obs(oldStopped), after: 10 * time.Minute,
			phase: PhaseCompleted, actions: []string{"hook contract"}, hook: HookContract, state: HookRunning},
		{name: "autoContract waits while the old version is warm",
			r: rollout(PhaseCompleted, newOnly, hooks(HookContract), auto), obs: obs(), after: time.Second,
			phase: PhaseCompleted, hook: HookContract, state: ""},
		{name: "a contract running when bluejay stopped runs again",
			r:   rollout(PhaseCompleted, newOnly, hooks(HookContract), hookState(HookContract, HookRunning)),
			obs: obs(oldStopped), after: 10 * time.Minute, phase: PhaseCompleted, actions: []string{"hook contract"},
			hook: HookContract, state: HookRunning},
		{name: "a contract that ran is not run again",
			r:   rollout(PhaseCompleted, newOnly, hooks(HookContract), hookState(HookContract, HookPassed)),
			obs: obs(command(CmdContract), oldStopped), after: 10 * time.Minute,
			rejected: "v2's contract migration already ran"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := Step(tt.r, tt.obs, t0.Add(tt.after))
			if tt.rejected != "" {
				if !strings.Contains(d.Rejected, tt.rejected) {
					t.Fatalf("rejected %q, want it to contain %q", d.Rejected, tt.rejected)
				}
				return
			}
			if d.Phase != tt.phase || d.Rejected != "" {
				t.Fatalf("phase %s (%s) rejected %q, want %s", d.Phase, d.Reason, d.Rejected, tt.phase)
			}
			var acts []string
			for _, a := range d.Actions {
				acts = append(acts, a.String())
			}
			if tt.actions != nil && !slices.Equal(acts, tt.actions) {
				t.Errorf("actions %q, want %q", acts, tt.actions)
			}
			if tt.actions == nil && slices.ContainsFunc(acts, func(a string) bool { return strings.HasPrefix(a, "hook") || strings.HasPrefix(a, "deploy v2") }) {
				t.Errorf("actions %q, want no hook and no deploy of v2", acts)
			}
			if tt.hook != "" && d.Hooks[tt.hook] != tt.state {
				t.Errorf("hook %s is %q, want %q", tt.hook, d.Hooks[tt.hook], tt.state)
			}
			if !strings.Contains(d.Reason, tt.reason) {
				t.Errorf("reason %q, want it to contain %q", d.Reason, tt.reason)
			}
		})
	}
}
