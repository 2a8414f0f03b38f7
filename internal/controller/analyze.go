package controller

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/loadgen"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// analysisRun judges the canary against its baseline from one moment on:
// every tick it measures both since the run began (so evidence
// accumulates) and evaluates the template's judges. A verdict is taken at
// each interval boundary; between boundaries a Fail from an anytime-valid
// (sequential) judge is taken at once, so rollback does not wait for the
// interval.
type analysisRun struct {
	key         runKey
	tmpl        spec.AnalysisTemplate
	judges      []*analysis.Judge
	start       time.Time
	next        time.Time         // the next interval boundary
	judgedFail  bool              // a Fail was already taken in this interval
	finalTaken  bool              // the verdict at the end of the step's duration was taken
	startCounts [2]metrics.Counts // canary's and baseline's counters when the run began
	startUse    [2]*platform.Usage
	duration    time.Duration // the step's; 0 for until-Pass and background runs
	skipped     []string      // metrics this platform cannot measure
	obs         engine.AnalysisObs
	latest      []analysis.Result // the latest evaluation, metric by metric, for status
	err         error             // the template could not be compiled
	resumed     bool              // the step's persisted verdict counts were taken (resumeCounts)
	providers   []*providerMetric // web, job and prometheus metrics
	provCtx     context.Context   // their measurements' context, cancelled by end
	provStop    context.CancelFunc

	load   *loadgen.Generator // synthetic load, nil without
	stop   context.CancelFunc // ends the load
	addrs  [2]atomic.Pointer[[]string]
	labels [2]string // canary, baseline
}

// runKey ties a run to the rollout step it judges.
type runKey struct {
	rollout   int64
	step      int
	stepSince time.Time
	template  string
}

// analyses returns the state of the step's analysis and of the
// background analysis, advancing both to now.
func (l *loop) analyses(ctx context.Context, now time.Time) (step, background *engine.AnalysisObs) {
	r := l.r
	if r.Strategy != engine.StrategyCanary || (r.Phase != engine.PhaseProgressing && r.Phase != engine.PhasePaused) {
		l.stepRun, l.bgRun = l.stepRun.end(), l.bgRun.end()
		return nil, nil
	}
	if r.Phase == engine.PhaseProgressing && r.Step < len(r.Params.Steps) && r.Params.Steps[r.Step].Kind == engine.StepAnalysis {
		st := r.Params.Steps[r.Step]
		key := runKey{r.ID, r.Step, r.StepSince, st.Analysis.Template}
		l.stepRun = l.runFor(ctx, l.stepRun, key, now, l.baseline(), true, l.stepArgs(r.Step))
		l.stepRun.resumeCounts(r.StepVerdicts)
		l.stepRun.duration = st.Duration
		step = l.stepRun.tick(ctx, l, now)
	} else {
		l.stepRun = l.stepRun.end()
	}
	if bg := r.Params.Background; bg != nil {
		// The background analysis guards against plain failure on user
		// traffic: no synthetic load, and the whole stable version as its
		// baseline even when the steps compare with a dedicated one, since
		// its traffic gives a failing canary's errors the most evidence.
		l.bgRun = l.runFor(ctx, l.bgRun, runKey{r.ID, r.Step, r.StepSince, bg.Template}, now, r.From.Label, false, nil)
		l.bgRun.resumeCounts(r.BackgroundVerdicts)
		background = l.bgRun.tick(ctx, l, now)
	}
	return step, background
}

