package kubetest

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
	"github.com/bluejay-deploy/bluejay/internal/etcdtest"
)

// Version is the Kubernetes release whose kube-apiserver the tests run,
// the one scripts/kube-apiserver.sh builds by default.
const Version = "v1.36.3"

// BinaryEnv names the environment variable that points at a
// kube-apiserver binary, ahead of the cache and PATH.
const BinaryEnv = "BLUEJAY_KUBE_APISERVER"

// startTimeout bounds how long a new kube-apiserver may take to report
// ready on /readyz (about 2s here; a loaded CI machine is slower).
const startTimeout = 60 * time.Second

// ErrNotInstalled is the error of Start when no kube-apiserver binary is
// found.
var ErrNotInstalled = errors.New("kube-apiserver " + Version + " not found (build it with scripts/kube-apiserver.sh, or set " + BinaryEnv + ")")

// Server is a running kube-apiserver and the etcd behind it.
type Server struct {
	// Dir holds kube-apiserver.log, the token file, the service-account
	// key pair, and certs/ with the self-signed serving cert.
	Dir string

	host  string // https://127.0.0.1:port
	token string // bearer token of a system:masters user
	ca    []byte // PEM bundle the serving cert verifies against

	authz string // --authorization-mode

	etcd *etcdtest.Server
	cmd  *exec.Cmd
	done chan struct{}
	err  error // of cmd.Wait, once done is closed
	seq  atomic.Int64
}

// Start runs an etcd (etcdtest.Start) and a kube-apiserver on a free
// loopback port in a new temporary directory, waits until /readyz
// passes, then installs the Gateway API standard CRDs and waits until
// they are established and served. A start that loses its port to
// another process is retried.
func Start() (*Server, error) { return StartWith(Options{}) }

// Options tune a Server.
type Options struct {
	// RBAC enforces role-based access control (--authorization-mode=RBAC)
	// instead of allowing everything; the admin token stays in
	// system:masters, which RBAC lets do anything.
	RBAC bool
}

// StartWith is Start with options.
func StartWith(o Options) (*Server, error) {
	bin, err := binary()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bluejay-kube-")
	if err != nil {
		return nil, err
	}
	s, err := startIn(bin, dir, o)
	if err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := installGatewayCRDs(s.Config()); err != nil {
		s.Stop()
		return nil, fmt.Errorf("installing the Gateway API CRDs: %w", err)
	}
	return s, nil
}

// binary finds kube-apiserver: BLUEJAY_KUBE_APISERVER, then the cache
// scripts/kube-apiserver.sh builds into, then PATH.
func binary() (string, error) {
	if p := os.Getenv(BinaryEnv); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%w: %s=%s: %v", ErrNotInstalled, BinaryEnv, p, err)
		}
		return p, nil
	}
	if p := filepath.Join(cacheDir(), "kube-apiserver-"+Version); isExecutable(p) {
		return p, nil
	}
	p, err := exec.LookPath("kube-apiserver")
	if err != nil {
		return "", fmt.Errorf("%w: not in %s, nor in PATH", ErrNotInstalled, cacheDir())
	}
	return p, nil
}

// cacheDir is where scripts/kube-apiserver.sh puts its builds, by the
// same rule: ${BLUEJAY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/bluejay}.
func cacheDir() string {
	if d := os.Getenv("BLUEJAY_CACHE"); d != "" {
		return d
	}
	if d := os.Getenv("XDG_CACHE_HOME"); d != "" {
		return filepath.Join(d, "bluejay")
	}
	home, _ := os.UserHomeDir()
	return filepath.Join(home, ".cache", "bluejay")
}

func isExecutable(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular() && fi.Mode()&0o111 != 0
}

// startIn starts etcd, writes the apiserver's credentials into dir, and
// starts the apiserver, up to three times while the port it picked turns
// out to be taken.
func startIn(bin, dir string, o Options) (*Server, error) {
	etcd, err := etcdtest.Start()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, etcd: etcd, token: rand.Text(), authz: "AlwaysAllow"}
	if o.RBAC {
		s.authz = "RBAC"
	}
	if err := s.writeCredentials(); err != nil {
		etcd.Stop()
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		err = s.start(bin)
		if err == nil {
			return s, nil
		}
		if attempt == 3 || !strings.Contains(err.Error(), "address already in use") {
			etcd.Stop()
			return nil, err
		}
	}
}

