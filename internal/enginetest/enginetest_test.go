package enginetest

import (
	"errors"
	"testing"
)

// fakeT records what New does to a test instead of doing it.
type fakeT struct {
	testing.TB
	skipped, failed bool
	cleanups        []func()
}

func (f *fakeT) Helper()               {}
func (f *fakeT) Skipf(string, ...any)  { f.skipped = true; panic(stop{}) }
func (f *fakeT) Fatalf(string, ...any) { f.failed = true; panic(stop{}) }
func (f *fakeT) Errorf(string, ...any) { f.failed = true }
func (f *fakeT) Cleanup(fn func())     { f.cleanups = append(f.cleanups, fn) }
func (f *fakeT) run(fn func(t *fakeT)) (out *fakeT) {
	out = f
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(stop); !ok {
				panic(r)
			}
		}
	}()
	fn(f)
	return f
}

// stop ends a fake test at Skipf or Fatalf, as runtime.Goexit ends a
// real one.
type stop struct{}

var errMissing = errors.New("not installed")

// TestNewSkipsMissingFailsBroken: a missing engine skips (or fails under
// RequireEnv=1); one that fails to start fails; one that starts is
// stopped at the test's cleanup.
func TestNewSkipsMissingFailsBroken(t *testing.T) {
	started, stopped := 0, 0
	s := &Shared[int]{Engine: "x", NotInstalled: []error{errMissing},
		Stop: func(int) error { stopped++; return nil }}

	s.Start = func() (int, error) { return 0, errMissing }
	t.Setenv(RequireEnv, "")
	if f := (&fakeT{}).run(func(f *fakeT) { s.New(f) }); !f.skipped || f.failed {
		t.Errorf("missing engine: skipped %t, failed %t; want a skip", f.skipped, f.failed)
	}
	t.Setenv(RequireEnv, "1")
	if f := (&fakeT{}).run(func(f *fakeT) { s.New(f) }); !f.failed {
		t.Error("missing engine under RequireEnv=1 did not fail")
	}
	t.Setenv(RequireEnv, "")
	s.Start = func() (int, error) { return 0, errors.New("port taken") }
	if f := (&fakeT{}).run(func(f *fakeT) { s.New(f) }); !f.failed || f.skipped {
		t.Error("an engine that failed to start was not a failure")
	}
	s.Start = func() (int, error) { started++; return 42, nil }
	f := (&fakeT{}).run(func(f *fakeT) {
		if got := s.New(f); got != 42 {
			t.Errorf("New = %d", got)
		}
	})
	for _, c := range f.cleanups {
		c()
	}
	if started != 1 || stopped != 1 {
		t.Errorf("started %d, stopped %d; want one each", started, stopped)
	}
}
