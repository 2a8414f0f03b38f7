// Package haproxytest starts real HAProxy daemons for tests and
// benchmarks: a master-worker HAProxy on loopback with its main
// configuration, admin socket, master socket and bluejay's rendered file
// in a directory of their own; never the system's service.
package haproxytest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// RequireEnv names the environment variable that turns a missing HAProxy
// into a test failure instead of a skip (CI sets it to 1).
const RequireEnv = enginetest.RequireEnv

// Binary returns the haproxy program: in PATH, else /usr/sbin/haproxy.
func Binary() (string, error) {
	if p, err := exec.LookPath("haproxy"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/haproxy"); err == nil {
		return "/usr/sbin/haproxy", nil
	}
	return "", errors.New("haproxy not found in PATH or at /usr/sbin/haproxy")
}

// Daemon is an HAProxy master started by Start.
type Daemon struct {
	// Dir holds the main configuration, the rendered file, the sockets
	// and the state files.
	Dir string
	// Router is the HAProxy router's configuration for this daemon, with
	// a free loopback port for Listen and its defaults applied.
	Router spec.HAProxyRouter
	cmd    *exec.Cmd
	done   chan error
	mu     sync.Mutex
	output strings.Builder
}

// mainConfig is the daemon's haproxy.cfg: the global section a user's
// HAProxy needs for bluejay (an admin socket that passes the listeners
// on across reloads).
const mainConfig = `global
    stats socket %[1]s/admin.sock mode 600 level admin expose-fd listeners
    pidfile %[1]s/haproxy.pid
    nbthread 2
`

// Start starts HAProxy in dir with an empty rendered file and returns
// once its admin socket answers.
func Start(dir string) (*Daemon, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	main := filepath.Join(dir, "haproxy.cfg")
	if err := os.WriteFile(main, []byte(fmt.Sprintf(mainConfig, dir)), 0o644); err != nil {
		return nil, err
	}
	rendered := filepath.Join(dir, "bluejay.cfg")
	if err := os.WriteFile(rendered, nil, 0o644); err != nil {
		return nil, err
	}
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	d := &Daemon{Dir: dir, done: make(chan error, 1), Router: spec.HAProxyRouter{
		Socket: filepath.Join(dir, "admin.sock"), Config: rendered, StateFile: rendered + ".state",
		MasterSocket: filepath.Join(dir, "master.sock"), Binary: bin, Listen: listen,
		Slots: 10, Versions: 3, Timeout: spec.Duration(30 * time.Second), ReloadTimeout: spec.Duration(10 * time.Second),
	}}
	d.cmd = exec.Command(bin, "-W", "-S", d.Router.MasterSocket, "-f", main, "-f", rendered)
	d.cmd.Dir = dir
	// If the test binary dies, the master stops its workers.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	d.cmd.Stdout, d.cmd.Stderr = d, d
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting haproxy: %w", err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if c, err := net.Dial("unix", d.Router.Socket); err == nil {
			c.Close()
			return d, nil
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("haproxy exited at start: %v: %s", err, d.Output())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("haproxy's admin socket did not answer within 10s: %s", d.Output())
		}
	}
}

// Write collects the daemon's output (its log goes to stderr).
func (d *Daemon) Write(p []byte) (int, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.output.Write(p)
}

// Output returns what HAProxy printed: warnings, alerts, reloads.
func (d *Daemon) Output() string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.output.String()
}

// URL is the users' base URL.
func (d *Daemon) URL() string { return "http://" + d.Router.Listen }

// Stop shuts HAProxy down (SIGTERM to the master, which stops its
// workers) and waits for the master to exit.
func (d *Daemon) Stop() error {
	if d.cmd.Process == nil {
		return nil
	}
	d.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.done:
		return nil
	case <-time.After(10 * time.Second):
		d.cmd.Process.Kill()
		return errors.New("haproxy did not stop within 10s of SIGTERM; killed")
	}
}

// New starts a daemon for t in a temp dir, stopped by t.Cleanup. Without
// HAProxy it skips t, or fails it when RequireEnv is 1.
func New(t testing.TB) *Daemon {
	t.Helper()
	if _, err := Binary(); err != nil {
		enginetest.Missing(t, "HAProxy", err)
	}
	// Unix socket paths are limited to 108 bytes: t.TempDir() can be long.
	dir, err := os.MkdirTemp("", "bj-haproxy-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	d, err := Start(dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("haproxy output:\n%s", d.Output())
		}
	})
	return d
}

// freeAddr returns a loopback address with a port free at the time.
func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer l.Close()
	return l.Addr().String(), nil
}
