package kubernetes_test

import (
	"strings"
	"testing"

	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/bluejay-deploy/bluejay/internal/platform/kubernetes"
)

// TestInstancesUnknownUntilSynced pins the bug where Instances could not
// return an error, so a cache that had not seen the cluster read as "no
// instances": before the watch synced (an API server that does not
// answer), listing fails.
func TestInstancesUnknownUntilSynced(t *testing.T) {
	client, err := k8s.NewForConfig(&rest.Config{Host: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	p := kubernetes.New(client)
	defer p.Close()
	p.Configure("web", kubernetes.Config{Namespace: "ns", Image: "app", Port: 8080})
	if ins, err := p.Instances("web", "v1"); err == nil || !strings.Contains(err.Error(), "has not synced") {
		t.Fatalf("Instances before the watch synced: %v, %v; want an error", ins, err)
	}
	if _, err := p.Instances("api", "v1"); err == nil {
		t.Fatal("Instances of a service not configured: want an error, not none")
	}
}
