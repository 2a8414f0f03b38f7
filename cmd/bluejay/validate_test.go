package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestShippedConfigsPassValidateStrict: the quick start's config and
// every bluejay config under examples/ are valid and draw no warning, as
// the README tells users to run them.
func TestShippedConfigsPassValidateStrict(t *testing.T) {
	paths := []string{"../../bluejay.yaml"}
	for _, glob := range []string{"../../examples/*.yaml", "../../examples/*/bluejay.yaml"} {
		m, _ := filepath.Glob(glob)
		paths = append(paths, m...)
	}
	if len(paths) < 5 {
		t.Fatalf("found only %v", paths)
	}
	for _, p := range paths {
		if r := cli("validate", "--strict", "-c", p); r.code != 0 || r.stderr != "" {
			t.Errorf("validate --strict -c %s:\n%s", p, r)
		}
	}
}

func writeFile(t *testing.T, name, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestValidateWarnsAndStrictRefuses(t *testing.T) {
	path := writeFile(t, "w.yaml", `admin: {token: s3cret}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9"]}}}
    strategy: canary
    canary:
      steps:
        - setWeight: 50
        - setWeight: 20
`)
	r := cli("validate", "-c", path)
	for _, want := range []string{
		path + ":1:16: admin.token: the admin token has 6 characters; a token shorter than 16 is easy to guess",
		path + ":10:22: services[0].canary.steps[1].setWeight: setWeight 20 is below the step before (50)",
		path + ":9:9: services[0].canary.steps: the steps never reach setWeight 100 (the last is 20): after the last step " +
			"the rollout completes and the new version takes all traffic at once",
	} {
		if r.code != 0 || !strings.Contains(r.stderr, "warning: "+want) {
			t.Errorf("validate: want exit 0 and %q, got:\n%s", want, r)
		}
	}
	r = cli("validate", "--strict", "-c", path)
	if r.code != 1 || !strings.Contains(r.stderr, "has 3 warning(s) and --strict refuses them") {
		t.Errorf("validate --strict: want exit 1 and the count, got:\n%s", r)
	}
}
