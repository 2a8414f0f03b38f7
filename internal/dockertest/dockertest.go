package dockertest

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/client"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
)

// startTimeout bounds how long a new dockerd may take to answer a ping.
const startTimeout = 60 * time.Second

// ErrNotInstalled is the error of Start when there is no dockerd.
var ErrNotInstalled = errors.New("dockerd not installed (apt-get install -y docker.io)")

// Engine is a running dockerd.
type Engine struct {
	// Dir holds the data and exec roots, the socket and dockerd.log.
	Dir string
	// Bridge is the network interface the containers' default network
	// uses, made for this Engine.
	Bridge string

	cmd  *exec.Cmd
	done chan struct{}
	err  error // of cmd.Wait, once done is closed
}

// Start runs dockerd in a new temporary directory, on a bridge of its
// own, and waits until it answers a ping.
func Start() (*Engine, error) {
	bin, err := exec.LookPath("dockerd")
	if err != nil {
		if _, serr := os.Stat("/usr/sbin/dockerd"); serr != nil {
			return nil, fmt.Errorf("%w: %v", ErrNotInstalled, err)
		}
		bin = "/usr/sbin/dockerd"
	}
	// A short path: the Engine's and containerd's sockets live under it.
	dir, err := os.MkdirTemp("", "bjd-")
	if err != nil {
		return nil, err
	}
	e := &Engine{Dir: dir, Bridge: fmt.Sprintf("bjd%06x", rand.IntN(1<<24))}
	if err := e.makeBridge(); err != nil {
		os.RemoveAll(dir)
		return nil, err
	}
	if err := e.launch(bin); err != nil {
		e.removeBridge()
		os.RemoveAll(dir)
		return nil, err
	}
	if err := e.waitReady(); err != nil {
		e.Stop()
		log, _ := os.ReadFile(filepath.Join(dir, "dockerd.log"))
		return nil, fmt.Errorf("%w\n%s", err, tail(string(log), 30))
	}
	return e, nil
}

// makeBridge creates e.Bridge with a /24 of 10.0.0.0/8 that no interface
// of the host uses.
func (e *Engine) makeBridge() error {
	ip, err := (exec.LookPath("ip"))
	if err != nil {
		return fmt.Errorf("%w: ip(8) is needed to make its bridge: %v", ErrNotInstalled, err)
	}
	var subnet string
	for range 50 {
		c := fmt.Sprintf("10.%d.%d.1/24", 100+rand.IntN(150), rand.IntN(256))
		if !inUse(c) {
			subnet = c
			break
		}
	}
	if subnet == "" {
		return errors.New("no free 10.x.y.0/24 for the test bridge")
	}
	for _, args := range [][]string{
		{"link", "add", "name", e.Bridge, "type", "bridge"},
		{"addr", "add", subnet, "dev", e.Bridge},
		{"link", "set", e.Bridge, "up"},
	} {
		if out, err := exec.Command(ip, args...).CombinedOutput(); err != nil {
			e.removeBridge()
			return fmt.Errorf("ip %s: %v: %s", strings.Join(args, " "), err, out)
		}
	}
	return nil
}

func (e *Engine) removeBridge() {
	exec.Command("ip", "link", "delete", e.Bridge).Run()
}

// inUse reports whether an interface's address is in cidr's network.
func inUse(cidr string) bool {
	_, want, _ := net.ParseCIDR(cidr)
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		return true
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && (want.Contains(n.IP) || n.Contains(want.IP)) {
			return true
		}
	}
	return false
}

func (e *Engine) launch(bin string) error {
	logf, err := os.Create(filepath.Join(e.Dir, "dockerd.log"))
	if err != nil {
		return err
	}
	defer logf.Close()
	e.done = make(chan struct{})
	e.cmd = exec.Command(bin,
		"--data-root", filepath.Join(e.Dir, "data"), "--exec-root", filepath.Join(e.Dir, "exec"),
		"--pidfile", filepath.Join(e.Dir, "dockerd.pid"), "--host", e.Host(),
		"--bridge", e.Bridge, "--iptables=false", "--ip6tables=false", "--ip-masq=false",
		"--userland-proxy=true")
	e.cmd.Stdout, e.cmd.Stderr = logf, logf
	// If the test binary dies, dockerd stops its containers and containerd.
	e.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	if err := e.cmd.Start(); err != nil {
		return fmt.Errorf("starting dockerd: %w", err)
	}
	go func() {
		e.err = e.cmd.Wait()
		close(e.done)
	}()
	return nil
}

func (e *Engine) waitReady() error {
	cli, err := e.newClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	return enginetest.WaitReady("dockerd", e.done, func() error { return e.err }, startTimeout, 50*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_, err := cli.Ping(ctx)
		return err
	})
}

// Host is the Engine's address, for DOCKER_HOST.
func (e *Engine) Host() string { return "unix://" + filepath.Join(e.Dir, "docker.sock") }

