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
	"strings"
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

	bin     string // the etcd binary
	name    string // the member's name
	cluster string // --initial-cluster: every member's name=peer URL
	client  string // client URL
	peer    string // peer URL
	cmd     *exec.Cmd
	done    chan struct{}
	err     error // of cmd.Wait, once done is closed
	seq     atomic.Int64
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
	c, err := newCluster(bin, []string{dir})
	if err != nil {
		return nil, err
	}
	if err := c.Members[0].launch(os.O_TRUNC); err != nil {
		return nil, err
	}
	if err := c.Members[0].waitReadyOrKill(); err != nil {
		return nil, err
	}
	return c.Members[0], nil
}

// newCluster picks free ports for one member per directory, empties
// their data directories, and returns them, not started.
func newCluster(bin string, dirs []string) (*Cluster, error) {
	c := &Cluster{}
	var initial []string
	for i, dir := range dirs {
		cport, err := freePort()
		if err != nil {
			return nil, err
		}
		pport, err := freePort()
		if err != nil {
			return nil, err
		}
		if err := os.RemoveAll(filepath.Join(dir, "data")); err != nil {
			return nil, err
		}
		m := &Server{Dir: dir, bin: bin, name: "bluejay-test", client: "http://127.0.0.1:" + strconv.Itoa(cport),
			peer: "http://127.0.0.1:" + strconv.Itoa(pport)}
		if len(dirs) > 1 {
			m.name = "m" + strconv.Itoa(i)
		}
		initial = append(initial, m.name+"="+m.peer)
		c.Members = append(c.Members, m)
	}
	for _, m := range c.Members {
		m.cluster = strings.Join(initial, ",")
	}
	return c, nil
}

// launch starts the etcd process of s, without waiting for it to serve.
// logFlag is os.O_TRUNC for a new etcd, os.O_APPEND for a restart.
func (s *Server) launch(logFlag int) error {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "etcd.log"), os.O_CREATE|os.O_WRONLY|logFlag, 0o644)
	if err != nil {
		return err
	}
	defer logf.Close()
	s.done, s.err = make(chan struct{}), nil
	s.cmd = exec.Command(s.bin, "--name", s.name, "--data-dir", filepath.Join(s.Dir, "data"),
		"--listen-client-urls", s.client, "--advertise-client-urls", s.client,
		"--listen-peer-urls", s.peer, "--initial-advertise-peer-urls", s.peer,
		"--initial-cluster", s.cluster, "--initial-cluster-state", "new",
		"--experimental-watch-progress-notify-interval=1s")
	s.cmd.Dir = s.Dir
	s.cmd.Stdout, s.cmd.Stderr = logf, logf
	// If the test binary dies, etcd goes with it.
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := s.cmd.Start(); err != nil {
		return fmt.Errorf("starting etcd: %w", err)
	}
	done := s.done
	go func() {
		s.err = s.cmd.Wait()
		close(done)
	}()
	return nil
}

// waitReadyOrKill waits until s serves a read, or kills it and returns
// why not, with its log.
func (s *Server) waitReadyOrKill() error {
	if err := s.waitReady(); err != nil {
		s.kill()
		log, _ := os.ReadFile(filepath.Join(s.Dir, "etcd.log"))
		return fmt.Errorf("%w\n%s", err, log)
	}
	return nil
}

// Restart kills etcd (SIGKILL) and starts it again on the same ports
// with the same data, waiting until it serves a read. Use it on an etcd
// of the test's own (New without Main in TestMain): every test of a
// shared one would see the outage.
func (s *Server) Restart() error {
	s.Kill()
	return s.Start()
}

// Kill kills etcd (SIGKILL), keeping its data, and waits for it to exit.
func (s *Server) Kill() { s.kill() }

// Start starts a killed etcd again on its ports with its data and waits
// until it serves a read: for a cluster's member, until the cluster has
// a quorum again.
func (s *Server) Start() error {
	if err := s.launch(os.O_APPEND); err != nil {
		return err
	}
	return s.waitReadyOrKill()
}

// Cluster is several etcd members forming one cluster, for tests of what
// a leader loss does: kill a quorum's worth of members and the others
// have no leader until they are started again.
type Cluster struct {
	Members []*Server
}

// NewCluster starts a cluster of n members for the test alone, each in a
// directory of its own, and stops it at t's cleanup. Without etcd it
// skips the test, or fails it when BLUEJAY_REQUIRE_ENGINES=1.
func NewCluster(t testing.TB, n int) *Cluster {
	t.Helper()
	bin, err := exec.LookPath("etcd")
	if err != nil {
		shared.Unavailable(t, fmt.Errorf("%w: %v", ErrNotInstalled, err))
	}
	dirs := make([]string, n)
	for i := range dirs {
		dirs[i] = t.TempDir()
	}
	c, err := newCluster(bin, dirs)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, m := range c.Members {
			m.kill()
		}
	})
	for _, m := range c.Members {
		if err := m.launch(os.O_TRUNC); err != nil {
			t.Fatal(err)
		}
	}
	for _, m := range c.Members {
		if err := m.waitReadyOrKill(); err != nil {
			t.Fatal(err)
		}
	}
	return c
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
	select {
	case <-s.done:
		return // exited, or killed already
	default:
	}
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
