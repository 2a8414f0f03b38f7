package spec_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestAdminPprof: admin.pprof is a boolean, off by default; anything
// else is refused at its line and column.
func TestAdminPprof(t *testing.T) {
	const svc = "services:\n  - name: web\n    version: v1\n    platform: {static: {targets: {v1: [\"127.0.0.1:9000\"]}}}\n"
	for _, tc := range []struct {
		name, admin string
		want        bool
		err         string
	}{
		{"default", "admin: {}\n", false, ""},
		{"on", "admin:\n  pprof: true\n", true, ""},
		{"off", "admin:\n  pprof: false\n", false, ""},
		{"not a boolean", "admin:\n  pprof: maybe\n", false, `bluejay.yaml:2:10: admin.pprof: want true or false, got "maybe"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := spec.Load(writeConfig(t, tc.admin+svc))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want one containing %q", err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if cfg.Admin.Pprof != tc.want {
				t.Fatalf("admin.pprof = %v, want %v", cfg.Admin.Pprof, tc.want)
			}
		})
	}
}

// TestTenThousandServices: a config of 10,000 services (bench/scale's
// -n 10000) parses and validates, each service matched by its own path
// prefix, with health checks and blue-green. How long it takes is
// logged, not asserted (a benchmark's business); the test's own timeout
// bounds a parse gone quadratic.
func TestTenThousandServices(t *testing.T) {
	const n = 10_000
	var sb strings.Builder
	sb.WriteString("proxy: {listen: 127.0.0.1:18080}\nadmin: {listen: 127.0.0.1:17070, token: a-token-of-16-chars}\nservices:\n")
	for i := range n {
		fmt.Fprintf(&sb, `  - name: s%05d
    match: {pathPrefix: /s%05d/}
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9000"]}}}
    health: {path: /healthz, interval: 1s, timeout: 1s}
    blueGreen: {watch: 10s, scaleDownDelay: 5s, maxErrorRate: 0.01, minRequests: 3}
`, i, i)
	}
	path := writeConfig(t, sb.String())
	start := time.Now()
	cfg, err := spec.Load(path)
	if err != nil {
		t.Fatalf("%.2000s", err)
	}
	t.Logf("%d services (%d KiB of YAML) loaded in %s", n, sb.Len()>>10, time.Since(start).Round(time.Millisecond))
	if len(cfg.Services) != n {
		t.Fatalf("%d services, want %d", len(cfg.Services), n)
	}
	if s, ok := cfg.Service("s09999"); !ok || s.Match.PathPrefix != "/s09999/" {
		t.Fatalf(`Service("s09999") = %+v, %v`, s, ok)
	}
}

// TestAliasBombStillRefused: the visit budget grew with the document
// (for TestTenThousandServices), but merges of merges that expand
// exponentially still exhaust it.
func TestAliasBombStillRefused(t *testing.T) {
	m := `&m0 {v1: ["127.0.0.1:9000"]}`
	for i := 1; i <= 9; i++ {
		m = fmt.Sprintf("&m%d {<<: [%s%s]}", i, m, strings.Repeat(fmt.Sprintf(", *m%d", i-1), 9))
	}
	doc := "services:\n  - name: web\n    version: v1\n    platform: {static: {targets: {<<: [" + m + "]}}}\n"
	_, err := spec.Parse("bomb.yaml", []byte(doc))
	if err == nil || !strings.Contains(err.Error(), "too large") {
		t.Fatalf("err = %.500v, want the document is too large", err)
	}
}
