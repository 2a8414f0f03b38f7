package spec_test

import (
	"slices"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

const proxyLimitsService = `services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9000"]}}}
`

// TestProxyLimits: the defaults of what the proxy takes from its clients,
// and the explicit zeros that turn read-ahead and upgrades off. The
// proxy block is the one README's "Facing the internet" shows.
func TestProxyLimits(t *testing.T) {
	for _, tt := range []struct {
		name, proxy string
		want        spec.ProxyConfig
	}{
		{"defaults", "", spec.ProxyConfig{BodyTimeout: spec.Duration(30 * time.Second), MaxBodyBuffer: 64 << 10, Upgrades: []string{"websocket"}}},
		{"README", `proxy:
  bodyTimeout: 30s        # idle deadline of a request body: 408 after
  maxBodyBuffer: 65536    # read this much of a body before taking an instance connection; 0: stream
  maxBodyBytes: 0         # 413 above; 0: no limit
  upgrades: [websocket]   # Upgrade protocols forwarded; h2c never is
  timeout: 30s            # wait for an instance connection, then for its response headers: 504
`, spec.ProxyConfig{BodyTimeout: spec.Duration(30 * time.Second), MaxBodyBuffer: 64 << 10, Upgrades: []string{"websocket"}}},
		{"off", "proxy: {maxBodyBuffer: 0, maxBodyBytes: 1048576, upgrades: [], bodyTimeout: 5s}\n",
			spec.ProxyConfig{BodyTimeout: spec.Duration(5 * time.Second), MaxBodyBytes: 1 << 20, Upgrades: []string{}}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			cfg, err := spec.Parse("bluejay.yaml", []byte(tt.proxy+proxyLimitsService))
			if err != nil {
				t.Fatal(err)
			}
			p := cfg.Proxy
			if p.BodyTimeout != tt.want.BodyTimeout || p.MaxBodyBuffer != tt.want.MaxBodyBuffer || p.MaxBodyBytes != tt.want.MaxBodyBytes ||
				!slices.Equal(p.Upgrades, tt.want.Upgrades) || (p.Upgrades == nil) != (tt.want.Upgrades == nil) {
				t.Errorf("proxy = bodyTimeout %v, maxBodyBuffer %d, maxBodyBytes %d, upgrades %#v; want %v, %d, %d, %#v",
					p.BodyTimeout, p.MaxBodyBuffer, p.MaxBodyBytes, p.Upgrades,
					tt.want.BodyTimeout, tt.want.MaxBodyBuffer, tt.want.MaxBodyBytes, tt.want.Upgrades)
			}
		})
	}
}
