package spec_test

import (
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestExampleMigrationsConfig: examples/migrations/bluejay.yaml stays
// valid (its expand passes the destructive-change guard), and the
// breaking expand beside it is refused with its line.
func TestExampleMigrationsConfig(t *testing.T) {
	cfg, err := spec.Load("../../examples/migrations/bluejay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	v2 := cfg.Services[0].Migrations.Versions["v2"]
	if v2.Expand == nil || !strings.HasSuffix(v2.Expand.SQL, "examples/migrations/profiles/v2-expand.sql") || v2.Expand.Timeout.D() == 0 {
		t.Errorf("v2's expand = %+v", v2.Expand)
	}
	_, err = spec.Parse("../../examples/migrations/bluejay.yaml", []byte(`admin: {token: x}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9001"]}}}
    migrations:
      database: {urlEnv: DATABASE_URL}
      versions:
        v2: {expand: {sql: profiles/v2-expand-breaking.sql}}
`))
	if err == nil || !strings.Contains(err.Error(), "v2-expand-breaking.sql:8:") || !strings.Contains(err.Error(), "rename column") {
		t.Errorf("the breaking expand: %v, want it refused at its line 8 as a column rename", err)
	}
}
