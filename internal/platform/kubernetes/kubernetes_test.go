package kubernetes_test

import (
	"context"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"

	"github.com/bluejay-deploy/bluejay/internal/kube"
	"github.com/bluejay-deploy/bluejay/internal/kubetest"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/kubernetes"
)

// These tests run against a real kube-apiserver (internal/kubetest). No
// kubelet or deployment controller runs there, so kubetest.Kubelet writes
// the Deployments' status as those would once the pods are up, as
// controller-runtime's envtest has tests do.

func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) }

func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(context.Background(), time.Minute)
	t.Cleanup(cancel)
	return c
}

// setup returns a started platform configured for service web in a
// fresh namespace, with the clientset to look at what it wrote.
func setup(t *testing.T, cfg kubernetes.Config) (*kubernetes.Platform, k8s.Interface, string) {
	t.Helper()
	s := kubetest.New(t)
	cs := s.Clientset(t)
	ns := s.Namespace(t)
	cfg.Namespace = ns
	p := kubernetes.New(cs)
	p.Configure("web", cfg)
	if err := p.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return p, cs, ns
}

var webConfig = kubernetes.Config{
	Image: "registry.example.com/{{.Service}}:{{.Version}}", Port: 8080, Replicas: 2,
	Args: []string{"--name={{.Service}}"}, Env: map[string]string{"VERSION": "{{.Version}}"},
	Requests: map[string]string{"cpu": "100m"}, Limits: map[string]string{"memory": "128Mi"},
	StopGrace: 20 * time.Second, ProgressDeadline: 90 * time.Second,
	Probe: kubernetes.Probe{Path: "/healthz", Period: 1500 * time.Millisecond, Timeout: time.Second, Success: 2, Failure: 3},
}

