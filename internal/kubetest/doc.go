// Package kubetest starts a real kube-apiserver for tests: one process on
// a free loopback port, backed by an etcd of its own (etcdtest.Start),
// with a bearer token that is cluster-admin, a self-signed serving cert
// in a temporary directory, and the Gateway API standard CRDs installed
// and served. No scheduler, controller manager or kubelet runs: objects
// are stored and validated, and nothing acts on them (Kubelet stands in
// where a test needs a Deployment's status).
//
// Any package's tests can use it:
//
//	func TestMain(m *testing.M) { os.Exit(kubetest.Main(m)) } // optional: one apiserver for the binary
//
//	func TestX(t *testing.T) {
//		k := kubetest.New(t)        // skips (or fails under CI) without kube-apiserver or etcd
//		ns := k.Namespace(t)        // a namespace no other test uses
//		cs := k.Clientset(t)        // or k.Config(), or k.Kubeconfig(t) for a file
//		kubetest.Kubelet(t, cs, ns, nil) // Deployments in ns report their pods ready
//	}
//
// With Main in TestMain, New returns one apiserver shared by the whole
// test binary (started by the first New, stopped when the tests end);
// without it, New starts one for the test alone and stops it at t's
// cleanup. Starting takes a few seconds, most of it the CRDs, so a
// package with several such tests should use Main. Tests share an
// apiserver and keep apart by namespace. Namespaces are not deleted: with
// no namespace controller to empty them they would stay Terminating.
//
// The binary is $BLUEJAY_KUBE_APISERVER if set, else
// kube-apiserver-v1.36.3 in the cache scripts/kube-apiserver.sh builds
// into (${BLUEJAY_CACHE:-${XDG_CACHE_HOME:-~/.cache}/bluejay}), else
// kube-apiserver in PATH. The Gateway API CRDs come from the
// sigs.k8s.io/gateway-api module of go.mod, found with the go command. A machine without it, or without etcd, skips the test with the
// reason, unless BLUEJAY_REQUIRE_ENGINES=1 (CI), where it fails.
package kubetest
