package engine

import (
	"fmt"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// Observation is what the controller saw of the world for one step.
type Observation struct {
	// New and Old describe the rollout's new and old versions, Baseline
	// a canary's dedicated baseline.
	New, Old, Baseline VersionObs
	// Smoke is the result of the smoke tests run in the current phase;
	// nil until they finish.
	Smoke *SmokeResult
	// Traffic counts the new version's user requests since the current
	// phase began.
	Traffic metrics.Counts
	// Command is a person's request (promote, abort, rollback); "" if none.
	Command Command
	// Analysis is the state of the analysis step under way, nil if none
	// runs (or it belongs to another step).
	Analysis *AnalysisObs
	// Background is the state of the canary's background analysis.
	Background *AnalysisObs
	// Route says why the router has not confirmed the rollout's current
	// split (Rollout.Weights over the ready instances): its refusal, or a
	// change not live yet. "" once it has. While it is set the rollout
	// does not move on (see routeGate).
	Route string
	// Hooks are the results of the hooks the controller ran for this
	// rollout, by hook; a hook absent has not finished (or has not run
	// since bluejay started).
	Hooks map[Hook]*HookResult
}

// HookResult is the outcome of one run of a hook (after its retries).
type HookResult struct {
	Passed bool
	// Reason says what ran and how it ended, with the output's tail.
	Reason string
}

// AnalysisObs is what the controller's analysis runner found so far.
type AnalysisObs struct {
	// Intervals counts the verdicts taken since the analysis began.
	Intervals int
	// Verdict is the latest verdict (Pass, Fail, Inconclusive, Error) on
	// the measurements since the analysis began; "" before the first.
	Verdict string
	// Reason explains the latest verdict with its numbers, metric by metric.
	Reason string
	// Numbers are the figures behind the verdict.
	Numbers map[string]float64
	// Failures counts Fail verdicts; ConsecutiveErrors the Error
	// verdicts since the last other verdict.
	Failures, ConsecutiveErrors int
}

// VersionObs describes one version's instances.
type VersionObs struct {
	// Started reports whether the platform runs (or ran) instances of it.
	Started bool
	// Running, Ready and Exited count its instances: running processes,
	// those passing readiness, and those that exited.
	Running, Ready, Exited int
	// Failing counts running instances that had passed readiness and then
	// lost it. An instance still starting is neither Ready nor Failing.
	Failing int
	// Available counts instances ready for at least the rolling
	// strategy's MinHealthyTime.
	Available int
	// Problem says what went wrong with an instance ("web-v2-0 exited:
	// exit status 1"), "" if nothing did.
	Problem string
	// Probe is the last readiness failure of an instance still starting
	// ("web-v2-0: status 503"), for the reason of a readiness timeout.
	Probe string
	// Unknown says why the version's instances could not be observed
	// (the platform's list failed); "" when they were. An unknown version
	// is neither started nor gone: the engine holds (see blind).
	Unknown string
}

// SmokeResult is the outcome of a version's smoke tests.
type SmokeResult struct {
	Passed bool
	// Reason names the failing check, instance and cause.
	Reason string
}

// Command is a request from a person, carried in one observation.
type Command string

// Commands.
const (
	CmdPromote Command = "promote"
	// CmdPromoteFull skips a canary's remaining steps and analyses.
	CmdPromoteFull Command = "promote-full"
	CmdAbort       Command = "abort"
	CmdRollback    Command = "rollback"
	// CmdPause holds an active rollout where it stands: the phase becomes
	// Paused with the weights kept, and the rollout remembers what to
	// return to.
	CmdPause Command = "pause"
	// CmdResume continues a Paused rollout from where it was, without
	// skipping a step (unlike CmdPromote, which skips the pause or step).
	CmdResume Command = "resume"
	// CmdContract runs the new version's contract migration once the
	// rollout completed and the old version was stopped; refused while a
	// rollback is still a traffic flip.
	CmdContract Command = "contract"
)

// Decision is what Step decided: the controller persists it, then acts.
type Decision struct {
	// Phase and Reason are the rollout's next phase and why.
	Phase  Phase
	Reason string
	// Numbers are the figures behind the reason (error rate, requests,
	// thresholds, ready counts).
	Numbers map[string]float64
	// Weights is the traffic split to apply, by version label.
	Weights map[string]int
	// Actions are what the controller must do, in order. Each is
	// idempotent.
	Actions []Action
	// Settled reports that the rollout has nothing left to do.
	Settled bool
	// Rejected says why the observation's command was refused; "" if it
	// was taken or there was none.
	Rejected string
	// Step is the canary step to be under way next; RestartStep begins
	// the current step again (an inconclusive analysis that runs again).
	Step        int
	RestartStep bool
	// Inconclusives is the rollout's count of inconclusive analyses.
	Inconclusives int
	// NewCount and OldCount are a rolling rollout's target counts.
	NewCount, OldCount int
	// HeaderRoutes and MirrorPercent are the canary's routes (see Rollout).
	HeaderRoutes  []HeaderRoute
	MirrorPercent int
	// Hooks is the rollout's hook states to persist (see Rollout.Hooks).
	Hooks map[Hook]HookState
	// Hold is the rollout's hold to persist (see Rollout.Hold); nil
	// clears it.
	Hold *Hold
	// PhaseSince and StepSince, when not zero, are the times to persist
	// instead of now: a resumed rollout's, moved later by its pause.
	PhaseSince, StepSince time.Time
}

// Transition reports whether the decision moves r to another phase.
func (d Decision) Transition(r Rollout) bool { return d.Phase != r.Phase }

// ActionKind names what an action does.
type ActionKind string

// Action kinds.
const (
	// ActDeploy starts the version's instances (idempotent).
	ActDeploy ActionKind = "deploy"
	// ActSmoke runs the smoke tests against the version's instances.
	ActSmoke ActionKind = "smoke"
	// ActStop drains and stops the version's instances.
	ActStop ActionKind = "stop"
	// ActScale makes the version run Replicas instances: missing ones
	// start, extra ones are drained and stopped.
	ActScale ActionKind = "scale"
	// ActHook runs the action's Hook in the background; its result comes
	// back in Observation.Hooks.
	ActHook ActionKind = "hook"
)

// Action is one thing the controller must do to a version.
type Action struct {
	Kind    ActionKind
	Version string
	// Reason is recorded in the event log when the action is taken.
	Reason string
	// Replicas is the instance count of a scale action.
	Replicas int
	// Hook is the hook a hook action runs.
	Hook Hook
}

func (a Action) String() string {
	switch a.Kind {
	case ActScale:
		return fmt.Sprintf("scale %s %d", a.Version, a.Replicas)
	case ActHook:
		return fmt.Sprintf("hook %s", a.Hook)
	}
	return fmt.Sprintf("%s %s", a.Kind, a.Version)
}

// Step decides a rollout's next move. It is a pure function of its
// arguments.
func Step(r Rollout, obs Observation, now time.Time) Decision {
	return run(r, obs, now)
}

// Strategies the engine runs.
const (
	StrategyBlueGreen = "blue-green"
	StrategyCanary    = "canary"
	StrategyRolling   = "rolling"
)
