package store

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// FormatVersion is the version of the stored form of rollouts and events
// that this bluejay writes. Version 0 is the form written before stored
// forms had a version: the engine's structs as JSON, which version 1
// encodes the same way but for the "v" field. A decoder reads every
// version up to FormatVersion and refuses a newer one rather than drop
// the fields it does not know.
//
// The stored form is its own set of types, below, apart from the
// engine's working structs: renaming or retyping an engine field does not
// change what is on disk. A field added to the engine must be added here
// too (TestStoredFormMapsEveryField fails until it is); a change of the
// encoding bumps FormatVersion and keeps decoding the older ones.
const FormatVersion = 1

// EncodeRollout returns the stored form of r.
func EncodeRollout(r engine.Rollout) ([]byte, error) {
	doc, err := json.Marshal(toStoredRollout(r))
	if err != nil {
		return nil, fmt.Errorf("encoding rollout: %w", err)
	}
	return doc, nil
}

// DecodeRollout reads a stored rollout of any known format version.
func DecodeRollout(doc []byte) (engine.Rollout, error) {
	var s storedRollout
	if err := json.Unmarshal(doc, &s); err != nil {
		return engine.Rollout{}, fmt.Errorf("decoding rollout: %w", err)
	}
	if s.V > FormatVersion {
		return engine.Rollout{}, fmt.Errorf("decoding rollout %d: %w", s.ID, newerFormat(s.V))
	}
	return s.engine(), nil
}

// EncodeEvent returns the stored form of ev.
func EncodeEvent(ev engine.Event) ([]byte, error) {
	doc, err := json.Marshal(toStoredEvent(ev))
	if err != nil {
		return nil, fmt.Errorf("encoding event: %w", err)
	}
	return doc, nil
}

// DecodeEvent reads a stored event of any known format version.
func DecodeEvent(doc []byte) (engine.Event, error) {
	var s storedEvent
	if err := json.Unmarshal(doc, &s); err != nil {
		return engine.Event{}, fmt.Errorf("decoding event: %w", err)
	}
	if s.V > FormatVersion {
		return engine.Event{}, fmt.Errorf("decoding event %d: %w", s.ID, newerFormat(s.V))
	}
	return s.engine(), nil
}

func newerFormat(v int) error {
	return fmt.Errorf("stored in format version %d, newer than this bluejay reads (%d): upgrade bluejay", v, FormatVersion)
}

// storedRollout is the stored form of engine.Rollout.
type storedRollout struct {
	V             int                     `json:"v"`
	ID            int64                   `json:"id"`
	Service       string                  `json:"service"`
	Strategy      string                  `json:"strategy"`
	From          storedVersion           `json:"from"`
	To            storedVersion           `json:"to"`
	Params        storedParams            `json:"params"`
	Phase         string                  `json:"phase"`
	Reason        string                  `json:"reason"`
	Weights       map[string]int          `json:"weights"`
	Exposure      storedCounts            `json:"exposure"`
	Started       time.Time               `json:"started"`
	PhaseSince    time.Time               `json:"phaseSince"`
	Ended         time.Time               `json:"ended,omitzero"`
	Settled       bool                    `json:"settled"`
	Step          int                     `json:"step"`
	StepSince     time.Time               `json:"stepSince,omitzero"`
	StepCounts    map[string]storedCounts `json:"stepCounts,omitempty"`
	Before        map[string]storedCounts `json:"before,omitempty"`
	StepVerdicts  storedVerdicts          `json:"stepVerdicts,omitzero"`
	BgVerdicts    storedVerdicts          `json:"backgroundVerdicts,omitzero"`
	Inconclusives int                     `json:"inconclusives,omitempty"`
	HeaderRoutes  []storedHeaderRoute     `json:"headerRoutes,omitempty"`
	MirrorPercent int                     `json:"mirrorPercent,omitempty"`
	NewCount      int                     `json:"newCount,omitempty"`
	OldCount      int                     `json:"oldCount,omitempty"`
	Hooks         map[string]string       `json:"hooks,omitempty"`
	Hold          *storedHold             `json:"hold,omitempty"`
}

