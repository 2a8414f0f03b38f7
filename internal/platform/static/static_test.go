package static_test

import (
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
)

func TestDeploy(t *testing.T) {
	tests := []struct {
		name       string
		configured []string
		targets    []string
		wantAddrs  []string
		wantErr    string
	}{
		{"targets from the version", nil, []string{"10.0.0.1:80", "10.0.0.2:80"},
			[]string{"10.0.0.1:80", "10.0.0.2:80"}, ""},
		{"targets from the config", []string{"web-3:8080"}, nil,
			[]string{"web-3:8080"}, ""},
		{"version targets win over config", []string{"web-3:8080"}, []string{"127.0.0.1:9003"},
			[]string{"127.0.0.1:9003"}, ""},
		{"no targets", nil, nil,
			nil, "no targets for web v3: pass --target or set platform.static.targets"},
		{"target without port", nil, []string{"10.0.0.1"},
			nil, `target "10.0.0.1" for web v3: want host:port`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := static.New()
			if tt.configured != nil {
				p.SetTargets("web", "v3", tt.configured)
			}
			err := p.Deploy(t.Context(), platform.Version{Service: "web", Label: "v3", Targets: tt.targets})
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Deploy error = %v, want one containing %q", err, tt.wantErr)
				}
				if got := instancesOf(t, p, "web", "v3"); len(got) != 0 {
					t.Errorf("failed Deploy left instances: %+v", got)
				}
				return
			}
			if err != nil {
				t.Fatalf("Deploy: %v", err)
			}
			if got := addrs(instancesOf(t, p, "web", "v3")); !slices.Equal(got, tt.wantAddrs) {
				t.Errorf("addrs = %v, want %v", got, tt.wantAddrs)
			}
		})
	}
}

func TestNoTargetsIsSentinel(t *testing.T) {
	err := static.New().Deploy(t.Context(), platform.Version{Service: "web", Label: "v3"})
	if !errors.Is(err, static.ErrNoTargets) {
		t.Fatalf("Deploy error = %v, want ErrNoTargets", err)
	}
}

func TestInstances(t *testing.T) {
	p := static.New()
	v := platform.Version{Service: "web", Label: "v2", Targets: []string{"10.0.0.1:80", "10.0.0.2:80"}}
	if err := p.Deploy(t.Context(), v); err != nil {
		t.Fatal(err)
	}
	insts := instancesOf(t, p, "web", "v2")
	for i, want := range []string{"web-v2-0", "web-v2-1"} {
		inst := insts[i]
		if inst.ID != want || inst.Version != "v2" || inst.State != platform.StateRunning ||
			inst.PID != 0 || inst.Started.IsZero() {
			t.Errorf("instance %d = %+v, want running %s of v2", i, inst, want)
		}
	}
	// Callers get copies.
	insts[0].Addr = "changed:1"
	if got := instancesOf(t, p, "web", "v2")[0].Addr; got != "10.0.0.1:80" {
		t.Errorf("changing a returned instance changed the platform's: %s", got)
	}
	if got := instancesOf(t, p, "web", "v1"); got == nil || len(got) != 0 {
		t.Errorf("Instances of an unknown version = %#v, want an empty slice", got)
	}
}

func TestSetTargetsCopies(t *testing.T) {
	p := static.New()
	cfg := []string{"10.0.0.1:80"}
	p.SetTargets("web", "v1", cfg)
	cfg[0] = "changed:1"
	if err := p.Deploy(t.Context(), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	if got := addrs(instancesOf(t, p, "web", "v1")); !slices.Equal(got, []string{"10.0.0.1:80"}) {
		t.Errorf("addrs = %v, want the targets as set", got)
	}
}

func TestStopForgets(t *testing.T) {
	p := static.New()
	p.SetTargets("web", "v1", []string{"10.0.0.1:80"})
	if err := p.Stop(t.Context(), "web", "v1"); err != nil {
		t.Errorf("Stop of a version not deployed: %v", err)
	}
	if err := p.Deploy(t.Context(), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		if err := p.Stop(t.Context(), "web", "v1"); err != nil {
			t.Errorf("Stop: %v", err)
		}
	}
	if got := instancesOf(t, p, "web", "v1"); len(got) != 0 {
		t.Errorf("instances after Stop: %+v", got)
	}
	// The configured targets stay, so the version can be deployed again.
	if err := p.Deploy(t.Context(), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Errorf("Deploy after Stop: %v", err)
	}
}

func TestConcurrentUse(t *testing.T) {
	p := static.New()
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			v := platform.Version{Service: "web", Label: "v1", Targets: []string{"10.0.0.1:80"}}
			p.SetTargets("web", "v2", []string{"10.0.0.2:80"})
			_ = p.Deploy(t.Context(), v)
			_ = instancesOf(t, p, "web", "v1")
			if i%2 == 0 {
				_ = p.Stop(t.Context(), "web", "v1")
			}
		})
	}
	wg.Wait()
}

func addrs(insts []platform.Instance) []string {
	var out []string
	for _, inst := range insts {
		out = append(out, inst.Addr)
	}
	return out
}