// runFor returns run if it judges key, or a new run that does (ending
// the old one's synthetic load).
//
// A run's window starts with the step, so that its end is the engine's
// end of the step, not one tick later. Its request and error counts are
// exact differences of the proxy's counters from the run's creation: the
// proxy's windows count whole one-second buckets, which may hold requests
// from before the step (another rollout's, on a retry), and the counts
// are what the error tests judge. Latencies come from the windows.
func (l *loop) runFor(ctx context.Context, run *analysisRun, key runKey, now time.Time, baseline string, withLoad bool, args map[string]string) *analysisRun {
	if run != nil && run.key == key {
		run.refresh(l)
		return run
	}
	run.end()
	args = maps.Clone(args)
	if args == nil {
		args = map[string]string{}
	}
	args["service"], args["canary"], args["baseline"] = l.svc.Spec.Name, l.r.To.Label, baseline
	tmpl, argErr := l.c.Templates[key.template].WithArgs(args)
	start := key.stepSince
	run = &analysisRun{key: key, tmpl: tmpl, start: start, next: start.Add(tmpl.Interval.D()),
		labels: [2]string{l.r.To.Label, baseline}}
	run.provCtx, run.provStop = context.WithCancel(ctx)
	if run.providers, run.err = l.providerMetrics(tmpl, start); argErr != nil {
		run.err = fmt.Errorf("analysis %s: %w", key.template, argErr)
	}
	for i, label := range run.labels {
		run.startCounts[i] = l.counts(ctx, label)
		// After a controller restart, count from the step's start when the
		// source kept counting meanwhile (a separate proxy, Prometheus).
		if base, ok := l.r.StepCounts[label]; ok && run.startCounts[i].Requests >= base.Requests &&
			run.startCounts[i].Errors >= base.Errors {
			run.startCounts[i] = base
		}
	}
	run.refresh(l)
	if tmpl.Load != nil && withLoad {
		run.startLoad(ctx, tmpl.Load)
	}
	_, measurable := l.svc.Platform.(platform.Resources)
	for _, m := range tmpl.Metrics {
		if m.Provider != nil {
			continue // measured by run.providers
		}
		j, err := analysis.Compile(spendAlpha(m.Analysis(), l.r.Params))
		if err != nil {
			run.err = fmt.Errorf("analysis %s: metric %s: %w", key.template, m.Name, err)
			break
		}
		if !measurable && readsResources(j.Fields()) {
			// Unmeasured use reads as 0, which would pass: leave it out.
			run.skipped = append(run.skipped, m.Name)
			continue
		}
		run.judges = append(run.judges, j)
	}
	if len(tmpl.Metrics) == 0 {
		run.err = fmt.Errorf("analysis template %q is not defined", key.template)
	}
	run.startUse = [2]*platform.Usage{l.usage(l.r.To.Label), l.usage(baseline)}
	return run
}

// spendAlpha gives a metric its share of the rollout's alpha: a
// sequential judge's alpha bounds the false rollbacks of the whole
// rollout, not of one run, so each run gets alpha divided by the runs the
// rollout may take (Bonferroni; see rolloutRuns). A run's evidence is not
// carried to the next step: the split changes, and with it what the
// counts mean.
func spendAlpha(m analysis.Metric, p engine.Params) analysis.Metric {
	if m.Judge == analysis.JudgeSequential {
		m.Alpha = analysis.SpendAlpha(m.Alpha, rolloutRuns(p))
	}
	return m
}

// rolloutRuns counts the analysis runs of a canary rollout: one per
// analysis step, and one per step for the background analysis, which
// starts again with each step. An inconclusive analysis run again (below
// inconclusiveLimit) is beyond the count.
func rolloutRuns(p engine.Params) int {
	n := 0
	for _, s := range p.Steps {
		if s.Kind == engine.StepAnalysis {
			n++
		}
	}
	if p.Background != nil {
		n += len(p.Steps)
	}
	return n
}

// refresh hands the synthetic load the sides' ready addresses; the
// generator reads them from its own goroutine.
func (run *analysisRun) refresh(l *loop) {
	for i, label := range run.labels {
		addrs := l.readyAddrs(label)
		run.addrs[i].Store(&addrs)
	}
}

// startLoad sends the template's synthetic load to both sides until the
// run ends.
func (run *analysisRun) startLoad(ctx context.Context, sl *spec.SyntheticLoad) {
	ctx, run.stop = context.WithCancel(ctx)
	run.load = &loadgen.Generator{RPS: sl.RPS, Path: sl.Path, Method: sl.Method, Headers: sl.Headers}
	var targets []loadgen.Target
	for i, label := range run.labels {
		targets = append(targets, loadgen.Target{Version: label, Addrs: func() []string { return *run.addrs[i].Load() }})
	}
	go run.load.Run(ctx, targets...)
}

// end stops the run's synthetic load; it returns nil for the caller to
// forget the run. A nil run ends nothing.
func (run *analysisRun) end() *analysisRun {
	if run != nil && run.stop != nil {
		run.stop()
	}
	if run != nil && run.provStop != nil {
		run.provStop()
	}
	return nil
}