// writeCredentials writes the static token file (one system:masters
// user) and an RSA key pair for signing service-account tokens, which
// the apiserver requires even though nothing here asks for one.
func (s *Server) writeCredentials() error {
	token := s.token + ",admin,admin,system:masters\n"
	if err := os.WriteFile(filepath.Join(s.Dir, "tokens.csv"), []byte(token), 0o600); err != nil {
		return err
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	priv := pem.EncodeToMemory(&pem.Block{Type: "RSA PRIVATE KEY", Bytes: x509.MarshalPKCS1PrivateKey(key)})
	if err := os.WriteFile(filepath.Join(s.Dir, "sa.key"), priv, 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(s.Dir, "sa.pub"), pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: pub}), 0o644)
}

// start runs the apiserver once on a free port and waits for /readyz.
func (s *Server) start(bin string) error {
	port, err := freePort()
	if err != nil {
		return err
	}
	certs := filepath.Join(s.Dir, "certs")
	logPath := filepath.Join(s.Dir, "kube-apiserver.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.host = "https://127.0.0.1:" + strconv.Itoa(port)
	s.done = make(chan struct{})
	s.cmd = exec.Command(bin,
		"--etcd-servers="+strings.Join(s.etcd.Endpoints(), ","),
		// The etcd is this Server's alone; the prefix keeps it apart
		// from anything else in etcdtest's keyspace all the same.
		"--etcd-prefix=/registry-"+strings.ToLower(rand.Text()[:8]),
		"--secure-port="+strconv.Itoa(port),
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--cert-dir="+certs,
		"--authorization-mode="+s.authz,
		"--token-auth-file="+filepath.Join(s.Dir, "tokens.csv"),
		"--service-account-issuer=https://kubernetes.default.svc",
		"--service-account-signing-key-file="+filepath.Join(s.Dir, "sa.key"),
		"--service-account-key-file="+filepath.Join(s.Dir, "sa.pub"),
		"--service-cluster-ip-range=10.96.0.0/16",
		// With no controller manager, no namespace ever gets the
		// "default" ServiceAccount this plugin would require of pods.
		"--disable-admission-plugins=ServiceAccount",
		// One client at a time: fairness queues only slow the start.
		"--enable-priority-and-fairness=false",
		"--profiling=false",
	)
	s.cmd.Dir = s.Dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// Its own process group, killed whole by Stop; and if the test
	// binary dies, the apiserver goes with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting kube-apiserver: %w", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(filepath.Join(certs, "apiserver.crt")); err != nil {
		s.kill()
		return fmt.Errorf("%w\nkube-apiserver.log (tail):\n%s", err, tail(logPath, 40))
	}
	return nil
}

// waitReady polls /readyz until it answers 200, the apiserver exits, or
// startTimeout passes. The serving cert appears in certPath before the
// port opens; it is the CA of every client, so a ready answer also
// proves that TLS verifies.
func (s *Server) waitReady(certPath string) error {
	var client *http.Client
	return enginetest.WaitReady("kube-apiserver", s.done, func() error { return s.err }, startTimeout, 50*time.Millisecond, func() error {
		if client == nil {
			var err error
			if client, err = s.readyClient(certPath); client == nil {
				return err
			}
		}
		return s.ready(client)
	})
}

// readyClient loads the serving cert once the apiserver has written it
// and returns an HTTP client that trusts it.
func (s *Server) readyClient(certPath string) (*http.Client, error) {
	ca, err := os.ReadFile(certPath)
	if err != nil || !bytes.Contains(ca, []byte("-----END CERTIFICATE-----")) {
		return nil, fmt.Errorf("no serving cert yet: %v", err)
	}
	s.ca = ca
	cfg := s.Config()
	cfg.Timeout = 2 * time.Second
	c, err := rest.HTTPClientFor(cfg)
	if err != nil {
		return nil, err
	}
	return c, nil
}

func (s *Server) ready(c *http.Client) error {
	resp, err := c.Get(s.host + "/readyz")
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/readyz: %s", resp.Status)
	}
	return nil
}

