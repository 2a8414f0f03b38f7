// Package nginxtest starts real NGINX daemons for tests and benchmarks:
// a master with one worker on loopback, its configuration, pid file and
// logs in a directory of their own; never the system's service.
package nginxtest

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// RequireEnv names the environment variable that turns a missing NGINX
// into a test failure instead of a skip (CI sets it to 1).
const RequireEnv = enginetest.RequireEnv

// Binary returns the nginx program: in PATH, else /usr/sbin/nginx.
func Binary() (string, error) {
	if p, err := exec.LookPath("nginx"); err == nil {
		return p, nil
	}
	if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
		return "/usr/sbin/nginx", nil
	}
	return "", errors.New("nginx not found in PATH or at /usr/sbin/nginx")
}

// Daemon is an NGINX master started by Start.
type Daemon struct {
	// Dir holds the main config, the rendered file, the pid file, the
	// error log and the temp paths.
	Dir string
	// Router is the NGINX router's configuration for this daemon, with
	// free loopback ports for Listen and Status.
	Router spec.NginxRouter
	cmd    *exec.Cmd
	done   chan error
}

// mainConfig is the daemon's nginx.conf: the rendered file is included
// in the http block; everything else stays in dir.
const mainConfig = `worker_processes 1;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log notice;
events {
    worker_connections 1024;
}
http {
    access_log off;
    client_body_temp_path %[1]s/tmp/body;
    proxy_temp_path %[1]s/tmp/proxy;
    fastcgi_temp_path %[1]s/tmp/fastcgi;
    uwsgi_temp_path %[1]s/tmp/uwsgi;
    scgi_temp_path %[1]s/tmp/scgi;
    include %[1]s/bluejay.conf;
}
`

// Start starts NGINX in dir with an empty rendered file and returns once
// its master handles signals (the pid file is written).
func Start(dir string) (*Daemon, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	if err := os.MkdirAll(filepath.Join(dir, "tmp"), 0o755); err != nil {
		return nil, err
	}
	main := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(main, []byte(fmt.Sprintf(mainConfig, dir)), 0o644); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(dir, "bluejay.conf"), nil, 0o644); err != nil {
		return nil, err
	}
	listen, err := freeAddr()
	if err != nil {
		return nil, err
	}
	status, err := freeAddr()
	if err != nil {
		return nil, err
	}
	d := &Daemon{Dir: dir, done: make(chan error, 1), Router: spec.NginxRouter{
		Config: filepath.Join(dir, "bluejay.conf"), MainConfig: main, Prefix: dir, Binary: bin,
		PIDFile: filepath.Join(dir, "nginx.pid"), Listen: listen, Status: status,
		ReloadTimeout: spec.Duration(10 * time.Second),
	}}
	d.cmd = exec.Command(bin, "-p", dir, "-c", main, "-e", filepath.Join(dir, "error.log"), "-g", "daemon off;")
	// If the test binary dies, the master shuts its workers down.
	d.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
	var stderr strings.Builder
	d.cmd.Stdout, d.cmd.Stderr = &stderr, &stderr
	if err := d.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting nginx: %w", err)
	}
	go func() { d.done <- d.cmd.Wait() }()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, err := os.Stat(d.Router.PIDFile); err == nil {
			return d, nil
		}
		select {
		case err := <-d.done:
			return nil, fmt.Errorf("nginx exited at start: %v: %s%s", err, stderr.String(), d.ErrorLog())
		case <-time.After(5 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			d.Stop()
			return nil, fmt.Errorf("nginx wrote no pid file within 10s: %s", stderr.String())
		}
	}
}

// ErrorLog returns the daemon's error log.
func (d *Daemon) ErrorLog() string {
	data, _ := os.ReadFile(filepath.Join(d.Dir, "error.log"))
	return string(data)
}

// URL is the users' base URL.
func (d *Daemon) URL() string { return "http://" + d.Router.Listen }

// Stop shuts NGINX down (SIGTERM to the master, which stops its workers)
// and waits for the master to exit.
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
		return errors.New("nginx did not stop within 10s of SIGTERM; killed")
	}
}

// New starts a daemon for t in a temp dir, stopped by t.Cleanup. Without
// NGINX it skips t, or fails it when RequireEnv is 1.
func New(t testing.TB) *Daemon {
	t.Helper()
	if _, err := Binary(); err != nil {
		enginetest.Missing(t, "NGINX", err)
	}
	d, err := Start(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := d.Stop(); err != nil {
			t.Error(err)
		}
		if t.Failed() {
			t.Logf("nginx error log:\n%s", d.ErrorLog())
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
