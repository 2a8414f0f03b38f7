package spec_test

import (
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// minimal is the smallest valid config; tests append to its service.
const minimal = `
admin: {token: t}
services:
  - name: web
    version: v1`

// process is minimal's platform, unless a test writes its own.
const process = "\n    platform: {process: {command: [./app, \"{{.Port}}\"]}}"

func TestDefaults(t *testing.T) {
	tests := []struct {
		name  string
		extra string // appended to the service in minimal
		get   func(c *spec.Config) any
		want  any
	}{
		{"proxy.listen", "", func(c *spec.Config) any { return c.Proxy.Listen }, "127.0.0.1:8080"},
		{"proxy.timeout", "", func(c *spec.Config) any { return c.Proxy.Timeout.D() }, 30 * time.Second},
		{"proxy.drainTimeout", "", func(c *spec.Config) any { return c.Proxy.DrainTimeout.D() }, 30 * time.Second},
		{"admin.listen", "", func(c *spec.Config) any { return c.Admin.Listen }, "127.0.0.1:7070"},
		{"match.pathPrefix", "", func(c *spec.Config) any { return web(c).Match.PathPrefix }, "/"},
		{"strategy", "", func(c *spec.Config) any { return web(c).Strategy }, spec.StrategyBlueGreen},
		{"replicas", "", func(c *spec.Config) any { return web(c).Platform.Process.Replicas }, 1},
		{"replicas 0 means 1", "\n    platform: {process: {command: [./app, \"{{.Port}}\"], replicas: 0}}",
			func(c *spec.Config) any { return web(c).Platform.Process.Replicas }, 1},
		{"stopGrace", "", func(c *spec.Config) any { return web(c).Platform.Process.StopGrace.D() }, 10 * time.Second},
		{"health.path", "", func(c *spec.Config) any { return web(c).Health.Path }, "/healthz"},
		{"health.interval", "", func(c *spec.Config) any { return web(c).Health.Interval.D() }, time.Second},
		{"health.timeout", "", func(c *spec.Config) any { return web(c).Health.Timeout.D() }, time.Second},
		{"health.healthyThreshold", "", func(c *spec.Config) any { return web(c).Health.HealthyThreshold }, 2},
		{"health.unhealthyThreshold", "", func(c *spec.Config) any { return web(c).Health.UnhealthyThreshold }, 3},
		{"health.readyTimeout", "", func(c *spec.Config) any { return web(c).Health.ReadyTimeout.D() }, 2 * time.Minute},
		{"health in a partial mapping", "\n    health: {path: /ready}",
			func(c *spec.Config) any { return web(c).Health.Interval.D() }, time.Second},
		{"smoke.method", "\n    smoke: [{path: /x}]", func(c *spec.Config) any { return web(c).Smoke[0].Method }, "GET"},
		{"smoke.name", "\n    smoke: [{path: /x, method: HEAD}]",
			func(c *spec.Config) any { return web(c).Smoke[0].Name }, "HEAD /x"},
		{"smoke.expectStatus", "\n    smoke: [{path: /x}]", func(c *spec.Config) any { return web(c).Smoke[0].ExpectStatus }, 200},
		{"smoke.timeout", "\n    smoke: [{path: /x}]", func(c *spec.Config) any { return web(c).Smoke[0].Timeout.D() }, 5 * time.Second},
		{"watch", "", func(c *spec.Config) any { return web(c).BlueGreen.Watch.D() }, 30 * time.Second},
		{"watch 0s is kept", "\n    blueGreen: {watch: 0s}", func(c *spec.Config) any { return web(c).BlueGreen.Watch.D() }, time.Duration(0)},
		{"watch null is the default", "\n    blueGreen: {watch: ~}",
			func(c *spec.Config) any { return web(c).BlueGreen.Watch.D() }, 30 * time.Second},
		{"scaleDownDelay", "", func(c *spec.Config) any { return web(c).BlueGreen.ScaleDownDelay.D() }, 5 * time.Minute},
		{"scaleDownDelay 0 is kept", "\n    blueGreen: {scaleDownDelay: 0}",
			func(c *spec.Config) any { return web(c).BlueGreen.ScaleDownDelay.D() }, time.Duration(0)},
		{"previewDuration without preview", "", func(c *spec.Config) any { return web(c).BlueGreen.PreviewDuration.D() }, time.Duration(0)},
		{"previewDuration with preview", "\n    blueGreen: {previewWeight: 5}",
			func(c *spec.Config) any { return web(c).BlueGreen.PreviewDuration.D() }, 30 * time.Second},
		{"maxErrorRate", "", func(c *spec.Config) any { return *web(c).BlueGreen.MaxErrorRate }, 0.05},
		{"maxErrorRate 0 is kept", "\n    blueGreen: {maxErrorRate: 0}",
			func(c *spec.Config) any { return *web(c).BlueGreen.MaxErrorRate }, 0.0},
		{"minRequests", "", func(c *spec.Config) any { return web(c).BlueGreen.MinRequests }, 20},
		{"minRequests 0 is kept", "\n    blueGreen: {minRequests: 0}",
			func(c *spec.Config) any { return web(c).BlueGreen.MinRequests }, 0},
		{"onNoTraffic", "", func(c *spec.Config) any { return web(c).BlueGreen.OnNoTraffic }, "pause"},
		{"onNoTraffic complete is kept", "\n    blueGreen: {onNoTraffic: complete}",
			func(c *spec.Config) any { return web(c).BlueGreen.OnNoTraffic }, "complete"},
		{"autoPromote", "", func(c *spec.Config) any { return *web(c).BlueGreen.AutoPromote }, true},
		{"autoPromote false is kept", "\n    blueGreen: {autoPromote: false}",
			func(c *spec.Config) any { return *web(c).BlueGreen.AutoPromote }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			yaml := minimal + tt.extra
			if !strings.Contains(tt.extra, "platform:") {
				yaml += process
			}
			cfg, err := spec.Parse("/etc/bluejay/bluejay.yaml", []byte(yaml))
			if err != nil {
				t.Fatal(err)
			}
			if got := tt.get(cfg); got != tt.want {
				t.Errorf("got %v, want %v", got, tt.want)
			}
		})
	}
}

func web(c *spec.Config) *spec.Service {
	s, _ := c.Service("web")
	return s
}

// TestApplyDefaults covers a Config built in code, where zero means unset.
func TestApplyDefaults(t *testing.T) {
	cfg := &spec.Config{Services: []spec.Service{{
		Name:     "web",
		Platform: spec.Platform{Process: &spec.Process{}},
		Smoke:    []spec.Smoke{{Path: "/"}},
	}}}
	cfg.ApplyDefaults()
	s := cfg.Services[0]
	got := []any{cfg.Store.Path, s.Platform.Process.LogDir, s.BlueGreen.Watch.D(), s.Smoke[0].Name, s.Health.HealthyThreshold}
	want := []any{"./bluejay.db", "./logs", 30 * time.Second, "GET /", 2}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("defaults = %v, want %v", got, want)
			break
		}
	}
}
