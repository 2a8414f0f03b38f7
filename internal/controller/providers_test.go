package controller_test

import (
	"context"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// scoreServer is a real HTTP JSON endpoint answering {"data": {"value": V}}.
func scoreServer(t *testing.T, v float64) (*httptest.Server, *atomic.Value) {
	var val atomic.Value
	val.Store(v)
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("X-Token") != "t0ken" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		fmt.Fprintf(w, `{"data": {"value": %v}}`, val.Load())
	}))
	t.Cleanup(s.Close)
	return s, &val
}

// providerService is a canary at 20%, an analysis step of template "p"
// with args (until it passes), then 100%. The background analysis runs a
// template of its own that always passes quickly.
func providerService(v1 *backend, args map[string]string, metrics []spec.AnalysisMetric, dryRun ...string) (spec.Service, map[string]spec.AnalysisTemplate) {
	svc := service(v1, func(s *spec.Service) {
		s.Strategy = spec.StrategyCanary
		s.Canary = spec.Canary{Analysis: "bg", Steps: []spec.CanaryStep{
			{SetWeight: new(20)},
			{Analysis: &spec.StepAnalysis{Template: "p", Args: args}},
			{SetWeight: new(100)},
		}}
	})
	p := spec.AnalysisTemplate{Interval: spec.Duration(100 * time.Millisecond), Metrics: metrics,
		Args: []spec.TemplateArg{{Name: "url"}, {Name: "max", Value: new("0.1")}}}
	for _, name := range dryRun {
		p.DryRun = append(p.DryRun, spec.DryRunMetric{MetricName: name})
	}
	cfg := &spec.Config{Analysis: map[string]spec.AnalysisTemplate{"p": p, "bg": {
		Interval: spec.Duration(100 * time.Millisecond),
		Metrics:  []spec.AnalysisMetric{{Name: "up", Provider: &spec.MetricProvider{Job: &spec.JobMetric{Command: []string{"true"}}}}},
	}}}
	cfg.ApplyDefaults()
	return svc, cfg.Analysis
}

func webMetric() spec.AnalysisMetric {
	return spec.AnalysisMetric{Name: "score", Provider: &spec.MetricProvider{Web: &spec.WebMetric{
		URL: "{{args.url}}/score", Headers: map[string]string{"X-Token": "t0ken"}, JSONPath: "$.data.value"}},
		SuccessCondition: "result <= {{args.max}}", FailureCondition: "result > {{args.max}}", Count: 3,
		Interval: spec.Duration(50 * time.Millisecond)}
}

func jobMetric(name, script string) spec.AnalysisMetric {
	return spec.AnalysisMetric{Name: name, Provider: &spec.MetricProvider{Job: &spec.JobMetric{
		Command: []string{"sh", "-c", script}, Env: map[string]string{"PAGES": "3"}}}, Count: 2}
}

func runProviders(t *testing.T, args map[string]string, want engine.Phase, metrics []spec.AnalysisMetric, dryRun ...string) (engine.Rollout, []string) {
	t.Helper()
	v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
	svc, templates := providerService(v1, args, metrics, dryRun...)
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), svc, templates)
	r.waitPhase(1, engine.PhaseCompleted)
	ro := r.waitPhase(r.deploy(v2).ID, want)
	evs, _ := r.ctrl.Events(context.Background(), "web", 0)
	var reasons []string
	for _, e := range evs {
		if e.RolloutID == ro.ID {
			reasons = append(reasons, e.Reason)
		}
	}
	return ro, reasons
}

func TestWebMetricPassingPromotes(t *testing.T) {
	score, _ := scoreServer(t, 0.02)
	_, reasons := runProviders(t, map[string]string{"url": score.URL}, engine.PhaseCompleted, []spec.AnalysisMetric{webMetric()})
	if !strings.Contains(strings.Join(reasons, "\n"), "score: result 0.02: result <= 0.1 holds") {
		t.Fatalf("want the web metric's result in the decision log, got %q", reasons)
	}
}

func TestWebMetricFailingRollsBack(t *testing.T) {
	score, _ := scoreServer(t, 0.5)
	// The step's arg max overrides the template's 0.1 value.
	ro, _ := runProviders(t, map[string]string{"url": score.URL, "max": "0.3"}, engine.PhaseRolledBack, []spec.AnalysisMetric{webMetric()})
	if !strings.Contains(ro.Reason, "score: result 0.5: result > 0.3 holds") {
		t.Fatalf("reason %q: want the web metric's failure with the step's arg", ro.Reason)
	}
}

func TestWebMetricUnreachableRollsBackPastErrorLimit(t *testing.T) {
	score, _ := scoreServer(t, 0)
	score.Close()
	m := webMetric()
	m.ConsecutiveErrorLimit = 1
	ro, _ := runProviders(t, map[string]string{"url": score.URL}, engine.PhaseRolledBack, []spec.AnalysisMetric{m})
	if !strings.Contains(ro.Reason, "could not measure") || !strings.Contains(ro.Reason, "2 errors in a row (limit 1)") {
		t.Fatalf("reason %q: want the metric's error limit", ro.Reason)
	}
}

