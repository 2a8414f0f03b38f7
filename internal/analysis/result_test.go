package analysis_test

import (
	"math"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/analysis"
)

func TestResultConditions(t *testing.T) {
	both, err := analysis.CompileResult("m", "result < 0.1", "result > 0.05")
	if err != nil {
		t.Fatal(err)
	}
	onlySuccess, _ := analysis.CompileResult("m", "result < 0.1", "")
	text, _ := analysis.CompileResult("m", `result == "ok"`, `result in ["down", "error"]`)
	obj, _ := analysis.CompileResult("m", "result.ready && result.score > 3", "")
	for _, tc := range []struct {
		name   string
		j      *analysis.ResultJudge
		result any
		want   analysis.Verdict
	}{
		{"success", both, 0.01, analysis.Pass},
		{"failure wins when both hold", both, 0.07, analysis.Fail},
		{"failure alone", both, 0.2, analysis.Fail},
		{"only success, false: Inconclusive", onlySuccess, 0.2, analysis.Inconclusive},
		{"NaN is Inconclusive", both, math.NaN(), analysis.Inconclusive},
		{"Inf is Inconclusive", onlySuccess, math.Inf(-1), analysis.Inconclusive},
		{"string success", text, "ok", analysis.Pass},
		{"string failure", text, "down", analysis.Fail},
		{"string neither", text, "degraded", analysis.Inconclusive},
		{"a JSON object", obj, map[string]any{"ready": true, "score": 4.0}, analysis.Pass},
		{"a string where a number is compared", onlySuccess, "fast", analysis.Error},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if r := tc.j.Evaluate(tc.result); r.Verdict != tc.want {
				t.Fatalf("result %v: %s (%s), want %s", tc.result, r.Verdict, r.Reason, tc.want)
			}
		})
	}
}

func TestResultConditionsNeitherTrueIsInconclusive(t *testing.T) {
	j, _ := analysis.CompileResult("m", "result < 0.1", "result > 0.5")
	r := j.Evaluate(0.3)
	if r.Verdict != analysis.Inconclusive || !strings.Contains(r.Reason, "neither") || r.Numbers["result"] != 0.3 {
		t.Fatalf("%s (%s) %v, want Inconclusive naming both conditions, with the result", r.Verdict, r.Reason, r.Numbers)
	}
}

func TestResultConditionsRefused(t *testing.T) {
	for _, tc := range []struct{ success, failure, want string }{
		{"", "", "needs successCondition or failureCondition"},
		{"resutl < 1", "", "unknown name resutl"},
		{"", "result >", "failureCondition"},
		{"1 + 1", "", "successCondition"},
	} {
		if _, err := analysis.CompileResult("m", tc.success, tc.failure); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q/%q: err %v, want %q", tc.success, tc.failure, err, tc.want)
		}
	}
}