func toStoredRollout(r engine.Rollout) storedRollout {
	s := storedRollout{V: FormatVersion, ID: r.ID, Service: r.Service, Strategy: r.Strategy,
		From: toStoredVersion(r.From), To: toStoredVersion(r.To), Params: toStoredParams(r.Params),
		Phase: string(r.Phase), Reason: r.Reason, Weights: r.Weights, Exposure: storedCounts(r.Exposure),
		Started: r.Started, PhaseSince: r.PhaseSince, Ended: r.Ended, Settled: r.Settled,
		Step: r.Step, StepSince: r.StepSince, StepCounts: convertMap(r.StepCounts, func(c metrics.Counts) storedCounts { return storedCounts(c) }),
		Before:       convertMap(r.Before, func(c metrics.Counts) storedCounts { return storedCounts(c) }),
		StepVerdicts: storedVerdicts(r.StepVerdicts), BgVerdicts: storedVerdicts(r.BackgroundVerdicts),
		Inconclusives: r.Inconclusives, MirrorPercent: r.MirrorPercent, NewCount: r.NewCount, OldCount: r.OldCount,
		HeaderRoutes: convertSlice(r.HeaderRoutes, func(h engine.HeaderRoute) storedHeaderRoute { return storedHeaderRoute(h) }),
	}
	if r.Hooks != nil {
		s.Hooks = make(map[string]string, len(r.Hooks))
		for h, st := range r.Hooks {
			s.Hooks[string(h)] = string(st)
		}
	}
	if h := r.Hold; h != nil {
		s.Hold = &storedHold{Phase: string(h.Phase), Reason: h.Reason, Since: h.Since, PhaseSince: h.PhaseSince, StepSince: h.StepSince}
	}
	return s
}

func (s storedRollout) engine() engine.Rollout {
	r := engine.Rollout{ID: s.ID, Service: s.Service, Strategy: s.Strategy,
		From: s.From.engine(), To: s.To.engine(), Params: s.Params.engine(),
		Phase: engine.Phase(s.Phase), Reason: s.Reason, Weights: s.Weights, Exposure: metrics.Counts(s.Exposure),
		Started: s.Started, PhaseSince: s.PhaseSince, Ended: s.Ended, Settled: s.Settled,
		Step: s.Step, StepSince: s.StepSince, StepCounts: convertMap(s.StepCounts, func(c storedCounts) metrics.Counts { return metrics.Counts(c) }),
		Before:       convertMap(s.Before, func(c storedCounts) metrics.Counts { return metrics.Counts(c) }),
		StepVerdicts: engine.VerdictCounts(s.StepVerdicts), BackgroundVerdicts: engine.VerdictCounts(s.BgVerdicts),
		Inconclusives: s.Inconclusives, MirrorPercent: s.MirrorPercent, NewCount: s.NewCount, OldCount: s.OldCount,
		HeaderRoutes: convertSlice(s.HeaderRoutes, func(h storedHeaderRoute) engine.HeaderRoute { return engine.HeaderRoute(h) }),
	}
	if s.Hooks != nil {
		r.Hooks = make(map[engine.Hook]engine.HookState, len(s.Hooks))
		for h, st := range s.Hooks {
			r.Hooks[engine.Hook(h)] = engine.HookState(st)
		}
	}
	if h := s.Hold; h != nil {
		r.Hold = &engine.Hold{Phase: engine.Phase(h.Phase), Reason: h.Reason, Since: h.Since, PhaseSince: h.PhaseSince, StepSince: h.StepSince}
	}
	return r
}

// storedVersion is the stored form of platform.Version.
type storedVersion struct {
	Service  string   `json:"service"`
	Label    string   `json:"label"`
	Build    string   `json:"build,omitempty"`
	Args     []string `json:"args,omitempty"`
	Targets  []string `json:"targets,omitempty"`
	Replicas int      `json:"replicas,omitempty"`
}

func toStoredVersion(v platform.Version) storedVersion {
	return storedVersion{Service: v.Service, Label: v.Label, Build: v.Build, Args: v.Args, Targets: v.Targets, Replicas: v.Replicas}
}

func (s storedVersion) engine() platform.Version {
	return platform.Version{Service: s.Service, Label: s.Label, Build: s.Build, Args: s.Args, Targets: s.Targets, Replicas: s.Replicas}
}

// storedCounts is the stored form of metrics.Counts. A conversion, so
// that a field added to one and not the other fails to compile.
type storedCounts struct {
	Requests    int64 `json:"requests"`
	Errors      int64 `json:"errors"`
	Users       int64 `json:"users,omitempty"`
	FailedUsers int64 `json:"failedUsers,omitempty"`
}

// storedHeaderRoute is the stored form of engine.HeaderRoute (a
// conversion, like storedCounts).
type storedHeaderRoute struct {
	Header string `json:"header,omitempty"`
	Cookie string `json:"cookie,omitempty"`
	Exact  string `json:"exact,omitempty"`
	Prefix string `json:"prefix,omitempty"`
	Regex  string `json:"regex,omitempty"`
}

// storedHold is the stored form of engine.Hold.
type storedHold struct {
	Phase      string    `json:"phase"`
	Reason     string    `json:"reason"`
	Since      time.Time `json:"since"`
	PhaseSince time.Time `json:"phaseSince"`
	StepSince  time.Time `json:"stepSince,omitzero"`
}

