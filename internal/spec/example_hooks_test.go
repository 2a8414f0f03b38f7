package spec_test

import (
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestExampleHooksConfig: examples/hooks.yaml stays valid, with its
// defaults applied.
func TestExampleHooksConfig(t *testing.T) {
	cfg, err := spec.Load("../../examples/hooks.yaml")
	if err != nil {
		t.Fatal(err)
	}
	api, _ := cfg.Service("api")
	if h := api.Hooks.PrePromotion; h == nil || h.Retries != 0 || h.Timeout.D().Seconds() != 30 {
		t.Errorf("prePromotion %+v, want retries 0 (written) and timeout 30s (default)", h)
	}
	if api.Canary.ProgressDeadline != api.ProgressDeadline || len(cfg.Notifications) != 2 || cfg.Notifications[0].Format != spec.FormatJSON {
		t.Errorf("deadline %s/%s, notifications %+v", api.Canary.ProgressDeadline, api.ProgressDeadline, cfg.Notifications)
	}
}
