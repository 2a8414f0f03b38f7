package analysis

import (
	"fmt"
	"math"
	"reflect"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm"
)

// term is a numeric sub-expression of a condition, compiled on its own
// so that its value can be checked before the condition is believed:
// `canary.errorRate / baseline.errorRate <= 1.5` with both rates 0 is
// NaN <= 1.5, false, which would fail a canary that served no error.
type term struct {
	text    string
	program *vm.Program
}

// terms returns the numeric sub-expressions of a compiled condition,
// innermost first (ast.Walk visits children before their parent), so
// that the reason names the smallest undefined one. Literals are left
// out, and so is a sub-expression that cannot run on its own (one inside
// a predicate, which reads the predicate's #).
func terms(root ast.Node) []term {
	v := &termVisitor{seen: map[string]bool{}}
	ast.Walk(&root, v)
	return v.terms
}

type termVisitor struct {
	terms []term
	seen  map[string]bool
}

func (v *termVisitor) Visit(n *ast.Node) {
	switch (*n).(type) {
	case *ast.IntegerNode, *ast.FloatNode, *ast.ConstantNode:
		return
	}
	t := (*n).Type()
	if t == nil || !numeric(t.Kind()) {
		return
	}
	text := (*n).String()
	if v.seen[text] {
		return
	}
	v.seen[text] = true
	p, err := expr.Compile(text, expr.Env(Env{}))
	if err != nil {
		return
	}
	v.terms = append(v.terms, term{text: text, program: p})
}

func numeric(k reflect.Kind) bool {
	switch k {
	case reflect.Float64, reflect.Float32, reflect.Interface:
		return true
	}
	return false
}

// undefinedTerm returns "TERM is NaN" (or +Inf, -Inf) for the first
// term whose value is not a finite number, "" if none is. A term that
// fails to run is left to the condition, whose error says why.
func undefinedTerm(ts []term, env Env) string {
	for _, t := range ts {
		out, err := expr.Run(t.program, env)
		if err != nil {
			continue
		}
		if f, ok := out.(float64); ok && (math.IsNaN(f) || math.IsInf(f, 0)) {
			return fmt.Sprintf("%s is %v", t.text, f)
		}
	}
	return ""
}