// poll waits for cond, failing t after a deadline.
func poll(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func ready(ins []platform.Instance) (n int) {
	for _, in := range ins {
		if in.Ready {
			n++
		}
	}
	return n
}

// TestDeployWritesDeploymentAndService: a version becomes a Deployment
// and a Service named web-v2, labelled, with the image, args, env,
// resources, probe and grace rendered; its instances are unready until
// the pods are, then ready; Deploy is idempotent.
func TestDeployWritesDeploymentAndService(t *testing.T) {
	p, cs, ns := setup(t, webConfig)
	var up atomic.Bool
	kubetest.Kubelet(t, cs, ns, func(*appsv1.Deployment) bool { return up.Load() })

	v := platform.Version{Service: "web", Label: "v2", Args: []string{"--fail=0.5"}}
	if err := p.Deploy(ctx(t), v); err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx(t), "web-v2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if d.Labels[kube.LabelService] != "web" || d.Labels[kube.LabelVersion] != "v2" || d.Labels[kube.LabelManagedBy] != "bluejay" {
		t.Errorf("labels = %v", d.Labels)
	}
	if *d.Spec.Replicas != 2 {
		t.Errorf("replicas = %d, want 2", *d.Spec.Replicas)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if c.Image != "registry.example.com/web:v2" || strings.Join(c.Args, " ") != "--name=web --fail=0.5" {
		t.Errorf("image %q args %q", c.Image, c.Args)
	}
	if len(c.Env) != 1 || c.Env[0].Name != "VERSION" || c.Env[0].Value != "v2" {
		t.Errorf("env = %v", c.Env)
	}
	if c.Resources.Requests.Cpu().String() != "100m" || c.Resources.Limits.Memory().String() != "128Mi" {
		t.Errorf("resources = %v", c.Resources)
	}
	rp := c.ReadinessProbe
	if rp == nil || rp.HTTPGet.Path != "/healthz" || rp.HTTPGet.Port.StrVal != "http" || rp.PeriodSeconds != 2 ||
		rp.TimeoutSeconds != 1 || rp.SuccessThreshold != 2 || rp.FailureThreshold != 3 {
		t.Errorf("readiness probe = %+v", rp)
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds != 20 {
		t.Errorf("grace = %v", pod.TerminationGracePeriodSeconds)
	}
	if pd := d.Spec.ProgressDeadlineSeconds; pd == nil || *pd != 90 {
		t.Errorf("progressDeadlineSeconds = %v, want 90", pd)
	}
	svc, err := cs.CoreV1().Services(ns).Get(ctx(t), "web-v2", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if svc.Spec.Selector[kube.LabelVersion] != "v2" || svc.Spec.Ports[0].Port != 8080 || svc.Spec.Ports[0].TargetPort.StrVal != "http" {
		t.Errorf("service = %+v", svc.Spec)
	}

	ins := instancesOf(t, p, "web", "v2")
	if len(ins) != 2 || ins[0].ID != "web-v2-0" || ins[1].Addr != "web-v2."+ns+".svc:8080" || ready(ins) != 0 {
		t.Fatalf("instances before the pods are up = %+v", ins)
	}
	up.Store(true)
	poll(t, "both instances ready", func() bool { return ready(instancesOf(t, p, "web", "v2")) == 2 })

	gen := d.Generation
	if err := p.Deploy(ctx(t), v); err != nil {
		t.Fatal(err)
	}
	if d, _ := cs.AppsV1().Deployments(ns).Get(ctx(t), "web-v2", metav1.GetOptions{}); d.Generation != gen {
		t.Errorf("deploying again changed the Deployment: generation %d → %d", gen, d.Generation)
	}
	if instancesOf(t, p, "web", "v9") != nil {
		t.Error("a version never deployed has instances")
	}
}

// TestScaleAndStop: Deploy with replicas scales the Deployment (up and
// down) and Instances follows; Stop deletes the Deployment and the
// Service, and stopping again is not an error.
func TestScaleAndStop(t *testing.T) {
	p, cs, ns := setup(t, webConfig)
	kubetest.Kubelet(t, cs, ns, nil)
	v := platform.Version{Service: "web", Label: "v1", Replicas: 4}
	if err := p.Deploy(ctx(t), v); err != nil {
		t.Fatal(err)
	}
	poll(t, "4 ready", func() bool { return ready(instancesOf(t, p, "web", "v1")) == 4 })
	v.Replicas = 1
	if err := p.Deploy(ctx(t), v); err != nil {
		t.Fatal(err)
	}
	if n := len(instancesOf(t, p, "web", "v1")); n != 1 {
		t.Errorf("after scaling to 1: %d instances", n)
	}
	poll(t, "1 ready", func() bool { return ready(instancesOf(t, p, "web", "v1")) == 1 })

	// The config changes (a new image template): v1 keeps its build, and
	// only its replicas move.
	cfg := webConfig
	cfg.Namespace, cfg.Image = ns, "registry.example.com/other:{{.Version}}"
	p.Configure("web", cfg)
	v.Replicas = 3
	if err := p.Deploy(ctx(t), v); err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments(ns).Get(ctx(t), "web-v1", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if img := d.Spec.Template.Spec.Containers[0].Image; img != "registry.example.com/web:v1" || *d.Spec.Replicas != 3 {
		t.Errorf("after scaling with another config: image %s, replicas %d; want web:v1 and 3", img, *d.Spec.Replicas)
	}

	if err := p.Stop(ctx(t), "web", "v1"); err != nil {
		t.Fatal(err)
	}
	if ins := instancesOf(t, p, "web", "v1"); ins != nil {
		t.Errorf("instances after Stop: %v", ins)
	}
	if _, err := cs.AppsV1().Deployments(ns).Get(ctx(t), "web-v1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("deployment after Stop: %v", err)
	}
	if _, err := cs.CoreV1().Services(ns).Get(ctx(t), "web-v1", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Errorf("service after Stop: %v", err)
	}
	if err := p.Stop(ctx(t), "web", "v1"); err != nil {
		t.Errorf("stopping again: %v", err)
	}
}

// TestFailedDeploymentExits: a Deployment whose progress deadline passed
// reports its unready instances exited, with the condition's reason, so
// that the rollout fails with Kubernetes' reason. A ReplicaFailure (often
// over in a moment) and a condition about an older generation do not.
func TestFailedDeploymentExits(t *testing.T) {
	p, cs, ns := setup(t, webConfig)
	if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v3"}); err != nil {
		t.Fatal(err)
	}
	deps := cs.AppsV1().Deployments(ns)
	d, err := deps.Get(ctx(t), "web-v3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	setStatus := func(st appsv1.DeploymentStatus) {
		t.Helper()
		d, err := deps.Get(ctx(t), "web-v3", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		d.Status = st
		if _, err := deps.UpdateStatus(ctx(t), d, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	// A quota refusal during a surge: not a failure by itself.
	setStatus(appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 1, UpdatedReplicas: 1, ReadyReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentReplicaFailure, Status: corev1.ConditionTrue,
			Reason: "FailedCreate", Message: "exceeded quota"}}})
	poll(t, "one ready instance", func() bool { return ready(instancesOf(t, p, "web", "v3")) == 1 })
	for _, in := range instancesOf(t, p, "web", "v3") {
		if in.State != platform.StateRunning {
			t.Errorf("a ReplicaFailure made %s %s (%s)", in.ID, in.State, in.LastExit)
		}
	}
	// A failed condition about an older generation: not yet this spec's.
	setStatus(appsv1.DeploymentStatus{ObservedGeneration: d.Generation - 1, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 0,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: "old"}}})
	poll(t, "no ready instance", func() bool { return ready(instancesOf(t, p, "web", "v3")) == 0 })
	for _, in := range instancesOf(t, p, "web", "v3") {
		if in.State != platform.StateRunning {
			t.Errorf("an older generation's condition made %s %s (%s)", in.ID, in.State, in.LastExit)
		}
	}
	d, err = deps.Get(ctx(t), "web-v3", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// As the deployment controller writes it when pods crash-loop past
	// progressDeadlineSeconds: one of two pods ready.
	d.Status = appsv1.DeploymentStatus{ObservedGeneration: d.Generation, Replicas: 2, UpdatedReplicas: 2, ReadyReplicas: 1,
		Conditions: []appsv1.DeploymentCondition{{Type: appsv1.DeploymentProgressing, Status: corev1.ConditionFalse,
			Reason: "ProgressDeadlineExceeded", Message: `ReplicaSet "web-v3-5d9" has timed out progressing.`}}}
	if _, err := deps.UpdateStatus(ctx(t), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, "an exited instance", func() bool {
		ins := instancesOf(t, p, "web", "v3")
		return len(ins) == 2 && ins[1].State == platform.StateExited
	})
	ins := instancesOf(t, p, "web", "v3")
	if !ins[0].Ready || ins[0].State != platform.StateRunning {
		t.Errorf("the ready pod's instance = %+v", ins[0])
	}
	if !strings.Contains(ins[1].LastExit, "ProgressDeadlineExceeded") || !strings.Contains(ins[1].LastExit, "timed out progressing") {
		t.Errorf("last exit = %q", ins[1].LastExit)
	}
}

// TestRestartSeesRunningVersions: a new platform (bluejay restarted)
// lists the Deployments the last one made from its first Instances, and
// a service it was not told about is an error, not a panic.
func TestRestartSeesRunningVersions(t *testing.T) {
	p, cs, ns := setup(t, webConfig)
	kubetest.Kubelet(t, cs, ns, nil)
	if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v1"}); err != nil {
		t.Fatal(err)
	}
	poll(t, "v1 ready", func() bool { return ready(instancesOf(t, p, "web", "v1")) == 2 })
	p.Close()

	cfg := webConfig
	cfg.Namespace = ns
	q := kubernetes.New(cs)
	q.Configure("web", cfg)
	if err := q.Start(ctx(t)); err != nil {
		t.Fatal(err)
	}
	defer q.Close()
	if n := ready(instancesOf(t, q, "web", "v1")); n != 2 {
		t.Errorf("after a restart: %d ready instances, want 2", n)
	}
	if err := q.Deploy(ctx(t), platform.Version{Service: "api", Label: "v1"}); err == nil {
		t.Error("deploying an unconfigured service succeeded")
	}
}

// TestOddVersionLabels: versions that are not DNS labels get valid,
// distinct names, and the raw version rides in an annotation.
func TestOddVersionLabels(t *testing.T) {
	p, cs, ns := setup(t, webConfig)
	for _, v := range []string{"1.4.0", "1-4-0", "Sha+abc"} {
		if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: v}); err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		name := kube.Name("web", v)
		d, err := cs.AppsV1().Deployments(ns).Get(ctx(t), name, metav1.GetOptions{})
		if err != nil {
			t.Fatalf("%s: %v", v, err)
		}
		if d.Annotations[kube.AnnotationVersion] != v {
			t.Errorf("%s: annotation %q", v, d.Annotations[kube.AnnotationVersion])
		}
		if len(instancesOf(t, p, "web", v)) != 2 {
			t.Errorf("%s: no instances", v)
		}
	}
}