func (e *Engine) newClient() (*client.Client, error) {
	return client.NewClientWithOpts(client.WithHost(e.Host()), client.WithAPIVersionNegotiation())
}

// Client returns a client of the Engine, closed at t's cleanup.
func (e *Engine) Client(t testing.TB) *client.Client {
	t.Helper()
	cli, err := e.newClient()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cli.Close() })
	return cli
}

// Stop stops dockerd (SIGTERM: it stops its containers and containerd),
// removes its bridge and its directory.
func (e *Engine) Stop() error {
	select {
	case <-e.done:
	default:
		e.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-e.done:
		case <-time.After(30 * time.Second):
			e.cmd.Process.Kill()
			<-e.done
		}
	}
	e.removeBridge()
	unmountUnder(e.Dir)
	return os.RemoveAll(e.Dir)
}

// unmountUnder detaches what dockerd left mounted under dir (its network
// namespace files), deepest first, so that dir can be removed.
func unmountUnder(dir string) {
	b, err := os.ReadFile("/proc/self/mounts")
	if err != nil {
		return
	}
	var points []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 1 && strings.HasPrefix(f[1], dir+"/") {
			points = append(points, f[1])
		}
	}
	for i := len(points) - 1; i >= 0; i-- {
		syscall.Unmount(points[i], syscall.MNT_DETACH)
	}
}

var shared = &enginetest.Shared[*Engine]{Engine: "dockerd", Start: Start, Stop: (*Engine).Stop,
	NotInstalled: []error{ErrNotInstalled}}

// Main runs the tests of m with one dockerd shared by every New, and
// stops it when they end. Call it from TestMain: os.Exit(dockertest.Main(m)).
func Main(m *testing.M) int {
	defer func() {
		if app.path != "" {
			os.RemoveAll(filepath.Dir(app.path))
		}
	}()
	return shared.Main(m)
}

// New returns a running Engine for the test: the binary's shared one
// under Main, else one of its own stopped at t's cleanup. Without dockerd
// it skips the test, or fails it when BLUEJAY_REQUIRE_ENGINES=1.
func New(t testing.TB) *Engine {
	t.Helper()
	return shared.New(t)
}

var app struct {
	once sync.Once
	path string
	err  error
}

// appBinary builds the sample app, static, once per test binary.
func appBinary() (string, error) {
	app.once.Do(func() {
		dir, err := os.MkdirTemp("", "bjd-app-")
		if err != nil {
			app.err = err
			return
		}
		app.path = filepath.Join(dir, "app")
		cmd := exec.Command("go", "build", "-o", app.path, "github.com/bluejay-deploy/bluejay/examples/app")
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := cmd.CombinedOutput(); err != nil {
			app.err = fmt.Errorf("building the sample app: %v: %s", err, out)
		}
	})
	return app.path, app.err
}

// AppImage builds an image FROM scratch with the sample app's static
// binary as its entrypoint (/app), tagged with each of tags, through the
// Engine API (no registry: the context is a tar made here). Run it with
// args such as --host 0.0.0.0 --port 8080.
func (e *Engine) AppImage(t testing.TB, tags ...string) {
	t.Helper()
	bin, err := appBinary()
	if err != nil {
		t.Fatal(err)
	}
	body, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	e.Build(t, map[string][]byte{
		"Dockerfile": []byte("FROM scratch\nCOPY app /app\nUSER 65534\nENTRYPOINT [\"/app\"]\n"),
		"app":        body,
	}, tags...)
}

// Build builds an image from files (a Dockerfile among them) tagged
// with each of tags.
func (e *Engine) Build(t testing.TB, files map[string][]byte, tags ...string) {
	t.Helper()
	if err := e.build(files, tags); err != nil {
		t.Fatalf("building %v: %v", tags, err)
	}
}

func (e *Engine) build(files map[string][]byte, tags []string) error {
	var ctxTar bytes.Buffer
	tw := tar.NewWriter(&ctxTar)
	for name, body := range files {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o755, Size: int64(len(body))}); err != nil {
			return err
		}
		if _, err := tw.Write(body); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	cli, err := e.newClient()
	if err != nil {
		return err
	}
	defer cli.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	resp, err := cli.ImageBuild(ctx, &ctxTar, build.ImageBuildOptions{Tags: tags, Remove: true, ForceRemove: true,
		Version: build.BuilderV1})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	return buildError(resp.Body)
}

// buildError reads the build's JSON message stream to its end and
// returns the error it reports, if any.
func buildError(r io.Reader) error {
	dec := json.NewDecoder(r)
	var out strings.Builder
	for {
		var m struct {
			Stream string `json:"stream"`
			Error  string `json:"error"`
		}
		if err := dec.Decode(&m); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
		out.WriteString(m.Stream)
		if m.Error != "" {
			return fmt.Errorf("%s\n%s", m.Error, tail(out.String(), 20))
		}
	}
}

// tail returns the last n lines of s.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(lines[max(len(lines)-n, 0):], "\n")
}
