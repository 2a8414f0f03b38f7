package controller

import (
	"context"
	"slices"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/analysis"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// ServiceStatus is what `bluejay status` shows of a service.
type ServiceStatus struct {
	Service string `json:"service"`
	// Desired is the version the loaded config names (services[].version):
	// a config reload that changes it starts a rollout to it, so it differs
	// from Stable while that rollout runs, or after an imperative deploy.
	Desired string `json:"desired,omitempty"`
	// KeptPlan says the active rollout runs on the plan it started with
	// although a config reload changed the service since ("" otherwise).
	KeptPlan string `json:"keptPlan,omitempty"`
	// Stable is the version that serves users when no rollout is under way.
	Stable string `json:"stable"`
	// Rollout is the service's latest rollout.
	Rollout engine.Rollout `json:"rollout"`
	// Weights is the live traffic split by version.
	Weights map[string]int `json:"weights"`
	// Route is the live route with each version's ready addresses.
	Route router.Route `json:"route"`
	// Instances lists every instance of the versions the rollout uses.
	Instances []InstanceStatus `json:"instances"`
	// Exposure is the blast radius of the rollout so far: the new
	// version's user requests, errors, users and failed users. Live while
	// the rollout is active (Rollout.Exposure is as of its last
	// decision), the rollout's final count once it has ended.
	Exposure metrics.Counts `json:"exposure"`
	// Analyses are a canary's analyses under way: the step's, if the
	// current step is an analysis, and the background one. Empty for
	// other strategies and once the steps are over.
	Analyses []AnalysisStatus `json:"analyses,omitempty"`
}

// AnalysisStatus is an analysis under way: its latest verdict and,
// metric by metric, the latest measurement of the canary against its
// baseline.
type AnalysisStatus struct {
	// Kind is "step" (the current step's analysis) or "background".
	Kind string `json:"kind"`
	// Template names the analysis template.
	Template string `json:"template"`
	// Canary and Baseline are the version labels compared.
	Canary   string `json:"canary"`
	Baseline string `json:"baseline"`
	// Since is when the analysis' window began.
	Since time.Time `json:"since"`
	// Intervals counts the verdicts taken; Verdict is the latest (Pass,
	// Fail, Inconclusive, Error; "" before the first), Failures the Fail
	// verdicts, ConsecutiveErrors the Error verdicts in a row.
	Intervals         int    `json:"intervals"`
	Verdict           string `json:"verdict,omitempty"`
	Failures          int    `json:"failures,omitempty"`
	ConsecutiveErrors int    `json:"consecutiveErrors,omitempty"`
	// Limits are the template's limits the engine applies.
	Limits *engine.AnalysisLimits `json:"limits,omitempty"`
	// Metrics are the latest evaluation, taken every tick, so they may be
	// newer than Verdict: each metric's verdict, reason and numbers
	// (canary.* and baseline.* values, samples, thresholds).
	Metrics []analysis.Result `json:"metrics"`
}

// InstanceStatus is an instance with its readiness.
type InstanceStatus struct {
	platform.Instance
	Ready     bool   `json:"ready"`
	LastError string `json:"lastError,omitempty"`
}

type snapshot = ServiceStatus

// publish refreshes the snapshot that Status reads.
func (l *loop) publish() {
	s := ServiceStatus{Service: l.svc.Spec.Name, Desired: l.svc.Spec.Version, Stable: l.r.Stable(), Rollout: l.r,
		Weights: l.applied.Weights(), Route: l.applied, Exposure: l.r.Exposure}
	if l.r.Phase.Active() {
		s.Exposure = l.exposure(context.Background()) // the builtin metrics are in memory
	}
	s.Analyses = append(l.stepRun.status("step", l.r.Params), l.bgRun.status("background", l.r.Params)...)
	for _, label := range []string{l.r.From.Label, l.r.BaselineLabel(), l.r.To.Label} {
		if label == "" {
			continue
		}
		insts, _ := l.svc.Platform.Instances(l.svc.Spec.Name, label) // unknown: none shown; the reason says why
		for _, in := range insts {
			ready, lastErr := in.Ready, ""
			if !l.selfReady() {
				st := l.monitor.Status(in.Addr)
				ready, lastErr = st.Ready, st.LastError
			}
			s.Instances = append(s.Instances, InstanceStatus{Instance: in, Ready: in.State == platform.StateRunning && ready, LastError: lastErr})
		}
	}
	l.mu.Lock()
	l.snap = s
	l.rev = statusRevs.Add(1)
	l.mu.Unlock()
}

// statusRevs numbers the statuses published, across every loop: a
// service that a config reload removed and added again does not start
// its revisions over, so a status cached under one never passes for
// another.
var statusRevs atomic.Uint64

// status describes the run for ServiceStatus, with its limits from the
// rollout's params; none for a nil run.
func (run *analysisRun) status(kind string, p engine.Params) []AnalysisStatus {
	if run == nil {
		return nil
	}
	limits := p.Background
	if kind == "step" {
		limits = nil
		if run.key.step < len(p.Steps) {
			limits = p.Steps[run.key.step].Analysis
		}
	}
	return []AnalysisStatus{{Kind: kind, Template: run.key.template, Canary: run.labels[0], Baseline: run.labels[1],
		Since: run.start, Intervals: run.obs.Intervals, Verdict: run.obs.Verdict, Failures: run.obs.Failures,
		ConsecutiveErrors: run.obs.ConsecutiveErrors, Limits: limits, Metrics: slices.Clone(run.latest)}}
}

// Routes returns the stored routing table: every service's route as last
// persisted, which is what the proxy serves.
func (c *Controller) Routes(ctx context.Context) ([]router.Route, error) {
	return c.Store.ListRoutes(ctx)
}

// Status returns a service's live status.
func (c *Controller) Status(service string) (ServiceStatus, error) {
	st, _, err := c.StatusRev(service)
	return st, err
}

// StatusRev is Status with the status's revision: a number that changes
// whenever the service's loop publishes a new status (after a step), so
// that a reader may keep what it derived from a status (its encoding)
// until then. KeptPlan, read afresh each time, is not covered by it.
func (c *Controller) StatusRev(service string) (ServiceStatus, uint64, error) {
	l, err := c.service(service)
	if err != nil {
		return ServiceStatus{}, 0, err
	}
	l.mu.Lock()
	st, rev := l.snap, l.rev
	l.mu.Unlock()
	st.KeptPlan = c.keptPlan(service, st.Rollout)
	return st, rev, nil
}

// Rollouts lists a service's rollouts, newest first.
func (c *Controller) Rollouts(ctx context.Context, service string, limit int) ([]engine.Rollout, error) {
	if _, err := c.service(service); err != nil {
		return nil, err
	}
	return c.Store.ListRollouts(ctx, service, limit)
}

// Events lists a service's events, oldest first.
func (c *Controller) Events(ctx context.Context, service string, limit int) ([]engine.Event, error) {
	if _, err := c.service(service); err != nil {
		return nil, err
	}
	return c.Store.ListEvents(ctx, service, limit)
}

// Rollout returns one rollout by id.
func (c *Controller) Rollout(ctx context.Context, id int64) (engine.Rollout, error) {
	return c.Store.Rollout(ctx, id)
}