// synthetic adds the run's synthetic measurements of a side to the
// proxy's.
func (run *analysisRun) synthetic(side int, s metrics.Sample, from, to time.Time) metrics.Sample {
	if run.load == nil {
		return s
	}
	return loadgen.Merge(s, run.load.Sample(run.labels[side], from, to))
}

// readsResources reports whether a condition reads cpu, memory or RSS.
func readsResources(fields []string) bool {
	for _, f := range fields {
		if strings.HasSuffix(f, ".cpu") || strings.HasSuffix(f, ".memory") || strings.HasSuffix(f, ".rssBytes") {
			return true
		}
	}
	return false
}

// tick evaluates the judges and takes a verdict when one is due.
func (run *analysisRun) tick(ctx context.Context, l *loop, now time.Time) *engine.AnalysisObs {
	final := run.duration > 0 && now.Sub(run.start) >= run.duration
	if len(run.tmpl.Queries) > 0 && now.Before(run.next) && !(final && !run.finalTaken) {
		// Queries are read only when a verdict is due: a metrics server is
		// not polled at every tick, and its scrapes are seconds apart anyway.
		obs := run.obs
		return &obs
	}
	results, err := l.evaluate(ctx, run, now)
	holdFixedHorizon(run.judges, results, final)
	if err != nil {
		results = []analysis.Result{{Metric: "measure", Verdict: analysis.Error, Reason: err.Error()}}
	}
	results, dry := run.dryRun(results)
	provided, provDry, exceeded := run.providerResults(l, now)
	results = append(results, provided...)
	agg := analysis.Aggregate(results)
	deciding := results
	results = append(slices.Clip(results), append(dry, provDry...)...)
	for _, name := range run.skipped { // a note in the reason, not a verdict
		results = append(results, analysis.Result{Metric: name, Verdict: analysis.Pass,
			Reason: name + ": left out: the platform cannot read resource use"})
	}
	run.latest = results
	switch {
	case final && !run.finalTaken:
		// The step ends now: its verdict is taken on all its data, in the
		// tick the engine ends it.
		run.record(agg, results)
		run.finalTaken = true
	case !now.Before(run.next):
		for !now.Before(run.next) {
			run.next = run.next.Add(run.tmpl.Interval.D())
		}
		if !run.judgedFail {
			run.record(agg, results)
		}
		run.judgedFail = false
	case !run.judgedFail && (sequentialFail(run.judges, deciding) || exceeded == analysis.Fail):
		run.record(analysis.Fail, results)
		run.judgedFail = true
	case exceeded == analysis.Error:
		run.record(analysis.Error, results)
	}
	run.overLimit(exceeded)
	obs := run.obs
	return &obs
}

// dryRun sets apart the results of the template's dry-run metrics:
// shown, never deciding.
func (run *analysisRun) dryRun(results []analysis.Result) (deciding, dry []analysis.Result) {
	for _, r := range results {
		if run.tmpl.IsDryRun(r.Metric) {
			r.Reason = "dry run: " + r.Reason
			dry = append(dry, r)
		} else {
			deciding = append(deciding, r)
		}
	}
	return deciding, dry
}

// overLimit carries a provider metric past its own failure or error limit
// to the engine, which applies the template's: the run's count is set
// past the template's limit, so the rollback is at once.
func (run *analysisRun) overLimit(exceeded analysis.Verdict) {
	o := &run.obs
	switch exceeded {
	case analysis.Fail:
		o.Failures = max(o.Failures, run.tmpl.FailureLimit+1)
	case analysis.Error:
		o.ConsecutiveErrors = max(o.ConsecutiveErrors, run.tmpl.ConsecutiveErrorLimit+1)
	}
}

// holdFixedHorizon turns a Mann-Whitney Fail into Inconclusive until the
// analysis' final verdict: a fixed-horizon test checked at every interval
// would fail healthy canaries far more often than its confidence says
// (bench/judges). In a background or until-Pass analysis it never fails.
func holdFixedHorizon(judges []*analysis.Judge, results []analysis.Result, final bool) {
	for i := range results {
		if final || i >= len(judges) || results[i].Verdict != analysis.Fail || judges[i].Metric().Judge != analysis.JudgeMannWhitney {
			continue
		}
		results[i].Verdict = analysis.Inconclusive
		results[i].Reason += " (a fixed-horizon test: its Fail counts at the end of the analysis)"
	}
}

