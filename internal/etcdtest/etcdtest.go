package etcdtest

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
)

// RequireEnv names the environment variable that turns a missing etcd
// into a test failure instead of a skip (CI sets it to 1).
const RequireEnv = enginetest.RequireEnv

// startTimeout bounds how long a new etcd may take to serve a read.
const startTimeout = 30 * time.Second

// ErrNotInstalled is the error of Start when there is no etcd in PATH.
var ErrNotInstalled = errors.New("etcd not installed (apt-get install -y etcd-server)")

// Server is a running etcd.
type Server struct {
	// Dir holds the data directory and etcd.log.
	Dir string

	client string // client URL
	cmd    *exec.Cmd
	done   chan struct{}
	err    error // of cmd.Wait, once done is closed
	seq    atomic.Int64
}

// Start runs etcd on free loopback ports in a new temporary directory
// and waits until it serves a read. A start that loses its ports to
// another process is retried.
func Start() (*Server, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
	}
	dir, err := os.MkdirTemp("", "bluejay-etcd-")
	if err != nil {
		return nil, err
	}
	for attempt := 1; ; attempt++ {
		s, err := start(bin, dir)
		if err == nil {
			return s, nil
		}
		if attempt == 3 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

func start(bin, dir string) (*Server, error) {
	cport, err := freePort()
	if err != nil {
		return nil, err
	}
	pport, err := freePort()
	if err != nil {
		return nil, err
	}
	client := "http://127.0.0.1:" + strconv.Itoa(cport)
	peer := "http://127.0.0.1:" + strconv.Itoa(pport)
	data := filepath.Join(dir, "data")
	if err := os.RemoveAll(data); err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "etcd.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	s := &Server{Dir: dir, client: client, done: make(chan struct{})}
	s.cmd = exec.Command(bin, "--name", "bluejay-test", "--data-dir", data,
		"--listen-client-urls", client, "--advertise-client-urls", client,
		"--listen-peer-urls", peer, "--initial-advertise-peer-urls", peer,
		"--initial-cluster", "bluejay-test="+peer, "--initial-cluster-state", "new",
		"--experimental-watch-progress-notify-interval=1s")
	s.cmd.Dir = dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// If the test binary dies, etcd goes with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting etcd: %w", err)
	}
	go func() {
		s.err = s.cmd.Wait()
		close(s.done)
	}()
	if err := s.waitReady(); err != nil {
		s.kill()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	return s, nil
}

// waitReady polls until etcd serves a read, exits, or startTimeout
// passes.
func (s *Server) waitReady() error {
	cli, err := clientv3.New(clientv3.Config{Endpoints: s.Endpoints(), DialTimeout: time.Second, Logger: zap.NewNop()})
	if err != nil {
		return err
	}
	defer cli.Close()
	return enginetest.WaitReady("etcd", s.done, func() error { return s.err }, startTimeout, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		_, err := cli.Get(ctx, "/etcdtest-ready")
		return err
	})
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

// Endpoints returns the client URLs to dial.
func (s *Server) Endpoints() []string { return []string{s.client} }

var unsafeName = regexp.MustCompile(`[^A-Za-z0-9_-]+`)

// Prefix returns a key prefix, without a trailing slash, that no other
// test of this Server has: "/t<n>-<test name>".
func (s *Server) Prefix(t testing.TB) string {
	return fmt.Sprintf("/t%d-%s", s.seq.Add(1), unsafeName.ReplaceAllString(t.Name(), "_"))
}

// Stop kills etcd and removes its directory.
func (s *Server) Stop() error {
	s.kill()
	return os.RemoveAll(s.Dir)
}

func (s *Server) kill() {
	s.cmd.Process.Kill()
	<-s.done
}

var shared = &enginetest.Shared[*Server]{Engine: "etcd", Start: Start, Stop: (*Server).Stop,
	NotInstalled: []error{ErrNotInstalled}}

// Main runs the tests of m with one etcd shared by every New, and stops
// it when they end. Call it from TestMain: os.Exit(etcdtest.Main(m)).
func Main(m *testing.M) int { return shared.Main(m) }

// New returns a running etcd for the test: the binary's shared one under
// Main, else one of its own stopped at t's cleanup. Without etcd it
// skips the test, or fails it when BLUEJAY_REQUIRE_ENGINES=1.
func New(t testing.TB) *Server {
	t.Helper()
	return shared.New(t)
}
