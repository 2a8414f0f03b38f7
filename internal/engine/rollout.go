package engine

import (
	"fmt"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// Phase is where a rollout stands. Each phase is entered with a reason.
type Phase string

// Phases of a rollout, in the order a blue-green rollout passes them.
const (
	// PhaseDeploying: the new version's instances are starting; the
	// rollout waits until all are ready.
	PhaseDeploying Phase = "Deploying"
	// PhaseSmoke: smoke tests run against the new version's instances,
	// which have no user traffic yet.
	PhaseSmoke Phase = "Smoke"
	// PhasePreview: the new version takes a small share of traffic.
	PhasePreview Phase = "Preview"
	// PhasePaused: the rollout waits for `bluejay promote` (before a
	// blue-green switch, at a canary pause step, or after an
	// inconclusive analysis).
	PhasePaused Phase = "Paused"
	// PhaseProgressing: a canary is going through its steps.
	PhaseProgressing Phase = "Progressing"
	// PhaseWatching: all traffic is on the new version; the old one is
	// warm and traffic flips back to it on trouble.
	PhaseWatching Phase = "Watching"
	// PhaseCompleted: the new version is stable. The old one stays warm
	// until the scale-down delay has passed, so rollback is a flip.
	PhaseCompleted Phase = "Completed"
	// PhaseRolledBack: traffic went back to the old version after the new
	// one took some.
	PhaseRolledBack Phase = "RolledBack"
	// PhaseFailed: the new version failed its gates before it took any
	// user traffic.
	PhaseFailed Phase = "Failed"
	// PhaseAborted: a person aborted the rollout before the new version
	// took any user traffic.
	PhaseAborted Phase = "Aborted"
)

// Terminal reports whether the rollout has reached an outcome.
func (p Phase) Terminal() bool {
	switch p {
	case PhaseCompleted, PhaseRolledBack, PhaseFailed, PhaseAborted:
		return true
	}
	return false
}

// Active reports whether the rollout is still under way.
func (p Phase) Active() bool { return p != "" && !p.Terminal() }

// Succeeded reports whether the rollout made its new version stable.
func (p Phase) Succeeded() bool { return p == PhaseCompleted }

// Rollout is the persisted state of one rollout: the engine reads it and
// the controller writes the engine's decisions into it.
type Rollout struct {
	// ID is assigned by the store.
	ID int64 `json:"id"`
	// Service names the service.
	Service string `json:"service"`
	// Strategy is the strategy's name (blue-green).
	Strategy string `json:"strategy"`
	// From is the stable version when the rollout started; its zero Label
	// means the service had none (the first deploy).
	From platform.Version `json:"from"`
	// To is the new version.
	To platform.Version `json:"to"`
	// Params are the strategy's settings, fixed when the rollout started.
	Params Params `json:"params"`
	// Phase and Reason say where the rollout stands and why.
	Phase  Phase  `json:"phase"`
	Reason string `json:"reason"`
	// Weights is the traffic split the rollout wants, by version label.
	Weights map[string]int `json:"weights"`
	// Exposure counts the user requests the new version served so far
	// and how many failed (the blast radius).
	Exposure metrics.Counts `json:"exposure"`
	// Started, PhaseSince and Ended are the rollout's times; Ended is zero
	// until the rollout reaches a terminal phase.
	Started    time.Time `json:"started"`
	PhaseSince time.Time `json:"phaseSince"`
	Ended      time.Time `json:"ended,omitzero"`
	// Settled is set once a terminal rollout has nothing left to do (the
	// losing version is stopped).
	Settled bool `json:"settled"`
	// Step is the index of the canary step under way (len(steps) once
	// all are done), and StepSince when it began.
	Step      int       `json:"step"`
	StepSince time.Time `json:"stepSince,omitzero"`
	// StepCounts are the measured versions' cumulative counters when the
	// step began, by label, so that an analysis resumed after a
	// controller restart counts from the step's start (the engine does
	// not read them).
	StepCounts map[string]metrics.Counts `json:"stepCounts,omitempty"`
	// Before are the requests and errors of each measured version other
	// than the new one, summed over the canary's steps in which it had a
	// share of traffic: the baseline a canary with all the traffic is
	// judged against, when none is left beside it. For a blue-green
	// rollout, the old version's counters at the switch, which the watch
	// judges the new version's errors against (watchAgainstBefore).
	Before map[string]metrics.Counts `json:"before,omitempty"`
	// StepVerdicts and BackgroundVerdicts are the verdict counts of the
	// step's analysis and of the background analysis since the step
	// began, so that failureLimit and consecutiveErrorLimit count on
	// after a controller restart (the engine does not read them: it sees
	// them in AnalysisObs).
	StepVerdicts       VerdictCounts `json:"stepVerdicts,omitzero"`
	BackgroundVerdicts VerdictCounts `json:"backgroundVerdicts,omitzero"`
	// Inconclusives counts the canary's analyses that ended Inconclusive.
	Inconclusives int `json:"inconclusives,omitempty"`
	// HeaderRoutes send matching requests to the canary while its steps
	// run (set by setHeaderRoute steps).
	HeaderRoutes []HeaderRoute `json:"headerRoutes,omitempty"`
	// MirrorPercent of requests are copied to the canary while its steps
	// run (set by setMirrorRoute steps); 0: none.
	MirrorPercent int `json:"mirrorPercent,omitempty"`
	// NewCount and OldCount are a rolling rollout's target instance
	// counts of the new and the old version.
	NewCount int `json:"newCount,omitempty"`
	OldCount int `json:"oldCount,omitempty"`
	// Hooks says where the rollout stands with each of its hooks: a gate
	// waiting for its hook (running), or a hook that ran to an end. A
	// hook absent has not been asked for.
	Hooks map[Hook]HookState `json:"hooks,omitempty"`
	// Hold, while the rollout is Paused by a person (pause) or by its
	// progress deadline, is where it was and what resume returns to;
	// nil otherwise.
	Hold *Hold `json:"hold,omitempty"`
}

// VerdictCounts are an analysis' verdicts so far (see AnalysisObs).
type VerdictCounts struct {
	Intervals         int `json:"intervals,omitempty"`
	Failures          int `json:"failures,omitempty"`
	ConsecutiveErrors int `json:"consecutiveErrors,omitempty"`
}

// Hold is where a paused rollout was, for resume.
type Hold struct {
	// Phase and Reason are the phase the rollout was in and why.
	Phase  Phase  `json:"phase"`
	Reason string `json:"reason"`
	// Since is when the rollout was paused.
	Since time.Time `json:"since"`
	// PhaseSince and StepSince are the rollout's times when it was
	// paused; resume moves them later by the time spent paused, so that
	// a pause counts toward no duration and no deadline.
	PhaseSince time.Time `json:"phaseSince"`
	StepSince  time.Time `json:"stepSince,omitzero"`
}

// Hook names a point of a rollout where a user's command or webhook runs.
type Hook string

// Hooks, in the order a rollout reaches them.
const (
	// HookPreRollout runs before anything is deployed; a failure ends
	// the rollout Failed.
	HookPreRollout Hook = "preRollout"
	// HookPrePromotion is a confirm gate before the new version takes
	// all traffic; a failure ends the rollout Failed (no user traffic
	// yet) or RolledBack.
	HookPrePromotion Hook = "prePromotion"
	// HookPostPromotion runs once the rollout Completed; a failure is
	// recorded, nothing is rolled back.
	HookPostPromotion Hook = "postPromotion"
	// HookOnRollback runs once a rollout ends RolledBack, Failed or
	// Aborted: whatever preRollout prepared may need undoing.
	HookOnRollback Hook = "onRollback"

	// HookExpand is the new version's expand migration, a gate after
	// preRollout and before the version is deployed: a failure ends the
	// rollout Failed with nothing deployed.
	HookExpand Hook = "expand"
	// HookRehearsal rehearses a rollback right after expand: the old
	// version's smoke tests run against the expanded schema. A failure
	// ends the rollout Failed before the new version runs: the expand is
	// not backward compatible.
	HookRehearsal Hook = "rehearsal"
	// HookContract is the new version's contract migration, run once the
	// rollout completed and the old version was stopped (automatically
	// with Params.AutoContract, else on CmdContract). A failure is
	// recorded; nothing rolls back.
	HookContract Hook = "contract"
)

// preDeploy are the gate hooks that run, in this order, before the new
// version is deployed.
var preDeploy = []Hook{HookPreRollout, HookExpand, HookRehearsal}

// HookState is where a rollout stands with one hook.
type HookState string

// Hook states.
const (
	// HookRunning: the rollout asked for the hook and waits for its
	// result. After a restart of bluejay the hook runs again.
	HookRunning HookState = "running"
	// HookPassed and HookFailed: the hook ran to an end. A hook that
	// ended never runs again in the same rollout.
	HookPassed HookState = "passed"
	HookFailed HookState = "failed"
)

// Stable returns the version label that serves the service once the
// rollout ends: To if it completed, From otherwise.
func (r Rollout) Stable() string {
	if r.Phase == PhaseCompleted {
		return r.To.Label
	}
	return r.From.Label
}

// BaselineLabel is the version label of a canary's dedicated baseline:
// instances of the old version started with the canary.
func (r Rollout) BaselineLabel() string {
	if !r.Params.DedicatedBaseline || r.From.Label == "" {
		return ""
	}
	return r.From.Label + "-baseline"
}

// Params are a rollout's strategy settings.
type Params struct {
	// Replicas is how many instances each version runs.
	Replicas int `json:"replicas"`
	// ReadyTimeout bounds the wait for the new version to become ready.
	ReadyTimeout time.Duration `json:"readyTimeout"`
	// Smoke says whether smoke tests are configured.
	Smoke bool `json:"smoke"`
	// PreviewWeight is the new version's percentage during the preview;
	// 0 skips the preview.
	PreviewWeight   int           `json:"previewWeight"`
	PreviewDuration time.Duration `json:"previewDuration"`
	// Watch is how long the new version is watched after the switch.
	Watch time.Duration `json:"watch"`
	// ScaleDownDelay is how long the old version stays warm after completion.
	ScaleDownDelay time.Duration `json:"scaleDownDelay"`
	// MaxErrorRate and MinRequests judge the new version's traffic: a
	// blue-green preview or watch passes only once the new version served
	// MinRequests requests in it.
	MaxErrorRate float64 `json:"maxErrorRate"`
	MinRequests  int64   `json:"minRequests"`
	// CompleteOnNoTraffic goes on as if a preview or watch that never
	// reached MinRequests passed, once the progress deadline has passed;
	// false pauses the rollout for a person instead.
	CompleteOnNoTraffic bool `json:"completeOnNoTraffic,omitempty"`
	// AutoPromote switches without waiting for `promote`.
	AutoPromote bool `json:"autoPromote"`
	// AbortScaleDownDelay is how long a rolled-back new version keeps
	// running (out of the split) before it is stopped.
	AbortScaleDownDelay time.Duration `json:"abortScaleDownDelay,omitempty"`
	// Steps are the canary's steps; Background is the analysis that
	// judges the canary during every step (its Fail side only).
	Steps      []CanaryStep    `json:"steps,omitempty"`
	Background *AnalysisLimits `json:"background,omitempty"`
	// Rolling tunes a rolling rollout; nil for other strategies.
	Rolling *RollingParams `json:"rolling,omitempty"`
	// DedicatedBaseline runs fresh instances of the old version beside a
	// canary, with the canary's share of traffic, as its baseline.
	DedicatedBaseline bool `json:"dedicatedBaseline,omitempty"`
	// ProgressDeadline bounds the time a rollout of any strategy may go
	// without progress (a phase or step change, or a rolling count
	// change) past the current phase's or step's own planned duration;
	// time spent Paused does not count. 0: no deadline. PauseOnDeadline
	// pauses instead of rolling back.
	ProgressDeadline time.Duration `json:"progressDeadline,omitempty"`
	PauseOnDeadline  bool          `json:"pauseOnDeadline,omitempty"`
	// AutoContract runs the contract hook as soon as the rollback window
	// closed, rather than on CmdContract.
	AutoContract bool `json:"autoContract,omitempty"`
	// Hooks are the hooks configured for the service when the rollout
	// started; the engine asks for those only.
	Hooks []Hook `json:"hooks,omitempty"`
}

// RollingParams tune a rolling rollout (see spec.Rolling).
type RollingParams struct {
	MaxSurge       int           `json:"maxSurge"`
	MaxUnavailable int           `json:"maxUnavailable"`
	MinHealthyTime time.Duration `json:"minHealthyTime"`
	// ProgressDeadline is read only when Params.ProgressDeadline is 0
	// (a rollout persisted before the deadline applied to every strategy).
	ProgressDeadline time.Duration `json:"progressDeadline"`
	AutoRevert       bool          `json:"autoRevert"`
}

// StepKind names what a canary step does.
type StepKind string

// Canary step kinds.
const (
	StepSetWeight StepKind = "setWeight"
	StepPause     StepKind = "pause"
	StepAnalysis  StepKind = "analysis"
	StepChecks    StepKind = "checks"
	// StepSetHeaderRoute sends matching requests to the canary.
	StepSetHeaderRoute StepKind = "setHeaderRoute"
	// StepSetMirrorRoute copies a share of requests to the canary.
	StepSetMirrorRoute StepKind = "setMirrorRoute"
)

// HeaderRoute matches requests by a header or a cookie (one of each pair
// set): they go to the canary whatever its weight.
type HeaderRoute struct {
	Header string `json:"header,omitempty"`
	Cookie string `json:"cookie,omitempty"`
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// CanaryStep is one step of a canary as the engine needs it.
type CanaryStep struct {
	Kind StepKind `json:"kind"`
	// Weight is the canary's percentage for setWeight.
	Weight int `json:"weight,omitempty"`
	// Duration of a pause (0: until promote) or an analysis (0: until Pass).
	Duration time.Duration `json:"duration,omitempty"`
	// Analysis is the template and its limits for an analysis step.
	Analysis *AnalysisLimits `json:"analysis,omitempty"`
	// Checks names the step's smoke tests for a checks step.
	Checks int `json:"checks,omitempty"`
	// Route is a setHeaderRoute step's match.
	Route *HeaderRoute `json:"route,omitempty"`
	// MirrorPercent is a setMirrorRoute step's share of requests.
	MirrorPercent int `json:"mirrorPercent,omitempty"`
}

// AnalysisLimits are an analysis template's name and the limits the
// engine applies to its verdicts.
type AnalysisLimits struct {
	Template              string        `json:"template"`
	Interval              time.Duration `json:"interval"`
	FailureLimit          int           `json:"failureLimit"`
	ConsecutiveErrorLimit int           `json:"consecutiveErrorLimit"`
	InconclusiveLimit     int           `json:"inconclusiveLimit"`
	// AbortOnInconclusive aborts instead of pausing when analyses end
	// Inconclusive more than InconclusiveLimit times.
	AbortOnInconclusive bool `json:"abortOnInconclusive,omitempty"`
}

// String describes the step for reasons: "setWeight 5", "pause 30s".
func (s CanaryStep) String() string {
	switch s.Kind {
	case StepSetWeight:
		return fmt.Sprintf("setWeight %d", s.Weight)
	case StepPause:
		if s.Duration == 0 {
			return "pause until promote"
		}
		return "pause " + s.Duration.String()
	case StepSetHeaderRoute:
		return fmt.Sprintf("setHeaderRoute %s", s.Route)
	case StepSetMirrorRoute:
		return fmt.Sprintf("setMirrorRoute %d%%", s.MirrorPercent)
	case StepAnalysis:
		if s.Duration == 0 {
			return "analysis " + s.Analysis.Template + " until Pass"
		}
		return fmt.Sprintf("analysis %s %s", s.Analysis.Template, s.Duration)
	}
	return string(s.Kind)
}

// Event records one transition of a rollout with the reason and the
// numbers that caused it.
type Event struct {
	ID        int64              `json:"id"`
	RolloutID int64              `json:"rolloutId"`
	Service   string             `json:"service"`
	Time      time.Time          `json:"time"`
	From      Phase              `json:"from,omitempty"`
	Phase     Phase              `json:"phase"`
	Reason    string             `json:"reason"`
	Weights   map[string]int     `json:"weights,omitempty"`
	Numbers   map[string]float64 `json:"numbers,omitempty"`
	// Hook names the hook whose run the event reports; "" for others.
	Hook Hook `json:"hook,omitempty"`
}

func (h *HeaderRoute) String() string {
	if h == nil {
		return "-"
	}
	on := "header " + h.Header
	if h.Cookie != "" {
		on = "cookie " + h.Cookie
	}
	switch {
	case h.Exact != "":
		return fmt.Sprintf("%s = %q", on, h.Exact)
	case h.Prefix != "":
		return fmt.Sprintf("%s starts with %q", on, h.Prefix)
	}
	return fmt.Sprintf("%s matches %q", on, h.Regex)
}