// sequentialFail reports a Fail from an anytime-valid judge, which may be
// taken as soon as it appears.
func sequentialFail(judges []*analysis.Judge, results []analysis.Result) bool {
	for _, r := range results {
		if r.Verdict != analysis.Fail {
			continue
		}
		for _, j := range judges {
			if j.Metric().Name == r.Metric && j.AnytimeValid() {
				return true
			}
		}
	}
	return false
}

// record takes a verdict.
func (run *analysisRun) record(v analysis.Verdict, results []analysis.Result) {
	o := &run.obs
	o.Intervals++
	o.Verdict = string(v)
	switch v {
	case analysis.Fail:
		o.Failures++
		o.ConsecutiveErrors = 0
	case analysis.Error:
		o.ConsecutiveErrors++
	default:
		o.ConsecutiveErrors = 0
	}
	o.Reason, o.Numbers = explain(results)
}

// explain joins the results' reasons, the deciding ones first, and their
// numbers under each metric's name.
func explain(results []analysis.Result) (string, map[string]float64) {
	sorted := slices.Clone(results)
	slices.SortStableFunc(sorted, func(a, b analysis.Result) int { return rank(a) - rank(b) })
	var reasons []string
	nums := map[string]float64{}
	for _, r := range sorted {
		reasons = append(reasons, r.Reason)
		for k, v := range r.Numbers {
			nums[r.Metric+"."+k] = v
		}
	}
	return strings.Join(reasons, "; "), nums
}

// rank orders results for a reason: by severity, dry-run ones last.
func rank(r analysis.Result) int {
	if strings.HasPrefix(r.Reason, "dry run: ") {
		return 4
	}
	return severity(r.Verdict)
}

// severity orders verdicts as they decide: Fail, Error, Inconclusive, Pass.
func severity(v analysis.Verdict) int {
	switch v {
	case analysis.Fail:
		return 0
	case analysis.Error:
		return 1
	case analysis.Inconclusive:
		return 2
	}
	return 3
}

// evaluate measures both sides since the run began and runs the judges.
func (l *loop) evaluate(ctx context.Context, run *analysisRun, now time.Time) ([]analysis.Result, error) {
	if run.err != nil {
		return nil, run.err
	}
	in := analysis.Input{MinRequests: int64(run.tmpl.MinRequests)}
	if len(run.tmpl.Queries) > 0 {
		if err := l.query(ctx, run, &in, now); err != nil {
			return nil, err
		}
		return run.judge(in), nil
	}
	w, ok := l.c.Metrics.(metrics.Windowed)
	if !ok {
		return nil, fmt.Errorf("the metrics source cannot measure a window")
	}
	var err error
	for i, s := range []*metrics.Sample{&in.Canary, &in.Baseline} {
		label := run.labels[i]
		if *s, err = w.Window(ctx, l.svc.Spec.Name, label, run.start, now); err != nil {
			return nil, fmt.Errorf("measuring %s: %w", label, err)
		}
		c := l.counts(ctx, label).Sub(run.startCounts[i])
		s.Requests, s.Errors = c.Requests, c.Errors
		*s = run.synthetic(i, *s, run.start, now)
	}
	in.CanaryRes = l.resources(run.startUse[0], run.labels[0])
	in.BaselineRes = l.resources(run.startUse[1], run.labels[1])
	in.ErrorsAre = errorsAre(l.svc.Spec)
	in.Before = l.before(run)
	return run.judge(in), nil
}

// stepArgs are the args the spec's analysis step gives its template.
func (l *loop) stepArgs(step int) map[string]string {
	steps := l.svc.Spec.Canary.Steps
	if step < len(steps) && steps[step].Analysis != nil {
		return steps[step].Analysis.Args
	}
	return nil
}

// errorsAre names what the proxy counts as errors of a gRPC service's
// version, for the analysis' reasons; "" for other services.
func errorsAre(s spec.Service) string {
	if s.Protocol != spec.ProtocolGRPC {
		return ""
	}
	list := s.GRPCErrorCodes()
	if list == nil {
		list = router.DefaultGRPCErrorCodes
	}
	names := make([]string, len(list))
	for i, c := range list {
		names[i] = router.GRPCCodeName(uint64(c))
	}
	return "failed gRPC calls (grpc-status " + strings.Join(names, ", ") + "; 5xx; unreachable)"
}

