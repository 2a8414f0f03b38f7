package spec_test

import (
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func TestCanaryConfig(t *testing.T) {
	cfg, err := spec.Load("testdata/valid/canary.yaml")
	if err != nil {
		t.Fatal(err)
	}
	web, _ := cfg.Service("web")
	if n := len(web.Canary.Steps); n != 5 || *web.Canary.Steps[0].SetWeight != 5 ||
		web.Canary.Steps[1].Analysis.Template != "errors" || web.Canary.Steps[3].Pause.Duration.D() != 5*time.Second {
		t.Fatalf("web steps = %+v", web.Canary.Steps)
	}
	errs := cfg.Analysis["errors"]
	if errs.Interval.D() != time.Second || errs.MinRequests != 50 || errs.OnInconclusive != "pause" ||
		errs.ConsecutiveErrorLimit != 4 || *errs.Metrics[0].Alpha != 0.01 || errs.Metrics[0].On != spec.OnErrorRate {
		t.Fatalf("errors template defaults = %+v", errs)
	}
	// api has no steps: the default 1, 5, 10, 25, 50 with analysis, then 100.
	api, _ := cfg.Service("api")
	var weights []int
	analyses := 0
	for _, s := range api.Canary.Steps {
		switch {
		case s.SetWeight != nil:
			weights = append(weights, *s.SetWeight)
		case s.Analysis != nil && s.Analysis.Template == spec.DefaultTemplate && s.Analysis.Duration.D() == time.Minute:
			analyses++
		}
	}
	if len(weights) != 6 || weights[0] != 1 || weights[5] != 100 || analyses != 5 {
		t.Fatalf("default steps: weights %v, %d analyses", weights, analyses)
	}
	if d, ok := cfg.Analysis[spec.DefaultTemplate]; !ok || d.MinRequests != 100 || len(d.Metrics) != 5 {
		t.Fatalf("default template = %+v", d)
	}
}
