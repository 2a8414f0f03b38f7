package process_test

import (
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/process"
)

// TestInstancesRecordWhatTheyWereStartedWith: an instance's Spec is the
// version's SpecOf when it started, and another args, env or build gives
// another Spec — what lets the controller refuse to reuse instances that
// run something else (the bug: a redeploy with other --args ran against
// the previous rollout's instances).
func TestInstancesRecordWhatTheyWereStartedWith(t *testing.T) {
	p, _ := newPlatform(t, process.Config{Env: map[string]string{"A": "1"}})
	v := platform.Version{Service: "web", Label: "v3", Args: []string{"--error-rate", "0.3"}}
	insts := deploy(t, p, v)
	want, err := p.SpecOf(v)
	if err != nil || want == "" {
		t.Fatalf("SpecOf: %q, %v", want, err)
	}
	if insts[0].Spec != want {
		t.Errorf("instance Spec %q, want SpecOf %q", insts[0].Spec, want)
	}
	other := v
	other.Args = []string{"--latency", "5ms"}
	rebuilt := v
	rebuilt.Build = "v3.1"
	for _, o := range []platform.Version{other, rebuilt, {Service: "web", Label: "v3"}} {
		if s, _ := p.SpecOf(o); s == want {
			t.Errorf("SpecOf(%+v) = SpecOf(%+v): another args or build must give another Spec", o, v)
		}
	}
	p.Configure("web", process.Config{Command: appCommand(), Env: map[string]string{"A": "2"}})
	if s, _ := p.SpecOf(v); s == want {
		t.Errorf("another env gave the same Spec")
	}
}
