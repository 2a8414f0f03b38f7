package controller

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/metrics/job"
	"github.com/bluejay-deploy/bluejay/internal/metrics/web"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// providerMetric is a provider metric of a run (web, job, prometheus):
// it measures on its own schedule, off the loop's goroutine (a job may
// run for a minute), and counts its measurements against its own limits,
// as Argo Rollouts' metrics do.
type providerMetric struct {
	m       spec.AnalysisMetric
	dryRun  bool
	judge   *analysis.ResultJudge // nil for a job: its exit status is its verdict
	measure func(ctx context.Context) analysis.Result
	next    time.Time // the next measurement is due

	mu      sync.Mutex // guards what the measuring goroutine writes
	pending bool
	done    []analysis.Result // measured, not yet counted

	// taken counts judged measurements (an Error is measured again and
	// does not count toward Count); errors are the Errors in a row.
	taken, failures, inconclusives, errors int
	latest                                 analysis.Result
}

// providerMetrics builds the run's provider metrics from the template
// (with its args substituted).
func (l *loop) providerMetrics(tmpl spec.AnalysisTemplate, start time.Time) ([]*providerMetric, error) {
	var out []*providerMetric
	for _, m := range tmpl.Metrics {
		if m.Provider == nil {
			continue
		}
		if m.Interval <= 0 {
			m.Interval = tmpl.Interval
		}
		pm := &providerMetric{m: m, dryRun: tmpl.IsDryRun(m.Name), next: start.Add(m.InitialDelay.D())}
		if m.Provider.Job == nil {
			j, err := analysis.CompileResult(m.Name, m.SuccessCondition, m.FailureCondition)
			if err != nil {
				return nil, err
			}
			pm.judge = j
		}
		measure, err := l.measurer(pm)
		if err != nil {
			return nil, fmt.Errorf("metric %s: %w", m.Name, err)
		}
		pm.measure = measure
		out = append(out, pm)
	}
	return out, nil
}

// measurer returns the function that takes one measurement of pm.
func (l *loop) measurer(pm *providerMetric) (func(context.Context) analysis.Result, error) {
	p, name := pm.m.Provider, pm.m.Name
	fromValue := func(v any, err error) analysis.Result {
		if err != nil {
			return analysis.Result{Metric: name, Verdict: analysis.Error, Reason: name + ": " + err.Error()}
		}
		return pm.judge.Evaluate(v)
	}
	switch {
	case p.Web != nil:
		w := p.Web
		wp, err := web.New(web.Provider{URL: w.URL, Method: w.Method, Headers: w.Headers, Body: w.Body,
			Timeout: w.Timeout.D(), Client: l.c.client()}, w.JSONPath)
		if err != nil {
			return nil, err
		}
		return func(ctx context.Context) analysis.Result { return fromValue(wp.Measure(ctx)) }, nil
	case p.Job != nil:
		jp := &job.Provider{Command: p.Job.Command, Env: p.Job.Env, Timeout: p.Job.Timeout.D()}
		return func(ctx context.Context) analysis.Result {
			o, err := jp.Run(ctx)
			return jobResult(name, o, err)
		}, nil
	case p.Prometheus != nil:
		q, ok := l.c.Queries.(metrics.Scalar)
		if !ok {
			return nil, fmt.Errorf("provider prometheus needs a Prometheus (the prometheus: block)")
		}
		query, now := p.Prometheus.Query, l.c.now
		return func(ctx context.Context) analysis.Result { return fromValue(q.Scalar(ctx, query, now())) }, nil
	}
	return nil, fmt.Errorf("no provider")
}

// jobResult judges a job's run by its exit status, with its output.
func jobResult(name string, o job.Outcome, err error) analysis.Result {
	r := analysis.Result{Metric: name, Verdict: analysis.Pass, Numbers: map[string]float64{"exitCode": float64(o.ExitCode)}}
	r.Reason = name + ": job exited 0"
	if err != nil {
		r.Verdict, r.Reason = analysis.Fail, name+": "+err.Error()
	}
	if o.Output != "" {
		r.Reason += ": " + o.Output
	}
	return r
}

