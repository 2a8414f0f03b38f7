package spec_test

import (
	"errors"
	"io/fs"
	"path/filepath"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func TestErrorFormat(t *testing.T) {
	tests := []struct {
		name string
		err  spec.Error
		want string
	}{
		{"full", spec.Error{File: "b.yaml", Line: 14, Col: 9, Field: "services[0].helth", Msg: "unknown field"},
			"b.yaml:14:9: services[0].helth: unknown field"},
		{"no field", spec.Error{File: "b.yaml", Line: 3, Col: 1, Msg: "bad"}, "b.yaml:3:1: bad"},
		{"no column", spec.Error{File: "b.yaml", Line: 3, Msg: "did not find expected key"},
			"b.yaml:3: did not find expected key"},
		{"no line", spec.Error{File: "b.yaml", Msg: "cannot read"}, "b.yaml: cannot read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestErrorsJoinLines(t *testing.T) {
	errs := spec.Errors{
		{File: "f", Line: 1, Col: 2, Msg: "a"},
		{File: "f", Line: 3, Col: 4, Field: "x", Msg: "b"},
	}
	if got, want := errs.Error(), "f:1:2: a\nf:3:4: x: b"; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestLoadMissingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nope.yaml")
	_, err := spec.Load(path)
	var errs *spec.Errors
	if !errors.As(err, &errs) || len(*errs) != 1 {
		t.Fatalf("got %v, want one *spec.Errors", err)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("errors.Is(err, fs.ErrNotExist) = false for %v", err)
	}
	if want := path + ": cannot read the config: no such file or directory"; err.Error() != want {
		t.Errorf("got %q, want %q", err, want)
	}
}