func TestJobMetricPassingPromotes(t *testing.T) {
	_, reasons := runProviders(t, nil, engine.PhaseCompleted, []spec.AnalysisMetric{jobMetric("smoke", `echo "checked $PAGES pages"`)}, "")
	if !strings.Contains(strings.Join(reasons, "\n"), "smoke: job exited 0: checked 3 pages") {
		t.Fatalf("want the job's output in the decision log, got %q", reasons)
	}
}

func TestJobMetricFailingRollsBack(t *testing.T) {
	ro, _ := runProviders(t, nil, engine.PhaseRolledBack, []spec.AnalysisMetric{jobMetric("smoke", `echo "page 2 is blank" >&2; exit 3`)})
	if !strings.Contains(ro.Reason, "smoke: job sh: exit status 3: page 2 is blank") {
		t.Fatalf("reason %q: want the job's exit status and output", ro.Reason)
	}
}

func TestDryRunMetricNeverDecides(t *testing.T) {
	score, _ := scoreServer(t, 0.02)
	failing := jobMetric("flaky", `echo "would roll back"; exit 1`)
	_, reasons := runProviders(t, map[string]string{"url": score.URL}, engine.PhaseCompleted,
		[]spec.AnalysisMetric{webMetric(), failing}, "flaky")
	if !strings.Contains(strings.Join(reasons, "\n"), "dry run: flaky: job sh: exit status 1: would roll back") {
		t.Fatalf("want the dry-run metric measured and shown, got %q", reasons)
	}
}

// TestExampleAnalysisRuns runs README's examples/analysis.yaml as written
// (its templates, its steps and their args), with only the score
// endpoint's address given as the score-url arg: a healthy score
// promotes though the dry-run p99 budget fails, a bad one rolls back at
// the first analysis step.
func TestExampleAnalysisRuns(t *testing.T) {
	for _, tc := range []struct {
		name  string
		value float64
		want  engine.Phase
	}{{"healthy", 0.01, engine.PhaseCompleted}, {"failing", 0.5, engine.PhaseRolledBack}} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := spec.Load("../../examples/analysis.yaml")
			if err != nil {
				t.Fatal(err)
			}
			var val atomic.Value
			val.Store(tc.value)
			score := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"data": {"value": %v, "p99": 400}}`, val.Load())
			}))
			defer score.Close()
			example, _ := cfg.Service("api")
			v1, v2 := newBackend(t, "v1"), newBackend(t, "v2")
			svc := service(v1, func(s *spec.Service) {
				s.Strategy, s.Canary = spec.StrategyCanary, example.Canary
				s.Canary.Steps = slices.Clone(s.Canary.Steps)
				for i, st := range s.Canary.Steps {
					if st.Analysis != nil {
						a := *st.Analysis
						a.Args = maps.Clone(a.Args)
						if a.Args == nil {
							a.Args = map[string]string{}
						}
						a.Args["score-url"] = score.URL + "/score"
						s.Canary.Steps[i].Analysis = &a
					}
				}
			})
			r := newRig(t, filepath.Join(t.TempDir(), "b.db"), svc, cfg.Analysis)
			r.waitPhase(1, engine.PhaseCompleted)
			id := r.deploy(v2).ID
			var ro engine.Rollout
			deadline := time.Now().Add(60 * time.Second)
			for time.Now().Before(deadline) {
				st, _ := r.ctrl.Status("web")
				if ro = st.Rollout; ro.ID == id && ro.Phase.Terminal() {
					break
				}
				time.Sleep(20 * time.Millisecond) // polling interval
			}
			if ro.Phase != tc.want {
				t.Fatalf("phase %s (%s), want %s", ro.Phase, ro.Reason, tc.want)
			}
			evs, _ := r.ctrl.Events(context.Background(), "web", 0)
			var log strings.Builder
			for _, e := range evs {
				if e.RolloutID == id {
					log.WriteString(e.Reason + "\n")
				}
			}
			for _, want := range map[engine.Phase][]string{
				engine.PhaseCompleted:  {"dry run: p99-budget: result 400: result >= 250 holds", "smoke: job exited 0: smoke against http", "result <= 0.02 holds", "result <= 0.05 holds"},
				engine.PhaseRolledBack: {"score: result 0.5: result > 0.02 * 2 holds"},
			}[tc.want] {
				if !strings.Contains(log.String(), want) {
					t.Errorf("decision log lacks %q:\n%s", want, log.String())
				}
			}
		})
	}
}

// TestWebMetricErrorsDoNotCompleteItsCount: a measurement that could not
// be made is tried again and does not count toward count: three 503s
// then healthy answers pass on three results, not on the errors.
func TestWebMetricErrorsDoNotCompleteItsCount(t *testing.T) {
	var calls atomic.Int64
	score := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if calls.Add(1) <= 3 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprint(w, `{"data": {"value": 0.02}}`)
	}))
	defer score.Close()
	m := webMetric()
	m.Provider.Web.Headers = nil
	_, reasons := runProviders(t, map[string]string{"url": score.URL}, engine.PhaseCompleted, []spec.AnalysisMetric{m})
	var passed string
	for _, r := range reasons {
		if strings.Contains(r, "analysis p passed") {
			passed = r
		}
	}
	if !strings.Contains(passed, "score: result 0.02: result <= 0.1 holds (all measurements within the limits [3 measured") || calls.Load() < 6 {
		t.Fatalf("passed on %q after %d calls, want 3 judged results after the 3 errors", passed, calls.Load())
	}
}
