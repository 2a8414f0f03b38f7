package spec_test

import (
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestExampleAnalysisConfig: examples/analysis.yaml (README's provider,
// args and dry-run examples) stays valid, with its args substituted per
// step.
func TestExampleAnalysisConfig(t *testing.T) {
	cfg, err := spec.Load("../../examples/analysis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	api, _ := cfg.Service("api")
	checks := cfg.Analysis["checks"]
	if !checks.IsDryRun("p99-budget") || checks.IsDryRun("score") {
		t.Errorf("dryRun %+v, want p99-budget only", checks.DryRun)
	}
	step, err := checks.WithArgs(api.Canary.Steps[1].Analysis.Args)
	if err != nil {
		t.Fatal(err)
	}
	score := step.Metrics[0]
	if score.SuccessCondition != "result <= 0.02" || score.Provider.Web.URL != "http://127.0.0.1:9100/score" ||
		score.Provider.Web.Method != "GET" || score.ConsecutiveErrorLimit != 2 || score.InitialDelay.D() != time.Second {
		t.Errorf("step 1's score metric %+v %+v", score, score.Provider.Web)
	}
	if later, _ := checks.WithArgs(api.Canary.Steps[3].Analysis.Args); later.Metrics[0].FailureCondition != "result > 0.05 * 2" {
		t.Errorf("step 3's failureCondition %q, want the template's max", later.Metrics[0].FailureCondition)
	}
	if job := step.Metrics[1].Provider.Job; job.Env["TARGET"] != "http://127.0.0.1:9100/score" || job.Timeout.D() != 30*time.Second {
		t.Errorf("job %+v", job)
	}
	if p := cfg.Analysis["prom-checks"].Metrics[0]; p.Provider.Prometheus == nil || p.ConsecutiveErrorLimit != 4 {
		t.Errorf("prom-checks %+v, want a prometheus metric with consecutiveErrorLimit 4 (default)", p)
	}
}
