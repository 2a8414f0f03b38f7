package spec_test

import (
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestExampleKubernetesConfig: examples/kubernetes/bluejay.yaml stays
// valid, with the platform's and the router's defaults applied.
func TestExampleKubernetesConfig(t *testing.T) {
	cfg, err := spec.Load("../../examples/kubernetes/bluejay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	g := cfg.Router.GatewayAPI
	if g == nil || len(g.ParentRefs) != 1 || g.ParentRefs[0].Name != "public" || g.AcceptTimeout.D() != 30*time.Second {
		t.Errorf("router.gatewayAPI = %+v", g)
	}
	s := cfg.Services[0]
	k := s.Platform.Kubernetes
	if k == nil || k.Port != 8080 || k.Replicas != 3 || k.StopGrace.D() != 30*time.Second || s.Replicas() != 3 {
		t.Errorf("platform.kubernetes = %+v", k)
	}
	if ns := cfg.Kubernetes.NamespaceOf(&s); ns != "shop" {
		t.Errorf("namespace = %q, want shop", ns)
	}
	if cfg.Router.Name() != "gatewayAPI" {
		t.Errorf("router = %s", cfg.Router.Name())
	}
}

// TestKubernetesDefaults: a platform with only an image gets the
// documented defaults, in the default namespace, and the kubeconfig
// resolves against the config's directory.
func TestKubernetesDefaults(t *testing.T) {
	cfg, err := spec.Parse("/srv/bluejay/bluejay.yaml", []byte(`
admin: {token: s3cret}
kubernetes: {kubeconfig: kube/config}
services:
  - name: web
    version: v1
    platform: {kubernetes: {image: "web:{{.Version}}", namespace: web}}
  - name: api
    match: {pathPrefix: /api/}
    version: v1
    platform: {kubernetes: {image: "api:{{.Version}}"}}
`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Kubernetes.Kubeconfig != "/srv/bluejay/kube/config" || cfg.Kubernetes.Namespace != "default" {
		t.Errorf("kubernetes = %+v", cfg.Kubernetes)
	}
	k := cfg.Services[0].Platform.Kubernetes
	if k.Port != 8080 || k.Replicas != 1 || k.StopGrace.D() != 30*time.Second {
		t.Errorf("platform.kubernetes = %+v", k)
	}
	if ns := cfg.Kubernetes.NamespaceOf(&cfg.Services[0]); ns != "web" {
		t.Errorf("web's namespace = %q", ns)
	}
	if ns := cfg.Kubernetes.NamespaceOf(&cfg.Services[1]); ns != "default" {
		t.Errorf("api's namespace = %q", ns)
	}
}