// tail returns the last n lines of the file at path.
func tail(path string, n int) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return err.Error()
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Config returns a new client config for the apiserver, as a
// system:masters user, verifying its serving cert. Callers may change
// the copy freely.
func (s *Server) Config() *rest.Config {
	return &rest.Config{
		Host:            s.host,
		BearerToken:     s.token,
		TLSClientConfig: rest.TLSClientConfig{CAData: bytes.Clone(s.ca)},
		// client-go's default of 5 requests a second would pace a test's
		// setup for no reason against an apiserver of its own.
		QPS:   100,
		Burst: 200,
	}
}

// Clientset returns a clientset for the apiserver. It fails t if one
// cannot be made.
func (s *Server) Clientset(t testing.TB) kubernetes.Interface {
	t.Helper()
	cs, err := kubernetes.NewForConfig(s.Config())
	if err != nil {
		t.Fatalf("kubetest: clientset: %v", err)
	}
	return cs
}

// Kubeconfig writes a kubeconfig file (mode 0600) for the apiserver, in
// t.TempDir(), and returns its path. Its current context is the only
// one, "bluejay-test", with namespace "default".
func (s *Server) Kubeconfig(t testing.TB) string {
	t.Helper()
	return s.KubeconfigToken(t, s.token)
}

// KubeconfigToken is Kubeconfig for another bearer token, such as a
// service account's.
func (s *Server) KubeconfigToken(t testing.TB, token string) string {
	t.Helper()
	const name = "bluejay-test"
	cfg := clientcmdapi.NewConfig()
	cfg.Clusters[name] = &clientcmdapi.Cluster{Server: s.host, CertificateAuthorityData: bytes.Clone(s.ca)}
	cfg.AuthInfos[name] = &clientcmdapi.AuthInfo{Token: token}
	cfg.Contexts[name] = &clientcmdapi.Context{Cluster: name, AuthInfo: name, Namespace: "default"}
	cfg.CurrentContext = name
	path := filepath.Join(t.TempDir(), "kubeconfig")
	if err := clientcmd.WriteToFile(*cfg, path); err != nil {
		t.Fatalf("kubetest: writing a kubeconfig: %v", err)
	}
	return path
}

var unsafeName = regexp.MustCompile(`[^a-z0-9-]+`)

// Namespace creates a namespace that no other test of this Server has,
// "t<n>-<test name>" cut to a valid name, and returns its name. It fails
// t if the namespace cannot be created.
func (s *Server) Namespace(t testing.TB) string {
	t.Helper()
	name := fmt.Sprintf("t%d-%s", s.seq.Add(1), unsafeName.ReplaceAllString(strings.ToLower(t.Name()), "-"))
	name = strings.TrimRight(name[:min(len(name), 63)], "-")
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	ns := &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}
	if _, err := s.Clientset(t).CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); err != nil {
		t.Fatalf("kubetest: creating namespace %s: %v", name, err)
	}
	return name
}

// Stop kills the apiserver and its etcd and removes Dir.
func (s *Server) Stop() error {
	s.kill()
	return errors.Join(s.etcd.Stop(), os.RemoveAll(s.Dir))
}

func (s *Server) kill() {
	// The negative pid is the process group Setpgid made.
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
	<-s.done
}

var shared = &enginetest.Shared[*Server]{Engine: "kube-apiserver", Start: Start, Stop: (*Server).Stop,
	NotInstalled: []error{ErrNotInstalled, etcdtest.ErrNotInstalled}}

// NewRBAC returns an apiserver of t's own that enforces RBAC (stopped
// at t's cleanup; not the shared one), with the skips and failures of New.
func NewRBAC(t testing.TB) *Server {
	t.Helper()
	own := &enginetest.Shared[*Server]{Engine: "kube-apiserver", Start: func() (*Server, error) { return StartWith(Options{RBAC: true}) },
		Stop: (*Server).Stop, NotInstalled: shared.NotInstalled}
	return own.New(t)
}

// Main runs the tests of m with one apiserver shared by every New, and
// stops it when they end. Call it from TestMain: os.Exit(kubetest.Main(m)).
func Main(m *testing.M) int { return shared.Main(m) }

// New returns a running apiserver for the test: the binary's shared one
// under Main, else one of its own stopped at t's cleanup. Without
// kube-apiserver or etcd it skips the test, or fails it when
// BLUEJAY_REQUIRE_ENGINES=1.
func New(t testing.TB) *Server {
	t.Helper()
	return shared.New(t)
}