// start begins a measurement when one is due and none is under way.
func (pm *providerMetric) start(ctx context.Context, l *loop, now time.Time) {
	if now.Before(pm.next) || pm.m.Count > 0 && pm.taken >= pm.m.Count {
		return
	}
	pm.mu.Lock()
	defer pm.mu.Unlock()
	if pm.pending || pm.m.Count > 0 && pm.taken >= pm.m.Count {
		return
	}
	pm.pending = true
	pm.next = now.Add(pm.m.Interval.D())
	l.c.spawn(func() {
		r := pm.measure(ctx)
		pm.mu.Lock()
		pm.done, pm.pending = append(pm.done, r), false
		pm.mu.Unlock()
		select { // judge it now, not at the next tick
		case l.wake <- struct{}{}:
		default:
		}
	})
}

// count folds the finished measurements into the counts and returns the
// metric's verdict so far, and whether it is past a limit (a rollback).
func (pm *providerMetric) count() (r analysis.Result, exceeded bool) {
	pm.mu.Lock()
	done := pm.done
	pm.done = nil
	pm.mu.Unlock()
	for _, d := range done {
		pm.latest = d
		if d.Verdict != analysis.Error {
			pm.taken++
		}
		switch d.Verdict {
		case analysis.Fail:
			pm.failures++
		case analysis.Inconclusive:
			pm.inconclusives++
		}
		if d.Verdict == analysis.Error {
			pm.errors++
		} else {
			pm.errors = 0
		}
	}
	return pm.verdict()
}

func (pm *providerMetric) verdict() (analysis.Result, bool) {
	m := pm.m
	r := pm.latest
	r.Metric = m.Name
	counts := fmt.Sprintf(" [%d measured: %d failed (limit %d), %d inconclusive (limit %d), %d errors in a row (limit %d)]",
		pm.taken, pm.failures, m.FailureLimit, pm.inconclusives, m.InconclusiveLimit, pm.errors, m.ConsecutiveErrorLimit)
	switch {
	case pm.failures > m.FailureLimit:
		r.Verdict = analysis.Fail
		return withReason(r, "failed"+counts), true
	case pm.errors > m.ConsecutiveErrorLimit:
		r.Verdict = analysis.Error
		return withReason(r, "could not measure"+counts), true
	case pm.taken == 0 && r.Verdict == "":
		return analysis.Result{Metric: m.Name, Verdict: analysis.Inconclusive, Reason: m.Name + ": measuring"}, false
	case pm.inconclusives > m.InconclusiveLimit:
		r.Verdict = analysis.Inconclusive
		return withReason(r, "inconclusive"+counts), false
	case m.Count > 0 && pm.taken < m.Count:
		r.Verdict = analysis.Inconclusive
		return withReason(r, fmt.Sprintf("%d of %d measurements", pm.taken, m.Count)+counts), false
	case m.Count > 0:
		r.Verdict = analysis.Pass
		return withReason(r, "all measurements within the limits"+counts), false
	case r.Verdict != analysis.Pass:
		r.Verdict = analysis.Inconclusive // within the limits, but the latest did not pass (or measure)
	}
	return withReason(r, "latest"+counts), false
}

func withReason(r analysis.Result, why string) analysis.Result {
	r.Reason = fmt.Sprintf("%s (%s)", r.Reason, why)
	return r
}

// providerResults measures the run's provider metrics and returns their
// verdicts, the dry-run ones apart; exceeded is a deciding metric past
// its failure or error limit.
func (run *analysisRun) providerResults(l *loop, now time.Time) (results, dry []analysis.Result, exceeded analysis.Verdict) {
	for _, pm := range run.providers {
		// Count what finished before starting the next: started first, a
		// measurement that finished since the last step (taken one short
		// of count) let one more start, and the metric took count+1
		// (TestWebMetricErrorsDoNotCompleteItsCount, under load).
		r, over := pm.count()
		pm.start(run.provCtx, l, now)
		if pm.dryRun {
			r.Reason = "dry run: " + r.Reason
			dry = append(dry, r)
			continue
		}
		if over && severity(r.Verdict) < severity(exceeded) {
			exceeded = r.Verdict
		}
		results = append(results, r)
	}
	return results, dry, exceeded
}
