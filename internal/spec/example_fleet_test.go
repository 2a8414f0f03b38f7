package spec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestExampleFleetConfig: examples/fleet/bluejay.yaml stays valid: the
// etcd store, with the canary judged from Prometheus.
func TestExampleFleetConfig(t *testing.T) {
	cfg, err := spec.Load("../../examples/fleet/bluejay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	e := cfg.Store.Etcd
	if e == nil || len(e.Endpoints) != 3 || e.Prefix != "/bluejay" || e.LeaseTTL.D() != 5*time.Second {
		t.Errorf("store.etcd = %+v", e)
	}
	if cfg.Prometheus == nil || cfg.Services[0].Canary.Analysis != spec.PrometheusTemplate {
		t.Fatalf("the canary is not judged from Prometheus: %+v", cfg.Services[0].Canary)
	}
	// With fleet, counts default to every proxy's series, not the apps'.
	if p := cfg.Prometheus; !p.Fleet || !strings.Contains(p.Counts.Requests, "bluejay_requests_total") {
		t.Errorf("prometheus = %+v", p)
	}
}
