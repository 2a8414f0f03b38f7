package nginx

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

var _ router.Router = (*Router)(nil)

// pollInterval spaces the checks of a reload and of draining.
const pollInterval = 5 * time.Millisecond

// Router applies traffic splits to an NGINX through the file it renders.
// It is safe for concurrent use; changes are applied one at a time.
type Router struct {
	cfg    spec.NginxRouter
	log    *slog.Logger
	client *http.Client

	mu       sync.Mutex
	routes   map[string]router.Route
	retiring map[int]bool // workers of older configurations, until they exit
}

// New returns a router for cfg, whose defaults must be applied (Load does
// that). It checks that the binary exists; NGINX itself is first touched
// by SetRoute. A nil log means slog.Default().
func New(cfg spec.NginxRouter, log *slog.Logger) (*Router, error) {
	if cfg.Config == "" {
		return nil, errors.New("nginx router: config (the file bluejay renders) is required")
	}
	bin, err := exec.LookPath(cmp(cfg.Binary, "nginx"))
	if err != nil {
		return nil, fmt.Errorf("nginx router: %w", err)
	}
	cfg.Binary = bin
	if cfg.ReloadTimeout <= 0 {
		cfg.ReloadTimeout = spec.Duration(10 * time.Second)
	}
	if log == nil {
		log = slog.Default()
	}
	return &Router{cfg: cfg, log: log, routes: map[string]router.Route{}, retiring: map[int]bool{},
		client: &http.Client{Timeout: time.Second, Transport: &http.Transport{DisableKeepAlives: true, Proxy: nil}}}, nil
}

func cmp(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// SetRoute replaces the service's route, renders the file, checks it
// with nginx -t, reloads NGINX and returns once the new split is live
// (see the package doc). A failed check leaves the previous file and
// split in place and returns NGINX's message.
func (rt *Router) SetRoute(ctx context.Context, r router.Route) error {
	return rt.SetRoutes(ctx, []router.Route{r})
}

// SetRoutes is SetRoute for several services in one reload: a server
// starting up applies every stored route with it, so that no service is
// left out of the file between two reloads.
func (rt *Router) SetRoutes(ctx context.Context, rs []router.Route) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	next := maps.Clone(rt.routes)
	for _, r := range rs {
		next[r.Service] = r
	}
	if err := rt.apply(ctx, next); err != nil {
		return err
	}
	rt.routes = next
	return nil
}

// Routes returns the routes the rendered file holds, sorted by service.
func (rt *Router) Routes() []router.Route {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	return sortedRoutes(rt.routes)
}

func sortedRoutes(m map[string]router.Route) []router.Route {
	out := make([]router.Route, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[k])
	}
	return out
}

// apply renders routes, checks, reloads and waits for the change to be
// live.
func (rt *Router) apply(ctx context.Context, routes map[string]router.Route) error {
	gen, err := generation()
	if err != nil {
		return err
	}
	data := render(layout{listen: rt.cfg.Listen, status: rt.cfg.Status, generation: gen, versionHeader: rt.cfg.VersionHeader},
		sortedRoutes(routes))
	old, err := os.ReadFile(rt.cfg.Config)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("nginx router: reading %s: %w", rt.cfg.Config, err)
	}
	existed := err == nil
	if err := writeAtomic(rt.cfg.Config, data); err != nil {
		return fmt.Errorf("nginx router: %w", err)
	}
	if err := rt.test(ctx); err != nil {
		if rerr := rt.restore(old, existed); rerr != nil {
			rt.log.Error("nginx router: restoring the previous config", "file", rt.cfg.Config, "err", rerr)
		}
		return err
	}
	return rt.reload(ctx, gen)
}

// restore puts the previous file back (or removes a file there was not).
func (rt *Router) restore(old []byte, existed bool) error {
	if !existed {
		return os.Remove(rt.cfg.Config)
	}
	return writeAtomic(rt.cfg.Config, old)
}

