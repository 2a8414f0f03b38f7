package prometheus_test

import (
	"context"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
	"github.com/bluejay-deploy/bluejay/internal/metrics/prometheus"
)

// TestScalarQueriesFeedResultConditions runs provider.prometheus queries
// against a real Prometheus: a single series is the result; many series
// or none is an error, never a pass; NaN is Inconclusive.
func TestScalarQueriesFeedResultConditions(t *testing.T) {
	url := startPrometheus(t, map[string]string{app(t, 10, 0): "v1", app(t, 5, 5): "v2"})
	src, err := prometheus.New(url, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	judge, err := analysis.CompileResult("error-share", "result < 0.1", "result >= 0.1")
	if err != nil {
		t.Fatal(err)
	}
	share := func(v string) string {
		return `sum(increase(http_requests_total{version="` + v + `",code="500"}[5s]) or vector(0)) / sum(increase(http_requests_total{version="` + v + `"}[5s]))`
	}
	var v1, v2 float64
	waitFor(t, "both versions to have a rate", func() bool {
		v1, err = src.Scalar(ctx, share("v1"), time.Now())
		if err != nil {
			return false
		}
		v2, err = src.Scalar(ctx, share("v2"), time.Now())
		return err == nil && v2 > 0
	})
	if r := judge.Evaluate(v1); r.Verdict != analysis.Pass {
		t.Errorf("v1 share %v: %s (%s), want Pass", v1, r.Verdict, r.Reason)
	}
	if r := judge.Evaluate(v2); r.Verdict != analysis.Fail || math.Abs(v2-0.5) > 0.1 {
		t.Errorf("v2 share %v: %s (%s), want Fail near 0.5", v2, r.Verdict, r.Reason)
	}
	if _, err := src.Scalar(ctx, `http_requests_total`, time.Now()); err == nil || !strings.Contains(err.Error(), "series, want one") {
		t.Errorf("many series: err %v, want an error", err)
	}
	if _, err := src.Scalar(ctx, `http_requests_total{version="v9"}`, time.Now()); err == nil || !strings.Contains(err.Error(), "0 series") {
		t.Errorf("no series: err %v, want an error", err)
	}
	nan, err := src.Scalar(ctx, `scalar(vector(0) / vector(0))`, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if r := judge.Evaluate(nan); r.Verdict != analysis.Inconclusive {
		t.Errorf("NaN: %s (%s), want Inconclusive", r.Verdict, r.Reason)
	}
	if _, err := src.Scalar(ctx, `sum(`, time.Now()); err == nil {
		t.Error("a bad query: no error")
	}
}