// TestNamesOfAnotherServiceAreNotTaken: web's v1-x and web-v1's x are
// both web-v1-x; a deploy that would take over the other service's
// objects is refused, and so is a stop that would delete them. An object
// bluejay did not make is not taken either.
func TestNamesOfAnotherServiceAreNotTaken(t *testing.T) {
	p, cs, ns := setup(t, webConfig)
	cfg := webConfig
	cfg.Namespace = ns
	p.Configure("web-v1", cfg)
	if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v1-x"}); err != nil {
		t.Fatal(err)
	}
	err := p.Deploy(ctx(t), platform.Version{Service: "web-v1", Label: "x"})
	if err == nil || !strings.Contains(err.Error(), "belongs to version v1-x of service web") {
		t.Errorf("deploying over another service's objects: %v", err)
	}
	if err := p.Stop(ctx(t), "web-v1", "x"); err == nil {
		t.Error("stopping deleted another service's objects")
	}
	if d, err := cs.AppsV1().Deployments(ns).Get(ctx(t), "web-v1-x", metav1.GetOptions{}); err != nil || d.Labels[kube.LabelService] != "web" {
		t.Errorf("web's deployment after the refusals: %v, %v", d.Labels, err)
	}
	foreign := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "web-v7", Namespace: ns},
		Spec: corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}}}
	if _, err := cs.CoreV1().Services(ns).Create(ctx(t), foreign, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if err := p.Deploy(ctx(t), platform.Version{Service: "web", Label: "v7"}); err == nil || !strings.Contains(err.Error(), "not bluejay's") {
		t.Errorf("deploying over a service bluejay did not make: %v", err)
	}
}
