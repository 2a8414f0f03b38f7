package spec

import (
	"testing"
	"time"
)

// TestHealthTimeoutFollowsShortInterval pins that setting only a short
// interval is valid: the default timeout shrinks to it.
func TestHealthTimeoutFollowsShortInterval(t *testing.T) {
	cfg, err := Parse("short.yaml", []byte(`admin: {token: x}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9001"]}}}
    health: {interval: 200ms}
`))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Services[0].Health.Timeout.D(); got != 200*time.Millisecond {
		t.Fatalf("timeout = %s, want 200ms", got)
	}
}