// before is the run's baseline as measured in the earlier steps, while
// the canary has all the traffic and the baseline none; zero while the
// baseline has a share, so that it is compared with side by side.
func (l *loop) before(run *analysisRun) metrics.Counts {
	base := run.labels[1]
	if l.r.Weights[base] > 0 || l.r.Weights[run.labels[0]] == 0 {
		return metrics.Counts{}
	}
	return l.r.Before[base]
}

// beforeSwitch is what a blue-green watch judges the new version
// against: the old version's counters as it hands over all the traffic
// (since the metrics source began counting it), nil if it counted none.
func (l *loop) beforeSwitch(ctx context.Context) map[string]metrics.Counts {
	c := l.counts(ctx, l.r.From.Label)
	if c.Requests == 0 {
		return nil
	}
	return map[string]metrics.Counts{l.r.From.Label: c}
}

// addBefore returns r.Before with, for each measured version other than
// the new one that had a share of traffic in the step that ends, its
// requests and errors over that step: from r.StepCounts to now, the
// counters read as the next step begins. A counter that went back (a
// restarted source) adds nothing.
func addBefore(r engine.Rollout, now map[string]metrics.Counts) map[string]metrics.Counts {
	out := maps.Clone(r.Before)
	for label, start := range r.StepCounts {
		end, ok := now[label]
		if label == r.To.Label || r.Weights[label] == 0 || !ok || end.Requests < start.Requests || end.Errors < start.Errors {
			continue
		}
		if out == nil {
			out = map[string]metrics.Counts{}
		}
		b := out[label]
		b.Requests += end.Requests - start.Requests
		b.Errors += end.Errors - start.Errors
		out[label] = b
	}
	return out
}

// judge runs every judge of the run on in.
func (run *analysisRun) judge(in analysis.Input) []analysis.Result {
	results := make([]analysis.Result, 0, len(run.judges))
	for _, j := range run.judges {
		results = append(results, j.Evaluate(in))
	}
	return results
}

// query measures both sides with the template's queries. Missing data is
// an error — never a pass — unless the canary is still below
// minRequests, where the judges say Inconclusive on their own.
func (l *loop) query(ctx context.Context, run *analysisRun, in *analysis.Input, now time.Time) error {
	if l.c.Queries == nil {
		return fmt.Errorf("template %s has queries but no Prometheus is configured", run.key.template)
	}
	for i, s := range []*metrics.Sample{&in.Canary, &in.Baseline} {
		label := run.labels[i]
		var err error
		*s, err = l.c.Queries.Query(ctx, run.tmpl.Queries, l.svc.Spec.Name, label, run.start, now)
		var nd *metrics.NoDataError
		if errors.As(err, &nd) && in.Canary.Requests < in.MinRequests {
			continue
		}
		if err != nil {
			return fmt.Errorf("measuring %s: %w", label, err)
		}
	}
	in.CanaryRes = l.resources(run.startUse[0], run.labels[0])
	in.BaselineRes = l.resources(run.startUse[1], run.labels[1])
	in.Before = l.before(run)
	return nil
}

// baseline is the version the canary is compared with: its dedicated
// baseline, or the old version.
func (l *loop) baseline() string {
	if b := l.r.BaselineLabel(); b != "" {
		return b
	}
	return l.r.From.Label
}

// usage reads a version's resource use, nil if the platform cannot.
func (l *loop) usage(label string) *platform.Usage {
	rp, ok := l.svc.Platform.(platform.Resources)
	if !ok || label == "" {
		return nil
	}
	u, err := rp.Usage(l.svc.Spec.Name, label)
	if err != nil {
		return nil
	}
	return &u
}

// resources turns two usage readings into shares of a core and of memory.
func (l *loop) resources(start *platform.Usage, label string) analysis.Resources {
	now := l.usage(label)
	if start == nil || now == nil || now.Instances == 0 {
		return analysis.Resources{}
	}
	var res analysis.Resources
	if dt := now.At.Sub(start.At).Seconds(); dt > 0 && now.CPUSeconds >= start.CPUSeconds {
		res.CPU = (now.CPUSeconds - start.CPUSeconds) / dt / float64(now.Instances)
	}
	res.RSSBytes = float64(now.RSSBytes) / float64(now.Instances)
	if l.c.HostMemory > 0 {
		res.Memory = res.RSSBytes / float64(l.c.HostMemory)
	}
	return res
}
