package spec_test

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestGolden parses each invalid config in testdata and compares the
// errors with its .golden file. Run with -update to rewrite them.
func TestGolden(t *testing.T) {
	files, err := filepath.Glob("testdata/*.yaml")
	if err != nil || len(files) == 0 {
		t.Fatalf("no test configs: %v", err)
	}
	for _, file := range files {
		t.Run(filepath.Base(file), func(t *testing.T) {
			got := parseErrors(t, file) + "\n"
			golden := strings.TrimSuffix(file, ".yaml") + ".golden"
			if *update {
				if err := os.WriteFile(golden, []byte(got), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test -update to create it)", err)
			}
			if got != string(want) {
				t.Errorf("errors differ from %s\ngot:\n%s\nwant:\n%s", golden, got, want)
			}
		})
	}
}

// parseErrors parses file, which must be invalid, and returns the errors.
func parseErrors(t *testing.T, file string) string {
	t.Helper()
	data, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := spec.Parse(file, data)
	if err == nil {
		t.Fatalf("%s parsed without errors", file)
	}
	if cfg != nil {
		t.Errorf("got a Config along with errors")
	}
	var errs *spec.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("error is %T, want *spec.Errors", err)
	}
	return err.Error()
}

// TestAllErrorsAtOnce pins that problems of every stage are reported
// together: the walk's (a typo, a bad duration) and the semantic
// checks' (a bad weight, a missing version, a duplicate name).
func TestAllErrorsAtOnce(t *testing.T) {
	data, err := os.ReadFile("testdata/multi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	_, err = spec.Parse("multi.yaml", data)
	var errs *spec.Errors
	if !errors.As(err, &errs) {
		t.Fatalf("got %v, want *spec.Errors", err)
	}
	want := []struct {
		line, col int
		field     string
	}{
		{10, 5, "services[0].helth"},
		{12, 14, "services[0].blueGreen.watch"},
		{13, 5, "services[1].version"},
		{19, 32, "services[1].blueGreen.previewWeight"},
		{20, 11, "services[2].name"},
	}
	if len(*errs) != len(want) {
		t.Fatalf("got %d errors, want %d:\n%v", len(*errs), len(want), err)
	}
	for i, w := range want {
		e := (*errs)[i]
		if e.Line != w.line || e.Col != w.col || e.Field != w.field || e.File != "multi.yaml" {
			t.Errorf("error %d = %s:%d:%d %s, want multi.yaml:%d:%d %s",
				i, e.File, e.Line, e.Col, e.Field, w.line, w.col, w.field)
		}
	}
}
