package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	gwv1 "sigs.k8s.io/gateway-api/apis/v1"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/bluejay-deploy/bluejay/internal/kube"
	"github.com/bluejay-deploy/bluejay/internal/kubetest"
)

// TestKubernetesCanaryThroughGatewayAPI runs `bluejay serve` on a real
// kube-apiserver with the kubernetes platform and the Gateway API
// router. No kubelet, deployment controller or Gateway runs there, so
// kubetest.Kubelet writes the Deployments' status as they would once the
// pods are up (or never ready, for a broken version), and
// kubetest.Gateway accepts the routes as a Gateway controller would
// once it programmed them. The test follows the HTTPRoute as a Gateway
// sees it, and checks:
//   - a healthy canary moves 20 → 60 → 100 through the route's weights,
//     and the old version's Deployment is deleted after it;
//   - a version whose pods never become ready fails before the route
//     ever names it, and its Deployment is deleted;
//   - a canary whose pods stop being ready mid-rollout is rolled back:
//     the route goes back to the stable version alone;
//   - a rolling update scales the new Deployment up and the old down a
//     pod at a time, and an earlier version can come back the same way.
func TestKubernetesCanaryThroughGatewayAPI(t *testing.T) {
	k := kubetest.New(t)
	ns := k.Namespace(t)
	cs := k.Clientset(t)
	gw, err := gwclient.NewForConfig(k.Config())
	if err != nil {
		t.Fatal(err)
	}
	var v4Ready, v2Held atomic.Bool
	v4Ready.Store(true)
	kubetest.Kubelet(t, cs, ns, func(d *appsv1.Deployment) bool {
		switch d.Labels[kube.LabelVersion] {
		case "v3":
			return false // never ready: a broken build
		case "v4":
			return v4Ready.Load()
		case "v2":
			return !v2Held.Load()
		}
		return true
	})
	kubetest.Gateway(t, gw, ns, nil)
	splits := followRoute(t, gw, ns)

	s := startKubeServer(t, k.Kubeconfig(t), ns)
	splits.wait(t, "web-v1:8080=100")

	t.Run("healthy canary", func(t *testing.T) {
		s := s.on(t)
		mark := splits.mark()
		s.mustCLI(0, "deploy", "web", "v2", "--wait")
		got := splits.since(mark)
		for _, want := range []string{"web-v2:8080=20 web-v1:8080=80", "web-v2:8080=60 web-v1:8080=40", "web-v2:8080=100"} {
			if !slices.ContainsFunc(got, func(s string) bool { return strings.HasPrefix(s, want) }) {
				t.Errorf("the route never split %s; it went %q", want, got)
			}
		}
		waitKubeGone(t, cs, ns, "web-v1")
	})

	t.Run("never ready", func(t *testing.T) {
		s := s.on(t)
		mark := splits.mark()
		r := s.cli("deploy", "web", "v3", "--wait")
		if r.code == 0 {
			t.Fatalf("a version that is never ready completed:\n%s", r)
		}
		ro := s.rolloutTo("v3")
		t.Logf("v3: %s: %s", ro.Phase, ro.Reason)
		for _, sp := range splits.since(mark) {
			if strings.Contains(sp, "web-v3") {
				t.Errorf("the route named v3, which was never ready: %s", sp)
			}
		}
		waitKubeGone(t, cs, ns, "web-v3")
		splits.wait(t, "web-v2:8080=100")
	})

	t.Run("unready mid-canary", func(t *testing.T) {
		s := s.on(t)
		mark := splits.mark()
		d := s.cliBackground("deploy", "web", "v4", "--wait")
		splits.wait(t, "web-v4:8080=20 web-v2:8080=80")
		v4Ready.Store(false)
		r := d.wait()
		if r.code == 0 {
			t.Fatalf("a canary that lost readiness completed:\n%s", r)
		}
		ro := s.rolloutTo("v4")
		t.Logf("v4: %s: %s", ro.Phase, ro.Reason)
		if ro.Phase != "RolledBack" || !strings.Contains(ro.Reason, "not ready") {
			t.Errorf("v4 ended %s: %q; want RolledBack for instances not ready", ro.Phase, ro.Reason)
		}
		splits.wait(t, "web-v2:8080=100")
		got := splits.since(mark)
		if slices.ContainsFunc(got, func(s string) bool { return strings.Contains(s, "web-v4:8080=60") }) {
			t.Errorf("the canary went on to 60%% after losing readiness: %q", got)
		}
		waitKubeGone(t, cs, ns, "web-v4")
	})

	t.Run("rolling", func(t *testing.T) {
		s := s.on(t)
		// Follow both Deployments' replicas while the rollout runs.
		var mu sync.Mutex
		var seen []string
		stop := make(chan struct{})
		done := make(chan struct{})
		go func() {
			defer close(done)
			last := ""
			for {
				cur := fmt.Sprintf("v2=%d v5=%d", replicas(cs, ns, "web-v2"), replicas(cs, ns, "web-v5"))
				if cur != last {
					mu.Lock()
					seen = append(seen, cur)
					mu.Unlock()
					last = cur
				}
				select {
				case <-stop:
					return
				case <-time.After(20 * time.Millisecond): // sampling the replicas
				}
			}
		}()
		s.mustCLI(0, "deploy", "web", "v5", "--strategy", "rolling", "--wait")
		close(stop)
		<-done
		t.Logf("replicas as the rolling update went: %q", seen)
		// Two replicas, one surge: v5 scales up by one while v2 scales down.
		for _, want := range []string{"v2=2 v5=1", "v2=1 v5=2"} {
			if !slices.Contains(seen, want) {
				t.Errorf("the rolling update never had %s; it went %q", want, seen)
			}
		}
		waitKubeGone(t, cs, ns, "web-v2")
		splits.wait(t, "web-v5:8080=100")
	})

	// v2 comes back: its Deployment and pod indexes are the ones it had,
	// and none may count as an instance that lost its readiness.
	t.Run("an earlier version again", func(t *testing.T) {
		s := s.on(t)
		v2Held.Store(true) // its first pod starts unready, as pods do
		d := s.cliBackground("deploy", "web", "v2", "--strategy", "rolling", "--wait")
		s.waitStatus("v2's first pod up, not ready yet", 20*time.Second, func(st status) bool {
			return slices.ContainsFunc(st.Instances, func(in instance) bool { return in.Version == "v2" && !in.Ready })
		})
		v2Held.Store(false)
		if r := d.wait(); r.code != 0 {
			t.Fatalf("v2 again: want exit 0, got:\n%s", r)
		}
		waitKubeGone(t, cs, ns, "web-v5")
		splits.wait(t, "web-v2:8080=100")
	})
}

