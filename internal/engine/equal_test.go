package engine

import (
	"reflect"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

// fullRollout is a rollout with every field set, fresh on every call.
func fullRollout() Rollout {
	r := canaryRollout(PhasePaused, 1, at5)
	r.From.Args, r.To.Targets, r.To.Build, r.To.Replicas = []string{"a"}, []string{"t"}, "b", 1
	r.Reason, r.Exposure = "why", metrics.Counts{Requests: 1, Errors: 1, Users: 1, FailedUsers: 1}
	r.Ended, r.Settled, r.StepSince = t0, true, t0
	r.StepCounts = map[string]metrics.Counts{"v1": {Requests: 1}}
	r.StepVerdicts, r.BackgroundVerdicts = VerdictCounts{1, 1, 1}, VerdictCounts{2, 2, 2}
	r.Inconclusives, r.MirrorPercent, r.NewCount, r.OldCount = 1, 1, 1, 1
	r.HeaderRoutes = []HeaderRoute{{Header: "h", Exact: "x"}}
	r.Hooks = map[Hook]HookState{HookPreRollout: HookPassed}
	r.Hold = &Hold{Phase: PhaseProgressing, Reason: "r", Since: t0, PhaseSince: t0, StepSince: t0}
	return r
}

// perturb changes v, a settable leaf, to another value of its type.
func perturb(t *testing.T, v reflect.Value, name string) {
	switch v.Kind() {
	case reflect.String:
		v.SetString(v.String() + "x")
	case reflect.Int, reflect.Int64:
		v.SetInt(v.Int() + 1)
	case reflect.Bool:
		v.SetBool(!v.Bool())
	case reflect.Float64:
		v.SetFloat(v.Float() + 1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		for _, k := range v.MapKeys() {
			m.SetMapIndex(k, v.MapIndex(k))
		}
		m.SetMapIndex(reflect.New(v.Type().Key()).Elem(), reflect.New(v.Type().Elem()).Elem())
		v.Set(m)
	case reflect.Slice:
		v.Set(reflect.Append(v, reflect.New(v.Type().Elem()).Elem()))
	case reflect.Pointer:
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		} else {
			v.Set(reflect.Zero(v.Type()))
		}
	case reflect.Struct:
		if tm, ok := v.Addr().Interface().(*time.Time); ok {
			*tm = tm.Add(time.Second)
			return
		}
		t.Fatalf("%s: a struct is not a leaf", name)
	default:
		t.Fatalf("%s: perturb does not know kind %s: teach it", name, v.Kind())
	}
}

// leaves calls f with the path of every leaf field under typ: nested
// structs (but times) and pointers to structs are walked into.
func leaves(typ reflect.Type, path []int, name string, f func(path []int, name string)) {
	for i := range typ.NumField() {
		fld := typ.Field(i)
		p, n := append(append([]int{}, path...), i), name+"."+fld.Name
		ft := fld.Type
		switch {
		case ft == reflect.TypeFor[time.Time]():
			f(p, n)
		case ft.Kind() == reflect.Struct:
			leaves(ft, p, n, f)
		case ft.Kind() == reflect.Pointer && ft.Elem().Kind() == reflect.Struct && n != ".Params.Background" && n != ".Params.Rolling":
			f(p, n) // nil against set
			leaves(ft.Elem(), p, n, f)
		default:
			f(p, n)
		}
	}
}

// field follows path from v, through pointers.
func field(v reflect.Value, path []int) reflect.Value {
	for _, i := range path {
		if v.Kind() == reflect.Pointer {
			v = v.Elem()
		}
		v = v.Field(i)
	}
	return v
}

// TestRolloutEqualSeesEveryField pins that Rollout.Equal compares every
// field, nested ones included: the controller persists a decision only
// when Equal says it changed something, so a field Equal forgot would
// never be written (the hand-listed comparison it replaced had to be kept
// in step by hand).
func TestRolloutEqualSeesEveryField(t *testing.T) {
	if a, b := fullRollout(), fullRollout(); !a.Equal(b) {
		t.Fatal("two equal rollouts are not Equal")
	}
	n := 0
	leaves(reflect.TypeFor[Rollout](), nil, "", func(path []int, name string) {
		n++
		r := fullRollout()
		perturb(t, field(reflect.ValueOf(&r).Elem(), path), name)
		if r.Equal(fullRollout()) {
			t.Errorf("Rollout%s changed and Equal did not see it: compare it in Rollout.Equal", name)
		}
	})
	if n < 40 {
		t.Errorf("walked %d fields, want every one", n)
	}
	// Instants and map emptiness, not representations.
	a, b := fullRollout(), fullRollout()
	b.Started, b.Weights = a.Started.In(time.FixedZone("x", 3600)), map[string]int{}
	a.Weights = nil
	if !a.Equal(b) {
		t.Error("the same instant in another zone, or a nil against an empty map, is not Equal")
	}
}