// storedParams is the stored form of engine.Params. Durations are
// nanoseconds.
type storedParams struct {
	Replicas            int                   `json:"replicas"`
	ReadyTimeout        time.Duration         `json:"readyTimeout"`
	Smoke               bool                  `json:"smoke"`
	PreviewWeight       int                   `json:"previewWeight"`
	PreviewDuration     time.Duration         `json:"previewDuration"`
	Watch               time.Duration         `json:"watch"`
	ScaleDownDelay      time.Duration         `json:"scaleDownDelay"`
	MaxErrorRate        float64               `json:"maxErrorRate"`
	MinRequests         int64                 `json:"minRequests"`
	CompleteOnNoTraffic bool                  `json:"completeOnNoTraffic,omitempty"`
	AutoPromote         bool                  `json:"autoPromote"`
	AbortScaleDownDelay time.Duration         `json:"abortScaleDownDelay,omitempty"`
	Steps               []storedStep          `json:"steps,omitempty"`
	Background          *storedAnalysisLimits `json:"background,omitempty"`
	Rolling             *storedRolling        `json:"rolling,omitempty"`
	DedicatedBaseline   bool                  `json:"dedicatedBaseline,omitempty"`
	ProgressDeadline    time.Duration         `json:"progressDeadline,omitempty"`
	PauseOnDeadline     bool                  `json:"pauseOnDeadline,omitempty"`
	AutoContract        bool                  `json:"autoContract,omitempty"`
	Hooks               []string              `json:"hooks,omitempty"`
}

func toStoredParams(p engine.Params) storedParams {
	s := storedParams{Replicas: p.Replicas, ReadyTimeout: p.ReadyTimeout, Smoke: p.Smoke, PreviewWeight: p.PreviewWeight,
		PreviewDuration: p.PreviewDuration, Watch: p.Watch, ScaleDownDelay: p.ScaleDownDelay, MaxErrorRate: p.MaxErrorRate,
		MinRequests: p.MinRequests, CompleteOnNoTraffic: p.CompleteOnNoTraffic, AutoPromote: p.AutoPromote, AbortScaleDownDelay: p.AbortScaleDownDelay,
		Steps: convertSlice(p.Steps, toStoredStep), Background: toStoredLimits(p.Background),
		DedicatedBaseline: p.DedicatedBaseline, ProgressDeadline: p.ProgressDeadline, PauseOnDeadline: p.PauseOnDeadline,
		AutoContract: p.AutoContract, Hooks: convertSlice(p.Hooks, func(h engine.Hook) string { return string(h) }),
	}
	if r := p.Rolling; r != nil {
		s.Rolling = &storedRolling{MaxSurge: r.MaxSurge, MaxUnavailable: r.MaxUnavailable, MinHealthyTime: r.MinHealthyTime,
			ProgressDeadline: r.ProgressDeadline, AutoRevert: r.AutoRevert}
	}
	return s
}

func (s storedParams) engine() engine.Params {
	p := engine.Params{Replicas: s.Replicas, ReadyTimeout: s.ReadyTimeout, Smoke: s.Smoke, PreviewWeight: s.PreviewWeight,
		PreviewDuration: s.PreviewDuration, Watch: s.Watch, ScaleDownDelay: s.ScaleDownDelay, MaxErrorRate: s.MaxErrorRate,
		MinRequests: s.MinRequests, CompleteOnNoTraffic: s.CompleteOnNoTraffic, AutoPromote: s.AutoPromote, AbortScaleDownDelay: s.AbortScaleDownDelay,
		Steps: convertSlice(s.Steps, storedStep.engine), Background: s.Background.engine(),
		DedicatedBaseline: s.DedicatedBaseline, ProgressDeadline: s.ProgressDeadline, PauseOnDeadline: s.PauseOnDeadline,
		AutoContract: s.AutoContract, Hooks: convertSlice(s.Hooks, func(h string) engine.Hook { return engine.Hook(h) }),
	}
	if r := s.Rolling; r != nil {
		p.Rolling = &engine.RollingParams{MaxSurge: r.MaxSurge, MaxUnavailable: r.MaxUnavailable, MinHealthyTime: r.MinHealthyTime,
			ProgressDeadline: r.ProgressDeadline, AutoRevert: r.AutoRevert}
	}
	return p
}

// storedRolling is the stored form of engine.RollingParams.
type storedRolling struct {
	MaxSurge         int           `json:"maxSurge"`
	MaxUnavailable   int           `json:"maxUnavailable"`
	MinHealthyTime   time.Duration `json:"minHealthyTime"`
	ProgressDeadline time.Duration `json:"progressDeadline"`
	AutoRevert       bool          `json:"autoRevert"`
}

