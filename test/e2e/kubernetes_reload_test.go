package e2e

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/bluejay-deploy/bluejay/internal/kubetest"
)

// TestKubernetesConfigMapReload is examples/kubernetes/deployment.yaml
// on a real kube-apiserver: bluejay's config lives in a ConfigMap,
// mounted into a directory the way the kubelet does it (a stand-in here:
// no kubelet runs, so the test writes the volume on each change of the
// ConfigMap, with the `..data` symlink swap), and serve runs with the
// example's arguments. Editing the ConfigMap's version, as Argo CD or
// Flux would, rolls the new version out through the HTTPRoute, with
// exactly one reload for the update.
func TestKubernetesConfigMapReload(t *testing.T) {
	k := kubetest.New(t)
	ns := k.Namespace(t)
	cs := k.Clientset(t)
	gw, err := gwclient.NewForConfig(k.Config())
	if err != nil {
		t.Fatal(err)
	}
	kubetest.Kubelet(t, cs, ns, func(*appsv1.Deployment) bool { return true })
	kubetest.Gateway(t, gw, ns, nil)
	splits := followRoute(t, gw, ns)

	args, mountPath, cmName := deploymentExample(t)
	dir := t.TempDir()
	mount := filepath.Join(t.TempDir(), "etc-bluejay")
	if err := os.Mkdir(mount, 0o755); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, dir: dir, admin: freeAddr(t), token: "e2e-token", logPath: filepath.Join(t.TempDir(), "serve.log")}
	cfg := fmt.Sprintf(`admin: {listen: %s, token: %s}
store: {path: %q}
kubernetes: {kubeconfig: %q, namespace: %s}
router:
  gatewayAPI:
    parentRefs: [{name: public}]
    acceptTimeout: 10s
prometheus: {address: "http://127.0.0.1:9"}   # no analysis reads it here
services:
  - name: web
    version: v1
    platform:
      kubernetes: {image: "registry.example.com/web:{{.Version}}", port: 8080, replicas: 1}
    health: {readyTimeout: 4s}
    blueGreen: {watch: 1s, scaleDownDelay: 1s, minRequests: 0}
`, s.admin, s.token, filepath.Join(dir, "bluejay.db"), k.Kubeconfig(t), ns)
	ctx := context.Background()
	cm := &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: cmName, Namespace: ns}, Data: map[string]string{"bluejay.yaml": cfg}}
	if cm, err = cs.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stopVolume := projectConfigMap(t, cs, ns, cmName, mount)
	defer stopVolume()

	// serve with the example's arguments, its mount path moved to ours.
	for i, a := range args {
		args[i] = strings.Replace(a, mountPath, mount, 1)
	}
	if len(args) < 3 || args[0] != "serve" || args[1] != "-c" {
		t.Fatalf("the example runs %q, want serve -c FILE ...", args)
	}
	s.config, s.serveArgs = args[2], args[3:]
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
	splits.wait(t, "web-v1:8080=100")

	// What a GitOps tool does: change the version in the ConfigMap.
	cm.Data["bluejay.yaml"] = strings.Replace(cfg, "version: v1", "version: v2", 1)
	if _, err := cs.CoreV1().ConfigMaps(ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	s.waitStatus("a rollout of v2 Completed", 60*time.Second, func(st status) bool {
		return st.Rollout.To.Label == "v2" && st.Rollout.Phase == "Completed"
	})
	splits.wait(t, "web-v2:8080=100")
	log, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(string(log), "the config file changed: reloading"); n != 1 {
		t.Errorf("one ConfigMap update made %d reloads, want 1", n)
	}
}

// deploymentExample reads examples/kubernetes/deployment.yaml: bluejay's
// arguments, where the config volume is mounted, and its ConfigMap.
func deploymentExample(t *testing.T) (args []string, mountPath, configMap string) {
	t.Helper()
	data, err := os.ReadFile("../../examples/kubernetes/deployment.yaml")
	if err != nil {
		t.Fatal(err)
	}
	obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(data, nil, nil)
	if err != nil {
		t.Fatalf("decoding deployment.yaml: %v", err)
	}
	d, ok := obj.(*appsv1.Deployment)
	if !ok {
		t.Fatalf("deployment.yaml holds a %T", obj)
	}
	spec := d.Spec.Template.Spec
	c := spec.Containers[0]
	for _, v := range spec.Volumes {
		for _, m := range c.VolumeMounts {
			if m.Name == v.Name && v.ConfigMap != nil {
				return append([]string(nil), c.Args...), m.MountPath, v.ConfigMap.Name
			}
		}
	}
	t.Fatal("deployment.yaml mounts no ConfigMap into bluejay's container")
	return nil, "", ""
}

// projectConfigMap stands in for the kubelet's ConfigMap volume: it
// writes the ConfigMap's keys into dir at once and again on each change
// it polls for, the kubelet's way (a new timestamped directory, a
// `..data_tmp` symlink renamed over `..data`, each key a symlink into
// ..data, the old directory removed).
func projectConfigMap(t *testing.T, cs k8s.Interface, ns, name, dir string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	gen := 0
	write := func(cm *corev1.ConfigMap) error {
		gen++
		ts := fmt.Sprintf("..2026_12_07_04_%02d_00.%09d", gen%60, gen)
		if err := os.Mkdir(filepath.Join(dir, ts), 0o755); err != nil {
			return err
		}
		for k, v := range cm.Data {
			if err := os.WriteFile(filepath.Join(dir, ts, k), []byte(v), 0o644); err != nil {
				return err
			}
		}
		old, _ := os.Readlink(filepath.Join(dir, "..data"))
		if err := os.Symlink(ts, filepath.Join(dir, "..data_tmp")); err != nil {
			return err
		}
		if err := os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")); err != nil {
			return err
		}
		for k := range cm.Data {
			if _, err := os.Lstat(filepath.Join(dir, k)); os.IsNotExist(err) {
				if err := os.Symlink(filepath.Join("..data", k), filepath.Join(dir, k)); err != nil {
					return err
				}
			}
		}
		if old != "" {
			return os.RemoveAll(filepath.Join(dir, old))
		}
		return nil
	}
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := write(cm); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		rv := cm.ResourceVersion
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(100 * time.Millisecond): // the kubelet's sync period, shortened
			}
			cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil || cm.ResourceVersion == rv {
				continue
			}
			rv = cm.ResourceVersion
			if err := write(cm); err != nil {
				t.Errorf("writing the ConfigMap volume: %v", err)
				return
			}
		}
	}()
	return func() { cancel(); <-done }
}
