package analysis

import (
	"fmt"
	"math"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// ResultJudge judges one measurement of a provider metric (a web
// endpoint's value, a Prometheus query's, a job's exit) by Argo
// Rollouts' conditions over `result`. It holds no state and is safe for
// concurrent use.
type ResultJudge struct {
	name             string
	success, failure *vm.Program
	successText      string
	failureText      string
}

// CompileResult compiles a metric's successCondition and failureCondition
// (expr-lang over `result`); at least one is required.
func CompileResult(name, success, failure string) (*ResultJudge, error) {
	if success == "" && failure == "" {
		return nil, fmt.Errorf("metric %q: a provider metric needs successCondition or failureCondition, such as %q", name, "result < 0.01")
	}
	j := &ResultJudge{name: name, successText: success, failureText: failure}
	var err error
	for _, c := range []struct {
		text  string
		field string
		dst   **vm.Program
	}{{success, "successCondition", &j.success}, {failure, "failureCondition", &j.failure}} {
		if c.text == "" {
			continue
		}
		// No typed environment: result is whatever the provider gives (a
		// number, a string, a JSON object), so only its name is checked.
		if *c.dst, err = expr.Compile(c.text, expr.AsBool()); err != nil {
			return nil, fmt.Errorf("metric %q: %s %q: %w (conditions read result, the provider's value)", name, c.field, c.text, oneLine(err))
		}
		if bad := unknownNames((*c.dst).Node()); bad != "" {
			return nil, fmt.Errorf("metric %q: %s %q: unknown name %s: conditions read result, the provider's value, such as result < 0.01", name, c.field, c.text, bad)
		}
	}
	return j, nil
}

// Evaluate judges result: Fail when failureCondition holds (failure
// wins), Pass when successCondition holds, Inconclusive when neither
// does; Inconclusive too when result is NaN or ±Inf, which no condition
// can judge (as an undefined term of a comparison condition), and Error
// when a condition cannot run on it (a string compared with a number).
func (j *ResultJudge) Evaluate(result any) Result {
	r := Result{Metric: j.name}
	if f, ok := result.(float64); ok {
		if math.IsNaN(f) || math.IsInf(f, 0) {
			r.Verdict = Inconclusive
			r.Reason = fmt.Sprintf("%s: result is %v, undefined: neither passes nor fails", j.name, f)
			return r
		}
		r.Numbers = map[string]float64{"result": f}
	}
	env := map[string]any{"result": result}
	for _, c := range []struct {
		p    *vm.Program
		text string
		v    Verdict
	}{{j.failure, j.failureText, Fail}, {j.success, j.successText, Pass}} {
		if c.p == nil {
			continue
		}
		out, err := expr.Run(c.p, env)
		if err != nil {
			r.Verdict = Error
			r.Reason = fmt.Sprintf("%s: result %s: %s: %v", j.name, show(result), c.text, oneLine(err))
			return r
		}
		if out.(bool) {
			r.Verdict = c.v
			r.Reason = fmt.Sprintf("%s: result %s: %s holds", j.name, show(result), c.text)
			return r
		}
	}
	r.Verdict = Inconclusive
	r.Reason = fmt.Sprintf("%s: result %s: neither %s", j.name, show(result), j.conditions())
	return r
}

func (j *ResultJudge) conditions() string {
	switch {
	case j.success == nil:
		return "failure (" + j.failureText + ") nor a successCondition"
	case j.failure == nil:
		return "success (" + j.successText + ") nor a failureCondition"
	}
	return "success (" + j.successText + ") nor failure (" + j.failureText + ")"
}

// unknownNames returns the first identifier other than result, "" if
// none.
func unknownNames(root ast.Node) string {
	v := &nameVisitor{}
	ast.Walk(&root, v)
	return v.bad
}

type nameVisitor struct{ bad string }

func (v *nameVisitor) Visit(n *ast.Node) {
	if id, ok := (*n).(*ast.IdentifierNode); ok && id.Value != "result" && v.bad == "" {
		v.bad = id.Value
	}
}

// show formats a result for a reason, cut to 200 bytes.
func show(v any) string {
	s := fmt.Sprintf("%v", v)
	if _, ok := v.(string); ok {
		s = fmt.Sprintf("%q", v)
	}
	if len(s) > 200 {
		s = s[:200] + "..."
	}
	return s
}
