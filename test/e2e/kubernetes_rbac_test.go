package e2e

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"strings"
	"testing"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilyaml "k8s.io/apimachinery/pkg/util/yaml"
	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/tools/clientcmd"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/bluejay-deploy/bluejay/internal/kubetest"
)

// TestKubernetesRBAC: examples/kubernetes/rbac.yaml grants what bluejay
// needs, and no more is assumed. Against an API server that enforces
// RBAC, `bluejay serve` runs as the example's service account (a token
// from the TokenRequest API), deploys v1 and takes a canary of v2 to
// Completed through the HTTPRoute; without the role binding the same
// account is refused. (As in TestKubernetesCanaryThroughGatewayAPI, the
// kubelet and the Gateway are stand-ins, running as the admin.)
func TestKubernetesRBAC(t *testing.T) {
	k := kubetest.NewRBAC(t)
	admin := k.Clientset(t)
	ns := k.Namespace(t)
	objs := rbacExample(t, ns)

	// The account alone may do nothing here.
	if _, err := admin.CoreV1().ServiceAccounts(ns).Create(context.Background(), objs.account, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	tr, err := admin.CoreV1().ServiceAccounts(ns).CreateToken(context.Background(), objs.account.Name,
		&authenticationv1.TokenRequest{Spec: authenticationv1.TokenRequestSpec{}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	kubeconfig := k.KubeconfigToken(t, tr.Status.Token)
	rc, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	as := k8s.NewForConfigOrDie(rc)
	if _, err := as.AppsV1().Deployments(ns).List(context.Background(), metav1.ListOptions{}); !apierrors.IsForbidden(err) {
		t.Fatalf("the account without its role listed deployments: %v; RBAC is not enforced", err)
	}

	if _, err := admin.RbacV1().Roles(ns).Create(context.Background(), objs.role, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := admin.RbacV1().RoleBindings(ns).Create(context.Background(), objs.binding, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	gw, err := gwclient.NewForConfig(k.Config())
	if err != nil {
		t.Fatal(err)
	}
	kubetest.Kubelet(t, admin, ns, nil)
	kubetest.Gateway(t, gw, ns, nil)
	splits := followRoute(t, gw, ns)

	s := startKubeServer(t, kubeconfig, ns)
	splits.wait(t, "web-v1:8080=100")
	s.mustCLI(0, "deploy", "web", "v2", "--wait")
	splits.wait(t, "web-v2:8080=100")
	waitKubeGone(t, admin, ns, "web-v1")
	// A refused call bluejay survives (a watch it may not make, say) is
	// still a permission the example lacks.
	log, err := os.ReadFile(s.logPath)
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(log)) {
		if strings.Contains(line, "level=ERROR") || strings.Contains(line, "forbidden") {
			t.Errorf("serve, as the example's account, logged: %s", line)
		}
	}
}

// rbacObjects are the example's objects.
type rbacObjects struct {
	account *corev1.ServiceAccount
	role    *rbacv1.Role
	binding *rbacv1.RoleBinding
}

// rbacExample decodes examples/kubernetes/rbac.yaml, moved to ns.
func rbacExample(t *testing.T, ns string) rbacObjects {
	t.Helper()
	data, err := os.ReadFile("../../examples/kubernetes/rbac.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var out rbacObjects
	r := utilyaml.NewYAMLReader(bufio.NewReader(bytes.NewReader(data)))
	for {
		doc, err := r.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(bytes.TrimSpace(doc)) == 0 {
			continue
		}
		obj, _, err := scheme.Codecs.UniversalDeserializer().Decode(doc, nil, nil)
		if err != nil {
			t.Fatalf("decoding rbac.yaml: %v", err)
		}
		setNamespace(obj, ns)
		switch o := obj.(type) {
		case *corev1.ServiceAccount:
			out.account = o
		case *rbacv1.Role:
			out.role = o
		case *rbacv1.RoleBinding:
			for i := range o.Subjects {
				o.Subjects[i].Namespace = ns
			}
			out.binding = o
		default:
			t.Fatalf("rbac.yaml holds a %T", obj)
		}
	}
	if out.account == nil || out.role == nil || out.binding == nil {
		t.Fatalf("rbac.yaml lacks an account, a role or a binding: %+v", out)
	}
	return out
}

func setNamespace(obj runtime.Object, ns string) {
	if m, ok := obj.(metav1.Object); ok {
		m.SetNamespace(ns)
	}
}