// storedStep is the stored form of engine.CanaryStep.
type storedStep struct {
	Kind          string                `json:"kind"`
	Weight        int                   `json:"weight,omitempty"`
	Duration      time.Duration         `json:"duration,omitempty"`
	Analysis      *storedAnalysisLimits `json:"analysis,omitempty"`
	Checks        int                   `json:"checks,omitempty"`
	Route         *storedHeaderRoute    `json:"route,omitempty"`
	MirrorPercent int                   `json:"mirrorPercent,omitempty"`
}

func toStoredStep(c engine.CanaryStep) storedStep {
	s := storedStep{Kind: string(c.Kind), Weight: c.Weight, Duration: c.Duration, Analysis: toStoredLimits(c.Analysis),
		Checks: c.Checks, MirrorPercent: c.MirrorPercent}
	if c.Route != nil {
		r := storedHeaderRoute(*c.Route)
		s.Route = &r
	}
	return s
}

func (s storedStep) engine() engine.CanaryStep {
	c := engine.CanaryStep{Kind: engine.StepKind(s.Kind), Weight: s.Weight, Duration: s.Duration, Analysis: s.Analysis.engine(),
		Checks: s.Checks, MirrorPercent: s.MirrorPercent}
	if s.Route != nil {
		r := engine.HeaderRoute(*s.Route)
		c.Route = &r
	}
	return c
}

// storedAnalysisLimits is the stored form of engine.AnalysisLimits.
type storedAnalysisLimits struct {
	Template              string        `json:"template"`
	Interval              time.Duration `json:"interval"`
	FailureLimit          int           `json:"failureLimit"`
	ConsecutiveErrorLimit int           `json:"consecutiveErrorLimit"`
	InconclusiveLimit     int           `json:"inconclusiveLimit"`
	AbortOnInconclusive   bool          `json:"abortOnInconclusive,omitempty"`
}

func toStoredLimits(a *engine.AnalysisLimits) *storedAnalysisLimits {
	if a == nil {
		return nil
	}
	return &storedAnalysisLimits{Template: a.Template, Interval: a.Interval, FailureLimit: a.FailureLimit,
		ConsecutiveErrorLimit: a.ConsecutiveErrorLimit, InconclusiveLimit: a.InconclusiveLimit, AbortOnInconclusive: a.AbortOnInconclusive}
}

func (s *storedAnalysisLimits) engine() *engine.AnalysisLimits {
	if s == nil {
		return nil
	}
	return &engine.AnalysisLimits{Template: s.Template, Interval: s.Interval, FailureLimit: s.FailureLimit,
		ConsecutiveErrorLimit: s.ConsecutiveErrorLimit, InconclusiveLimit: s.InconclusiveLimit, AbortOnInconclusive: s.AbortOnInconclusive}
}

// storedEvent is the stored form of engine.Event.
type storedEvent struct {
	V         int                `json:"v"`
	ID        int64              `json:"id"`
	RolloutID int64              `json:"rolloutId"`
	Service   string             `json:"service"`
	Time      time.Time          `json:"time"`
	From      string             `json:"from,omitempty"`
	Phase     string             `json:"phase"`
	Reason    string             `json:"reason"`
	Weights   map[string]int     `json:"weights,omitempty"`
	Numbers   map[string]float64 `json:"numbers,omitempty"`
	Hook      string             `json:"hook,omitempty"`
}

func toStoredEvent(ev engine.Event) storedEvent {
	return storedEvent{V: FormatVersion, ID: ev.ID, RolloutID: ev.RolloutID, Service: ev.Service, Time: ev.Time,
		From: string(ev.From), Phase: string(ev.Phase), Reason: ev.Reason, Weights: ev.Weights, Numbers: ev.Numbers,
		Hook: string(ev.Hook)}
}

func (s storedEvent) engine() engine.Event {
	return engine.Event{ID: s.ID, RolloutID: s.RolloutID, Service: s.Service, Time: s.Time,
		From: engine.Phase(s.From), Phase: engine.Phase(s.Phase), Reason: s.Reason, Weights: s.Weights, Numbers: s.Numbers,
		Hook: engine.Hook(s.Hook)}
}

// convertSlice maps a slice, nil to nil.
func convertSlice[A, B any](in []A, f func(A) B) []B {
	if in == nil {
		return nil
	}
	out := make([]B, len(in))
	for i, a := range in {
		out[i] = f(a)
	}
	return out
}

// convertMap maps a map's values, nil to nil.
func convertMap[K comparable, A, B any](in map[K]A, f func(A) B) map[K]B {
	if in == nil {
		return nil
	}
	out := make(map[K]B, len(in))
	for k, a := range in {
		out[k] = f(a)
	}
	return out
}

// storedVerdicts is the stored form of engine.VerdictCounts.
type storedVerdicts struct {
	Intervals         int `json:"intervals,omitempty"`
	Failures          int `json:"failures,omitempty"`
	ConsecutiveErrors int `json:"consecutiveErrors,omitempty"`
}
