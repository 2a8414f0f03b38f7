package controller

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// DeployRequest asks for a new version of a service.
type DeployRequest struct {
	Service string `json:"service"`
	Version string `json:"version"`
	// Strategy overrides the service's configured strategy; "" keeps it.
	Strategy string `json:"strategy,omitempty"`
	// Targets are the new version's addresses on the static platform.
	Targets []string `json:"targets,omitempty"`
	// Args are appended to the process platform's command.
	Args []string `json:"args,omitempty"`
}

var labelRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._+-]{0,62}$`)

// Deploy starts a rollout of a new version. It fails with ErrConflict if
// the service has an active rollout or already runs that version.
func (c *Controller) Deploy(ctx context.Context, req DeployRequest) (engine.Rollout, error) {
	return c.deploy(ctx, req, "deploy requested")
}

// deploy is Deploy with the reason the new rollout records.
func (c *Controller) deploy(ctx context.Context, req DeployRequest, why string) (engine.Rollout, error) {
	l, err := c.commandLoop(req.Service)
	if err != nil {
		return engine.Rollout{}, err
	}
	var r engine.Rollout
	err = l.exec(ctx, func() error {
		if err := l.checkDeploy(req); err != nil { // on the loop: a reload may change the spec
			return err
		}
		if l.r.Phase.Active() {
			next := "promote or abort it first"
			if l.r.Phase == engine.PhaseDeploying || l.r.Phase == engine.PhaseSmoke {
				next = "wait for its gates, or abort it first" // promote is refused before them
			}
			return fmt.Errorf("%w: %s has an active rollout #%d (%s to %s, %s); %s",
				ErrConflict, req.Service, l.r.ID, l.r.From.Label, l.r.To.Label, l.r.Phase, next)
		}
		if stable := l.r.Stable(); stable == req.Version {
			return fmt.Errorf("%w: %s already runs %s as its stable version", ErrConflict, req.Service, stable)
		}
		prev, err := l.c.Store.ListRollouts(ctx, req.Service, ownedLookback)
		if err != nil {
			return fmt.Errorf("reading %s's rollouts: %w", req.Service, err)
		}
		r, err = l.create(ctx, l.version(req.Version, req.Targets, req.Args), cmp.Or(req.Strategy, l.svc.Spec.Strategy), why)
		if err == nil {
			l.adopt(ctx, r)
			// A stop it starts outlives the request: the loop's context
			// (regression: with the request's, the stop's end was never
			// posted back and the version stayed "stopping" for good).
			l.reuseOrRenew(l.runCtx, prev)
		}
		return err
	})
	return r, err
}

// checkDeploy refuses a request that could never succeed, before
// anything is written.
func (l *loop) checkDeploy(req DeployRequest) error {
	switch {
	case !labelRE.MatchString(req.Version):
		return fmt.Errorf("%w: version %q: want letters, digits, '.', '_', '+' or '-', at most 63", ErrInvalid, req.Version)
	case req.Strategy != "" && req.Strategy != spec.StrategyBlueGreen && req.Strategy != spec.StrategyCanary && req.Strategy != spec.StrategyRolling:
		return fmt.Errorf("%w: strategy %q: want %s, %s or %s", ErrInvalid, req.Strategy, spec.StrategyBlueGreen, spec.StrategyCanary, spec.StrategyRolling)
	case req.Strategy == spec.StrategyRolling && l.svc.Spec.Platform.Static != nil:
		return fmt.Errorf("%w: the rolling strategy adds and removes instances, which needs the process or kubernetes platform; %s is static", ErrInvalid, req.Service)
	case l.svc.Spec.Platform.Static != nil && len(l.targets(req.Version, req.Targets)) == 0:
		return fmt.Errorf("%w: no targets for %s %s: pass --target or set platform.static.targets", ErrInvalid, req.Service, req.Version)
	case l.svc.Spec.Platform.Static == nil && len(req.Targets) > 0:
		return fmt.Errorf("%w: --target is for the static platform; %s runs on %s", ErrInvalid, req.Service, l.svc.Spec.Platform.Name())
	}
	return nil
}

// create persists a new rollout from the current stable version to v.
func (l *loop) create(ctx context.Context, v platform.Version, strategy, why string) (engine.Rollout, error) {
	now := l.c.now()
	r := engine.Rollout{Service: l.svc.Spec.Name, Strategy: strategy, To: v,
		Params: l.params(v, strategy), Phase: engine.PhaseDeploying, Started: now, PhaseSince: now}
	if stable := l.r.Stable(); stable != "" {
		r.From = l.stableVersion()
		r.Weights = map[string]int{stable: 100}
	}
	reason := fmt.Sprintf("%s: %s %s, %s", why, r.Strategy, v.Label, fromText(r.From.Label))
	r.Reason = reason
	ev := engine.Event{Service: r.Service, Time: now, Phase: r.Phase, Reason: reason, Weights: r.Weights}
	if err := l.c.Store.CreateRollout(ctx, &r, ev); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return r, fmt.Errorf("%w: %v", ErrConflict, err)
		}
		return r, fmt.Errorf("persisting rollout: %w", err)
	}
	return r, nil
}

func fromText(from string) string {
	if from == "" {
		return "first version of the service"
	}
	return "replacing " + from
}

// stableVersion returns how to run the current stable version.
func (l *loop) stableVersion() platform.Version {
	if l.r.Phase == engine.PhaseCompleted {
		return l.r.To
	}
	return l.r.From
}

// version builds how to run a version of this service.
func (l *loop) version(label string, targets, args []string) platform.Version {
	return platform.Version{Service: l.svc.Spec.Name, Label: label, Args: args, Targets: l.targets(label, targets)}
}

func (l *loop) targets(label string, given []string) []string {
	st := l.svc.Spec.Platform.Static
	if st == nil {
		return nil
	}
	if len(given) > 0 {
		return given
	}
	return st.Targets[label]
}

// params fixes the strategy's settings for a rollout of v.
func (l *loop) params(v platform.Version, strategy string) engine.Params {
	s := l.svc.Spec
	bg := s.BlueGreen
	p := engine.Params{Replicas: 1, ReadyTimeout: s.Health.ReadyTimeout.D(), Smoke: len(s.Smoke) > 0,
		PreviewWeight: bg.PreviewWeight, PreviewDuration: bg.PreviewDuration.D(), Watch: bg.Watch.D(),
		ScaleDownDelay: bg.ScaleDownDelay.D(), MinRequests: int64(bg.MinRequests), AutoPromote: true,
		CompleteOnNoTraffic: bg.OnNoTraffic == spec.NoTrafficComplete}
	if bg.MaxErrorRate != nil {
		p.MaxErrorRate = *bg.MaxErrorRate
	}
	if bg.AutoPromote != nil {
		p.AutoPromote = *bg.AutoPromote
	}
	p.Replicas = s.Replicas()
	if len(v.Targets) > 0 { // static: one instance per target given
		p.Replicas = len(v.Targets)
	}
	switch strategy {
	case spec.StrategyCanary:
		l.canaryParams(&p)
	case spec.StrategyRolling:
		r := s.Rolling
		p.PreviewWeight, p.AutoPromote, p.ScaleDownDelay = 0, true, 0
		p.Rolling = &engine.RollingParams{MaxSurge: r.MaxSurge, MaxUnavailable: r.MaxUnavailable,
			MinHealthyTime: r.MinHealthyTime.D(), ProgressDeadline: r.ProgressDeadline.D(), AutoRevert: r.AutoRevert == nil || *r.AutoRevert}
	}
	l.fixParams(&p, strategy)
	l.migrationParams(&p, v.Label, l.stableVersion().Label)
	return p
}

// canaryParams fixes the canary's steps and the limits of its analyses.
func (l *loop) canaryParams(p *engine.Params) {
	k := l.svc.Spec.Canary
	p.PreviewWeight, p.AutoPromote = 0, true
	p.ScaleDownDelay, p.AbortScaleDownDelay = k.ScaleDownDelay.D(), k.AbortScaleDownDelay.D()
	p.Background = l.limits(k.Analysis)
	p.DedicatedBaseline = k.Baseline == spec.BaselineDedicated
	p.ProgressDeadline, p.PauseOnDeadline = k.ProgressDeadline.D(), k.OnProgressDeadline == "pause"
	p.Steps = nil
	for _, st := range k.Steps {
		p.Steps = append(p.Steps, l.canaryStep(st))
	}
}

func (l *loop) canaryStep(st spec.CanaryStep) engine.CanaryStep {
	switch {
	case st.SetWeight != nil:
		return engine.CanaryStep{Kind: engine.StepSetWeight, Weight: *st.SetWeight}
	case st.Pause != nil:
		return engine.CanaryStep{Kind: engine.StepPause, Duration: st.Pause.Duration.D()}
	case st.Analysis != nil:
		return engine.CanaryStep{Kind: engine.StepAnalysis, Duration: st.Analysis.Duration.D(), Analysis: l.limits(st.Analysis.Template)}
	case st.SetMirrorRoute != nil:
		return engine.CanaryStep{Kind: engine.StepSetMirrorRoute, MirrorPercent: st.SetMirrorRoute.Percent}
	case st.SetHeaderRoute != nil:
		h := st.SetHeaderRoute
		return engine.CanaryStep{Kind: engine.StepSetHeaderRoute,
			Route: &engine.HeaderRoute{Header: h.Header, Cookie: h.Cookie, Exact: h.Exact, Prefix: h.Prefix, Regex: h.Regex}}
	}
	return engine.CanaryStep{Kind: engine.StepChecks, Checks: len(st.Checks)}
}

// limits reads a template's limits for the engine.
func (l *loop) limits(template string) *engine.AnalysisLimits {
	t := l.c.Templates[template]
	return &engine.AnalysisLimits{Template: template, Interval: t.Interval.D(), FailureLimit: t.FailureLimit,
		ConsecutiveErrorLimit: t.ConsecutiveErrorLimit, InconclusiveLimit: t.InconclusiveLimit,
		AbortOnInconclusive: t.OnInconclusive == "abort"}
}

// Command sends promote, abort or rollback to the service's rollout. A
// command the rollout's phase does not allow fails with ErrConflict and
// the engine's reason.
func (c *Controller) Command(ctx context.Context, service string, cmd engine.Command) (engine.Rollout, error) {
	l, err := c.commandLoop(service)
	if err != nil {
		return engine.Rollout{}, err
	}
	var r engine.Rollout
	err = l.exec(ctx, func() error {
		// The step's actions outlive the request (smoke tests, hooks and
		// migrations run in the background): they get the loop's context.
		// Regression: a contract started by `bluejay contract` died with
		// its HTTP request and never reported.
		d, err := l.step(l.runCtx, cmd)
		if err != nil {
			return err
		}
		if d.Rejected != "" {
			return fmt.Errorf("%w: %s (rollout #%d is %s)", ErrConflict, d.Rejected, l.r.ID, l.r.Phase)
		}
		r = l.r
		return nil
	})
	return r, err
}

// Rollback returns the service to a version it ran before: to, or ""
// for the previous one. While that version is warm (the rollout is
// active, or it completed within its scale-down delay) it is a traffic
// flip; otherwise the version is deployed again, as it ran before (its
// args and targets), through the same gates, as a new rollout whose
// reason says it is a rollback. A version the service never ran fails
// with ErrInvalid; the stable version, or another than the old one
// while a rollout is active, with ErrConflict.
func (c *Controller) Rollback(ctx context.Context, service, to string) (engine.Rollout, error) {
	l, err := c.commandLoop(service)
	if err != nil {
		return engine.Rollout{}, err
	}
	cur, err := l.current(ctx)
	if err != nil {
		return engine.Rollout{}, err
	}
	if to != "" && !cur.Phase.Active() && to == cur.Stable() {
		return cur, fmt.Errorf("%w: %s already runs %s as its stable version", ErrConflict, service, to)
	}
	if to == "" || to == cur.From.Label {
		r, err := c.Command(ctx, service, engine.CmdRollback)
		if err == nil || !errors.Is(err, ErrConflict) || cur.Phase != engine.PhaseCompleted || cur.From.Label == "" {
			return r, err
		}
		to = cur.From.Label // the flip is no longer possible: deploy it again
	}
	v, ranIn, err := c.ranBefore(ctx, service, to)
	if err != nil {
		return cur, err
	}
	if cur.Phase.Active() {
		return cur, fmt.Errorf("%w: rollout #%d (%s to %s) is %s: abort it first, or roll back to %s",
			ErrConflict, cur.ID, orNone(cur.From.Label), cur.To.Label, cur.Phase, orNone(cur.From.Label))
	}
	return c.deploy(ctx, DeployRequest{Service: service, Version: to, Targets: v.Targets, Args: v.Args},
		fmt.Sprintf("rollback to %s requested (it ran in rollout #%d)", to, ranIn))
}

// ranBefore finds how the service last ran version label as its stable
// version, in its rollout history, and the rollout it ran in.
func (c *Controller) ranBefore(ctx context.Context, service, label string) (platform.Version, int64, error) {
	rs, err := c.Store.ListRollouts(ctx, service, 0)
	if err != nil {
		return platform.Version{}, 0, fmt.Errorf("reading %s's history: %w", service, err)
	}
	var known []string
	for _, r := range rs { // newest first
		for _, v := range stableVersions(r) {
			if v.Label == label {
				return v, r.ID, nil
			}
			if !slices.Contains(known, v.Label) {
				known = append(known, v.Label)
			}
		}
	}
	// No "did you mean": versions are one digit apart by nature.
	hint := "it has run none"
	if len(known) > 0 {
		hint = "versions it ran, newest first: " + strings.Join(known, ", ")
	}
	return platform.Version{}, 0, fmt.Errorf("%w: %s never ran %s, so it cannot roll back to it; %s", ErrInvalid, service, label, hint)
}

// stableVersions are the versions that were stable during r: the one it
// started from, and the new one if it completed. A version that was
// rolled back never served as stable, and is no place to return to.
func stableVersions(r engine.Rollout) []platform.Version {
	var out []platform.Version
	if r.Phase == engine.PhaseCompleted {
		out = append(out, r.To)
	}
	if r.From.Label != "" {
		out = append(out, r.From)
	}
	return out
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}

// unknownService says that name is not configured, suggesting the
// closest configured name, or listing them when none is close.
func unknownService(name string, known []string) error {
	if s := spec.Suggest(name, known); s != "" {
		return fmt.Errorf("%w %q; did you mean %q?", ErrUnknownService, name, s)
	}
	return fmt.Errorf("%w %q; configured services: %s", ErrUnknownService, name, strings.Join(known, ", "))
}

// Retry starts the service's latest rollout again, from the start, if it
// ended without completing (rolled back, failed or aborted).
func (c *Controller) Retry(ctx context.Context, service string) (engine.Rollout, error) {
	l, err := c.commandLoop(service)
	if err != nil {
		return engine.Rollout{}, err
	}
	last, err := l.current(ctx)
	if err != nil {
		return engine.Rollout{}, err
	}
	if !last.Phase.Terminal() || last.Phase.Succeeded() {
		return last, fmt.Errorf("%w: nothing to retry: rollout #%d of %s is %s", ErrConflict, last.ID, last.To.Label, last.Phase)
	}
	return c.Deploy(ctx, DeployRequest{Service: service, Version: last.To.Label, Strategy: last.Strategy,
		Targets: last.To.Targets, Args: last.To.Args})
}

// commandLoop returns the loop of the service a command is for, or
// ErrStandby at once if this controller stands by: the leader takes
// commands.
func (c *Controller) commandLoop(service string) (*loop, error) {
	l, err := c.service(service)
	if err != nil {
		return nil, err
	}
	if c.Standby != nil && c.Standby() {
		return nil, ErrStandby
	}
	return l, nil
}

// current returns the service's latest rollout as its loop knows it, or
// why it could not be asked (a standby, a cancelled request). Regression:
// Rollback and Retry dropped that error and went on with the zero
// rollout, answering 409 about "rollout #0".
func (l *loop) current(ctx context.Context) (engine.Rollout, error) {
	var r engine.Rollout
	err := l.exec(ctx, func() error { r = l.r; return nil })
	return r, err
}
