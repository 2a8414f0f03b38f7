package kubetest

import (
	"context"
	"os"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"k8s.io/utils/ptr"
	gatewayv1 "sigs.k8s.io/gateway-api/apis/v1"
	gatewayclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return c
}

func TestServesWithVerifiedTLSAndNamespaces(t *testing.T) {
	k := New(t)
	cfg := k.Config()
	if cfg.Insecure || len(cfg.CAData) == 0 {
		t.Errorf("Config() = Insecure %v with %d bytes of CA; want the serving cert verified", cfg.Insecure, len(cfg.CAData))
	}
	cfg.Host = "https://changed.invalid"
	if k.Config().Host == cfg.Host {
		t.Error("a change to one Config() showed in the next")
	}
	cs := k.Clientset(t)
	// Not compared with Version: a module build (scripts/kube-apiserver.sh)
	// is not stamped, and reports v0.0.0-master.
	if _, err := cs.Discovery().ServerVersion(); err != nil {
		t.Fatalf("ServerVersion(): %v", err)
	}
	a, b := k.Namespace(t), k.Namespace(t)
	if a == b {
		t.Errorf("two namespaces are both %q", a)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx(t), a, metav1.GetOptions{}); err != nil {
		t.Errorf("Get(namespace %s): %v", a, err)
	}
}

func TestKubeconfig(t *testing.T) {
	k := New(t)
	path := k.Kubeconfig(t)
	if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("Stat(%s) = %v, %v; want mode 0600", path, fi, err)
	}
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Namespaces().Get(ctx(t), "default", metav1.GetOptions{}); err != nil {
		t.Fatalf("through %s: Get(namespace default): %v", path, err)
	}
}

func TestKubeletFollowsReplicas(t *testing.T) {
	k := New(t)
	ns, cs := k.Namespace(t), k.Clientset(t)
	Kubelet(t, cs, ns, nil)
	deps := cs.AppsV1().Deployments(ns)
	d, err := deps.Create(ctx(t), deployment("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cs, ns, "web", 2, 2, corev1.ConditionTrue)

	d, err = deps.Get(ctx(t), d.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Replicas = ptr.To[int32](5)
	if _, err := deps.Update(ctx(t), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitStatus(t, cs, ns, "web", 5, 5, corev1.ConditionTrue)
}

func TestKubeletNotReady(t *testing.T) {
	k := New(t)
	ns, cs := k.Namespace(t), k.Clientset(t)
	var up atomic.Bool
	Kubelet(t, cs, ns, func(d *appsv1.Deployment) bool { return d.Name != "bad" || up.Load() })
	for _, name := range []string{"good", "bad"} {
		if _, err := cs.AppsV1().Deployments(ns).Create(ctx(t), deployment(name, 3), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	waitStatus(t, cs, ns, "good", 3, 3, corev1.ConditionTrue)
	waitStatus(t, cs, ns, "bad", 3, 0, corev1.ConditionFalse)

	// No change to the Deployment: the resync asks ready again.
	up.Store(true)
	waitStatus(t, cs, ns, "bad", 3, 3, corev1.ConditionTrue)
}

func TestHTTPRoute(t *testing.T) {
	k := New(t)
	ns := k.Namespace(t)
	gw, err := gatewayclient.NewForConfig(k.Config())
	if err != nil {
		t.Fatal(err)
	}
	route := &gatewayv1.HTTPRoute{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: gatewayv1.HTTPRouteSpec{
			CommonRouteSpec: gatewayv1.CommonRouteSpec{ParentRefs: []gatewayv1.ParentReference{{Name: "gw"}}},
			Rules: []gatewayv1.HTTPRouteRule{{BackendRefs: []gatewayv1.HTTPBackendRef{
				{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "web-stable", Port: ptr.To[gatewayv1.PortNumber](80)}, Weight: ptr.To[int32](90)}},
				{BackendRef: gatewayv1.BackendRef{BackendObjectReference: gatewayv1.BackendObjectReference{Name: "web-canary", Port: ptr.To[gatewayv1.PortNumber](80)}, Weight: ptr.To[int32](10)}},
			}}},
		},
	}
	if _, err := gw.GatewayV1().HTTPRoutes(ns).Create(ctx(t), route, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	got, err := gw.GatewayV1().HTTPRoutes(ns).Get(ctx(t), "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	refs := got.Spec.Rules[0].BackendRefs
	if len(refs) != 2 || refs[0].Name != "web-stable" || *refs[0].Weight != 90 || refs[1].Name != "web-canary" || *refs[1].Weight != 10 {
		t.Errorf("read back backendRefs %+v; want web-stable 90, web-canary 10", refs)
	}
}

// deployment returns a valid Deployment of one container; nothing runs
// it here.
func deployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: ptr.To(replicas),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "example.invalid/app:1"}}},
			},
		},
	}
}

// waitStatus polls, for up to 10s, until the Deployment's status is of
// the current generation with replicas and ready replicas and condition
// Available as given.
func waitStatus(t *testing.T, cs kubernetes.Interface, ns, name string, replicas, ready int32, available corev1.ConditionStatus) {
	t.Helper()
	c := ctx(t)
	deadline := time.Now().Add(10 * time.Second)
	var d *appsv1.Deployment
	var err error
	for {
		d, err = cs.AppsV1().Deployments(ns).Get(c, name, metav1.GetOptions{})
		if err == nil && statusIs(d, replicas, ready, available) {
			return
		}
		if time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond) // the poll interval of a deadline loop
	}
	if err != nil {
		t.Fatalf("Get(deployment %s): %v", name, err)
	}
	t.Fatalf("deployment %s (generation %d): status %+v; want observedGeneration %d, replicas = updated = %d, ready = available = %d, Available %s",
		name, d.Generation, d.Status, d.Generation, replicas, ready, available)
}

func statusIs(d *appsv1.Deployment, replicas, ready int32, available corev1.ConditionStatus) bool {
	s := d.Status
	if s.ObservedGeneration != d.Generation || s.Replicas != replicas || s.UpdatedReplicas != replicas ||
		s.ReadyReplicas != ready || s.AvailableReplicas != ready {
		return false
	}
	var avail, prog bool
	for _, c := range s.Conditions {
		avail = avail || c.Type == appsv1.DeploymentAvailable && c.Status == available
		prog = prog || c.Type == appsv1.DeploymentProgressing && c.Status == corev1.ConditionTrue
	}
	return avail && prog
}