// test runs nginx -t on the main configuration.
func (rt *Router) test(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, rt.cfg.ReloadTimeout.D())
	defer cancel()
	out, err := exec.CommandContext(ctx, rt.cfg.Binary, rt.args("-t", "-q")...).CombinedOutput()
	if err != nil {
		msg := strings.TrimSpace(string(out))
		if msg == "" {
			msg = err.Error()
		}
		return fmt.Errorf("nginx -t refused the new config (the previous one stays): %s", msg)
	}
	return nil
}

// args are nginx's arguments for the configured prefix and main config.
func (rt *Router) args(extra ...string) []string {
	args := append([]string{}, extra...)
	if rt.cfg.Prefix != "" {
		args = append(args, "-p", rt.cfg.Prefix)
	}
	if rt.cfg.MainConfig != "" {
		args = append(args, "-c", rt.cfg.MainConfig)
	}
	return append(args, "-e", "stderr")
}

// reload signals the master and waits until gen is live.
func (rt *Router) reload(ctx context.Context, gen string) error {
	master, err := readPID(rt.cfg.PIDFile)
	if err != nil {
		return fmt.Errorf("nginx router: %w", err)
	}
	old := children(master)
	if err := syscall.Kill(master, syscall.SIGHUP); err != nil {
		return fmt.Errorf("nginx router: reloading nginx (pid %d): %w", master, err)
	}
	for _, pid := range old {
		rt.retiring[pid] = true
	}
	ctx, cancel := context.WithTimeout(ctx, rt.cfg.ReloadTimeout.D())
	defer cancel()
	for {
		answered := rt.generation(ctx)
		if answered == gen && retired(master, old) {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nginx router: the reload did not go live within %v (status %s answers generation %q, want %q; see NGINX's error log): %w",
				rt.cfg.ReloadTimeout.D(), rt.cfg.Status, answered, gen, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// generation asks the status server for the live generation; "" when
// it does not answer.
func (rt *Router) generation(ctx context.Context) string {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+rt.cfg.Status+generationPath, nil)
	if err != nil {
		return ""
	}
	res, err := rt.client.Do(req)
	if err != nil {
		return ""
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 256))
	if err != nil || res.StatusCode != http.StatusOK {
		return ""
	}
	return string(body)
}

// WaitDrained returns once every worker of an older configuration has
// exited: NGINX lets them finish their in-flight requests first, so the
// addresses that left the split have none left (addrs is not consulted:
// NGINX does not say which worker holds a request to which address, and
// the current workers' requests to addresses still in the split are not
// waited for). It returns ctx's error if they are still running when ctx
// ends; a worker that holds a long connection exits at NGINX's
// worker_shutdown_timeout, if the main config sets one.
func (rt *Router) WaitDrained(ctx context.Context, addrs []string) error {
	for {
		rt.mu.Lock()
		master, err := readPID(rt.cfg.PIDFile)
		for pid := range rt.retiring {
			if err != nil || !isChild(master, pid) {
				delete(rt.retiring, pid)
			}
		}
		left := len(rt.retiring)
		rt.mu.Unlock()
		if left == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("nginx router: %d worker(s) of older configs still running: %w", left, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// generation returns a fresh random generation, so that a restarted
// bluejay never mistakes the previous run's file for its own.
func generation() (string, error) {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("nginx router: generation: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// writeAtomic replaces path with data through a temporary file in the
// same directory, so NGINX never reads half a file.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	defer os.Remove(f.Name()) // after a successful rename, there is nothing there
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	return nil
}

// readPID reads the master's pid file.
func readPID(path string) (int, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading nginx's pid file (is nginx running?): %w", err)
	}
	pid, err := strconv.Atoi(string(bytes.TrimSpace(data)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("nginx's pid file %s holds %q, not a pid", path, bytes.TrimSpace(data))
	}
	return pid, nil
}
