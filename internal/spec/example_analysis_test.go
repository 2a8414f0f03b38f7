package spec_test

import (
	"os"
	"strings"
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
	if job := step.Metrics[1].Provider.Job; job.Env["TARGET"] != "http://127.0.0.1:9100/score" || job.Timeout.D() != time.Minute {
		t.Errorf("job %+v", job)
	}
	if p := cfg.Analysis["prom-checks"].Metrics[0]; p.Provider.Prometheus == nil || p.ConsecutiveErrorLimit != 4 {
		t.Errorf("prom-checks %+v, want a prometheus metric with consecutiveErrorLimit 4 (default)", p)
	}
}

// TestREADMEAnalysisExamples: every YAML block of README's "Providers,
// conditions, args and dry-run" section is in examples/analysis.yaml,
// line by line in order (comments and indentation aside), so what the
// README shows is what TestExampleAnalysisRuns runs.
func TestREADMEAnalysisExamples(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	example, err := os.ReadFile("../../examples/analysis.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "### Providers, conditions, args and dry-run")
	section, _, _ = strings.Cut(section, "\n## ")
	if !ok {
		t.Fatal("README has no Providers, conditions, args and dry-run section")
	}
	var have []string
	for _, l := range strings.Split(string(example), "\n") {
		have = append(have, bare(l))
	}
	blocks := strings.Split(section, "```yaml\n")[1:]
	if len(blocks) < 2 {
		t.Fatalf("%d YAML blocks in the section, want 2", len(blocks))
	}
	for _, b := range blocks {
		b, _, _ = strings.Cut(b, "```")
		i := 0
		for _, l := range strings.Split(b, "\n") {
			if bare(l) == "" {
				continue
			}
			for i < len(have) && have[i] != bare(l) {
				i++
			}
			if i == len(have) {
				t.Errorf("README line %q is not in examples/analysis.yaml (in order)", l)
				break
			}
		}
	}
}

// bare is a YAML line without its comment and indentation.
func bare(l string) string {
	if i := strings.Index(l, " #"); i >= 0 && !strings.Contains(l[:i], "'") {
		l = l[:i]
	}
	return strings.TrimSpace(l)
}
