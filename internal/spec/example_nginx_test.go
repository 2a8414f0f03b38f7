package spec_test

import (
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestExampleNginxConfig: examples/nginx/bluejay.yaml stays valid, with
// the NGINX router's defaults applied.
func TestExampleNginxConfig(t *testing.T) {
	cfg, err := spec.Load("../../examples/nginx/bluejay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	n := cfg.Router.Nginx
	if n == nil || n.Config != "/etc/nginx/bluejay.conf" || n.Binary != "nginx" || n.Listen != "0.0.0.0:80" ||
		n.ReloadTimeout.D() != 10*time.Second {
		t.Errorf("router.nginx = %+v", n)
	}
}

// TestNginxRouterDefaults: unset fields take their documented defaults,
// listen follows proxy.listen, and relative paths resolve against the
// config's directory.
func TestNginxRouterDefaults(t *testing.T) {
	cfg, err := spec.Parse("/srv/bluejay/bluejay.yaml", []byte(`
admin: {token: s3cret}
proxy: {listen: 127.0.0.1:9080}
router: {nginx: {config: nginx/bluejay.conf, mainConfig: nginx/nginx.conf}}
prometheus: {address: "http://127.0.0.1:9090"}
services:
  - name: web
    version: v1
    platform: {static: {targets: {v1: ["127.0.0.1:9000"]}}}
`))
	if err != nil {
		t.Fatal(err)
	}
	want := spec.NginxRouter{Config: "/srv/bluejay/nginx/bluejay.conf", MainConfig: "/srv/bluejay/nginx/nginx.conf",
		Binary: "nginx", PIDFile: "/run/nginx.pid", Listen: "127.0.0.1:9080", Status: "127.0.0.1:7079",
		ReloadTimeout: spec.Duration(10 * time.Second)}
	if got := *cfg.Router.Nginx; got != want {
		t.Errorf("router.nginx = %+v, want %+v", got, want)
	}
}