// replicas reads a Deployment's desired replicas, -1 when it is gone.
func replicas(cs k8s.Interface, ns, name string) int32 {
	d, err := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
	if err != nil || d.Spec.Replicas == nil {
		return -1
	}
	return *d.Spec.Replicas
}

// startKubeServer starts `bluejay serve` for service web on the
// kubernetes platform in ns, routed by the Gateway API router, with the
// cluster of kubeconfig, and waits until v1 is Completed.
func startKubeServer(t *testing.T, kubeconfig, ns string) *server {
	t.Helper()
	dir := t.TempDir()
	s := &server{t: t, dir: dir, proxy: "", admin: freeAddr(t), token: "e2e-token", logPath: filepath.Join(t.TempDir(), "serve.log")}
	s.config = filepath.Join(dir, "bluejay.yaml")
	cfg := fmt.Sprintf(`admin: {listen: %s, token: %s}
store: {path: %q}
kubernetes: {kubeconfig: %q, namespace: %s}
router:
  gatewayAPI:
    parentRefs: [{name: public}]
    acceptTimeout: 10s
prometheus: {address: "http://127.0.0.1:9"}   # no analysis step reads it here
services:
  - name: web
    version: v1
    platform:
      kubernetes: {image: "registry.example.com/web:{{.Version}}", port: 8080, replicas: 2}
    health: {readyTimeout: 4s}
    strategy: canary
    rolling: {minHealthyTime: 300ms}
    canary:
      analysis: prometheus
      scaleDownDelay: 1s
      abortScaleDownDelay: 1s
      steps:
        - setWeight: 20
        - pause: {duration: 1s}
        - setWeight: 60
        - pause: {duration: 1s}
        - setWeight: 100
`, s.admin, s.token, filepath.Join(dir, "bluejay.db"), kubeconfig, ns)
	if err := os.WriteFile(s.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		s.stopAtCleanup()
		if t.Failed() {
			s.dumpLogs()
		}
	})
	s.start()
	s.waitStatus("v1 Completed", 30*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v1" && st.Rollout.Phase == "Completed"
	})
	return s
}

// routeLog records every split a route goes through, as a Gateway
// following it would see them.
type routeLog struct {
	mu     sync.Mutex
	splits []string
	change chan struct{}
}

// followRoute watches the web route in ns until the test ends.
func followRoute(t *testing.T, gw gwclient.Interface, ns string) *routeLog {
	l := &routeLog{change: make(chan struct{}, 1)}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ctx.Err() == nil {
			w, err := gw.GatewayV1().HTTPRoutes(ns).Watch(ctx, metav1.ListOptions{FieldSelector: "metadata.name=web"})
			if err != nil {
				continue
			}
			for ev := range w.ResultChan() {
				if hr, ok := ev.Object.(*gwv1.HTTPRoute); ok {
					l.add(split(hr))
				}
			}
			w.Stop()
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return l
}

// split renders the route's weighted rule: "web-v2:8080=20 web-v1:8080=80".
func split(hr *gwv1.HTTPRoute) string {
	rules := hr.Spec.Rules
	if len(rules) == 0 {
		return ""
	}
	var out []string
	for _, b := range rules[len(rules)-1].BackendRefs {
		out = append(out, fmt.Sprintf("%s:%d=%d", b.Name, *b.Port, *b.Weight))
	}
	return strings.Join(out, " ")
}

func (l *routeLog) add(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if n := len(l.splits); n > 0 && l.splits[n-1] == s {
		return
	}
	l.splits = append(l.splits, s)
	select {
	case l.change <- struct{}{}:
	default:
	}
}

func (l *routeLog) mark() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.splits)
}

func (l *routeLog) since(mark int) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.splits[mark:])
}

// wait waits until the route's latest split is want.
func (l *routeLog) wait(t *testing.T, want string) {
	t.Helper()
	deadline := time.After(30 * time.Second)
	for {
		l.mu.Lock()
		n := len(l.splits)
		last := ""
		if n > 0 {
			last = l.splits[n-1]
		}
		l.mu.Unlock()
		if last == want {
			return
		}
		select {
		case <-l.change:
		case <-deadline:
			t.Fatalf("the route never split %s; it went %q", want, l.since(0))
		}
	}
}

// waitKubeGone waits until the Deployment and Service name are deleted.
func waitKubeGone(t *testing.T, cs k8s.Interface, ns, name string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		_, errD := cs.AppsV1().Deployments(ns).Get(context.Background(), name, metav1.GetOptions{})
		_, errS := cs.CoreV1().Services(ns).Get(context.Background(), name, metav1.GetOptions{})
		if apierrors.IsNotFound(errD) && apierrors.IsNotFound(errS) {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("deployment/service %s still there: %v, %v", name, errD, errS)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
