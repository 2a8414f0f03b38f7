package kube

import (
	"os"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/spec"

	"k8s.io/apimachinery/pkg/util/validation"
)

// TestName: names are DNS labels, kept as they are when the version is
// one, and apart when rewriting would make two versions meet.
func TestName(t *testing.T) {
	for _, tc := range []struct{ service, version, want string }{
		{"web", "v2", "web-v2"},
		{"web", "v1-baseline", "web-v1-baseline"},
		{"web", "1.4.0", "web-1-4-0-" + hash("1.4.0")},
		{"web", "V2", "web-v2-" + hash("V2")},
		{"web", "-x-", "web-x-" + hash("-x-")},
	} {
		if got := Name(tc.service, tc.version); got != tc.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tc.service, tc.version, got, tc.want)
		}
	}
	if Name("web", "v1.2") == Name("web", "v1-2") {
		t.Errorf("v1.2 and v1-2 share the name %s", Name("web", "v1-2"))
	}
	long := strings.Repeat("a", 80)
	for _, v := range []string{long, "sha-" + long, "1.2.3+build.7", "ünïcode", "x"} {
		n := Name("a-service-with-a-rather-long-name", v)
		if errs := validation.IsDNS1035Label(n); len(errs) > 0 {
			t.Errorf("Name(.., %q) = %q: %v", v, n, errs)
		}
		if errs := validation.IsValidLabelValue(VersionLabel("web", v)); len(errs) > 0 {
			t.Errorf("VersionLabel(%q) = %q: %v", v, VersionLabel("web", v), errs)
		}
	}
	if Name("s", long) == Name("s", long+"b") {
		t.Error("two long versions cut to one name")
	}
	if got := VersionLabel("web", "1.4.0"); got != "1.4.0" {
		t.Errorf("VersionLabel(1.4.0) = %q, want it as it is", got)
	}
}

// TestConfigBoundsRequests: every request to the API server has a
// timeout (a cluster that stops answering fails a call instead of
// hanging the rollout loop); watches are left to their own end.
func TestConfigBoundsRequests(t *testing.T) {
	dir := t.TempDir()
	path := dir + "/kubeconfig"
	kc := `apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: "https://127.0.0.1:1"}}]
users: [{name: u, user: {token: t}}]
contexts: [{name: x, context: {cluster: c, user: u}}]
current-context: x
`
	if err := os.WriteFile(path, []byte(kc), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Config(spec.KubernetesConfig{Kubeconfig: path})
	if err != nil {
		t.Fatal(err)
	}
	if c.Timeout != RequestTimeout {
		t.Errorf("request timeout %v, want %v", c.Timeout, RequestTimeout)
	}
	if w := WatchConfig(c); w.Timeout != 0 || c.Timeout != RequestTimeout {
		t.Errorf("watch config timeout %v (request config's now %v), want 0 on a copy", w.Timeout, c.Timeout)
	}
}
