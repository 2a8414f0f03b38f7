package spec_test

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// FuzzParse checks that Parse never panics or hangs and always returns
// either a Config or an *Errors naming the file.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	seeds = append(seeds, "testdata/valid/example.yaml")
	for _, s := range seeds {
		data, err := os.ReadFile(s)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(data)
	}
	f.Add([]byte(minimal + process))
	f.Add([]byte("a: &a {<<: *a}\nservices: &s [*s, {<<: [*s]}]\n"))
	f.Add([]byte("services:\n  - name: x\n    platform: {process: {command: ['{{range .}}{{.Port}}{{end}}']}}\n"))
	f.Add([]byte("- &a [x, x]\n- &b [*a, *a, *a]\n- &c [*b, *b, *b]\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := spec.Parse("fuzz.yaml", data)
		if err == nil {
			if cfg == nil || len(cfg.Services) == 0 {
				t.Fatalf("no error, but config %+v", cfg)
			}
			return
		}
		var errs *spec.Errors
		if cfg != nil || !errors.As(err, &errs) || len(*errs) == 0 {
			t.Fatalf("got %v, %T %v; want nil and a non-empty *spec.Errors", cfg, err, err)
		}
		for _, e := range *errs {
			if e.File != "fuzz.yaml" || e.Msg == "" {
				t.Fatalf("malformed error %#v", e)
			}
		}
	})
}
