package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// env is what every measurement shares: the temp dir, the backend, and
// the programs to start.
type env struct {
	o       options
	dir     string
	self    string // this program, for its child modes
	bluejay string // the bluejay binary built for the run; "" if not needed
	backend *server
	// backend2 is the backend's second address: v2's in bluejay's
	// config, v1's being backend.addr.
	backend2 string
	// backendDesc says what the backend is, for the report.
	backendDesc string
	seq         int // numbers the working dirs of started servers
}

// newEnv makes the temp dir, builds bluejay if it is measured or the
// profile is wanted, and starts the backend. The returned env, if not
// nil, must be closed even on error.
func newEnv(ctx context.Context, o options) (*env, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("finding this program: %w", err)
	}
	dir, err := os.MkdirTemp("", "bluejay-bench-proxy-")
	if err != nil {
		return nil, err
	}
	// NGINX's workers run as nobody when started by root and must read
	// their config dir.
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	e := &env{o: o, dir: dir, self: self}
	if slices.ContainsFunc(o.targets, func(t string) bool { return strings.HasPrefix(t, "bluejay") }) {
		if err := e.buildBluejay(ctx); err != nil {
			return e, err
		}
	}
	e.backend, err = e.startBackend(ctx)
	return e, err
}

// close stops the backend and removes the temp dir, which it keeps (and
// names) when -keep is set or the run failed.
func (e *env) close(errp *error) {
	if e.backend != nil {
		e.backend.shared = false
		e.backend.stop()
	}
	if e.o.keep || *errp != nil {
		fmt.Printf("kept %s (configs and logs)\n", e.dir)
		return
	}
	os.RemoveAll(e.dir)
}

// buildBluejay builds ./cmd/bluejay of this module into the temp dir.
func (e *env) buildBluejay(ctx context.Context) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	e.bluejay = filepath.Join(e.dir, "bluejay")
	build := exec.CommandContext(ctx, "go", "build", "-o", e.bluejay, "./cmd/bluejay")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		return fmt.Errorf("go build ./cmd/bluejay: %w\n%s", err, out)
	}
	return nil
}

// available returns the named targets that can run here, saying why it
// skips the others.
func (e *env) available(names []string) []target {
	var out []target
	for _, name := range names {
		i := slices.IndexFunc(allTargets, func(t target) bool { return t.name == name })
		if i < 0 {
			fmt.Printf("skipping %q: no such target (have %s)\n", name, targetNames())
			continue
		}
		t := allTargets[i]
		if t.needs != "" {
			if _, err := exec.LookPath(t.needs); err != nil {
				fmt.Printf("skipping %s: %s not found on PATH (Debian: apt-get install %s)\n", t.name, t.needs, t.needs)
				continue
			}
		}
		out = append(out, t)
	}
	return out
}

func targetNames() string {
	var names []string
	for _, t := range allTargets {
		names = append(names, t.name)
	}
	return strings.Join(names, ", ")
}

// workdir makes a fresh directory for one server.
func (e *env) workdir(name string) (string, error) {
	e.seq++
	dir := filepath.Join(e.dir, fmt.Sprintf("%s-%d", name, e.seq))
	if err := os.Mkdir(dir, 0o755); err != nil {
		return "", err
	}
	return dir, nil
}

// moduleRoot is the directory of the main module's go.mod.
func moduleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	mod := strings.TrimSpace(string(out))
	if mod == "" || mod == os.DevNull {
		return "", errors.New("run from inside the bluejay module (go run ./bench/proxy)")
	}
	return filepath.Dir(mod), nil
}
