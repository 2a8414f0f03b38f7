package spec_test

import (
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestExampleHAProxyConfig: examples/haproxy/bluejay.yaml stays valid,
// with the HAProxy router's defaults applied.
func TestExampleHAProxyConfig(t *testing.T) {
	cfg, err := spec.Load("../../examples/haproxy/bluejay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	h := cfg.Router.HAProxy
	if h == nil || h.Socket != "/run/haproxy/admin.sock" || h.Config != "/etc/haproxy/bluejay.cfg" ||
		h.MasterSocket != "/run/haproxy/master.sock" || h.Binary != "haproxy" || h.Listen != "0.0.0.0:80" ||
		h.Slots != 10 || h.Versions != 3 || h.ReloadTimeout.D() != 10*time.Second {
		t.Errorf("router.haproxy = %+v", h)
	}
}

// TestHAProxyRouterDefaults: unset fields take their documented defaults,
// listen and timeout follow the proxy's, and relative paths resolve
// against the config's directory.
func TestHAProxyRouterDefaults(t *testing.T) {
	cfg, err := spec.Parse("/srv/bluejay/bluejay.yaml", []byte(`
admin: {token: s3cret}
proxy: {listen: 127.0.0.1:9080, timeout: 20s}
prometheus: {address: "http://127.0.0.1:9090"}
router: {haproxy: {socket: run/admin.sock, config: haproxy/bluejay.cfg, masterSocket: run/master.sock}}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9000"]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := spec.HAProxyRouter{Socket: "/srv/bluejay/run/admin.sock", Config: "/srv/bluejay/haproxy/bluejay.cfg",
		StateFile: "/srv/bluejay/haproxy/bluejay.cfg.state", MasterSocket: "/srv/bluejay/run/master.sock",
		Binary: "haproxy", Listen: "127.0.0.1:9080", Slots: 10, Versions: 3,
		Timeout: spec.Duration(20 * time.Second), ReloadTimeout: spec.Duration(10 * time.Second)}
	got := *cfg.Router.HAProxy
	if got.ReloadCommand != nil || got.Socket != want.Socket || got.Config != want.Config || got.StateFile != want.StateFile ||
		got.MasterSocket != want.MasterSocket || got.Binary != want.Binary || got.Listen != want.Listen ||
		got.Slots != want.Slots || got.Versions != want.Versions || got.Timeout != want.Timeout || got.ReloadTimeout != want.ReloadTimeout {
		t.Errorf("router.haproxy = %+v, want %+v", got, want)
	}
}
