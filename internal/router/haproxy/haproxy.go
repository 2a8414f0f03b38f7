package haproxy

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

var (
	_ router.Router = (*Router)(nil)
	_ router.Batch  = (*Router)(nil)
)

// pollInterval spaces the checks of a reload and of draining.
const pollInterval = 5 * time.Millisecond

// Router applies traffic splits to an HAProxy through its runtime API
// and the file it renders. It is safe for concurrent use; changes are
// applied one at a time.
type Router struct {
	cfg     spec.HAProxyRouter
	log     *slog.Logger
	admin   runtime
	set     settings
	model   string // the model file
	resolve resolver

	mu      sync.Mutex
	current *model
	// marker is the structure HAProxy runs, once seen on the admin
	// socket; "" until then, so the first change checks.
	marker string
}

// New returns a router for cfg, whose defaults must be applied (Load does
// that). It loads the model file a previous run left and writes the
// rendered file, the map and the state file if they are missing, so
// that HAProxy can start on them before bluejay's first change; HAProxy
// itself is first touched by SetRoute. A nil log means slog.Default().
func New(cfg spec.HAProxyRouter, log *slog.Logger) (*Router, error) {
	if cfg.Socket == "" || cfg.Config == "" {
		return nil, errors.New("haproxy router: socket and config are required")
	}
	if cfg.MasterSocket == "" && len(cfg.ReloadCommand) == 0 {
		return nil, errors.New("haproxy router: masterSocket or reloadCommand is required")
	}
	bin, err := exec.LookPath(cmpOr(cfg.Binary, "haproxy"))
	if err != nil {
		return nil, fmt.Errorf("haproxy router: %w", err)
	}
	cfg.Binary = bin
	cfg.StateFile = cmpOr(cfg.StateFile, cfg.Config+".state")
	cfg.Listen = cmpOr(cfg.Listen, "127.0.0.1:8080")
	if cfg.Slots <= 0 {
		cfg.Slots = 10
	}
	if cfg.Versions <= 0 {
		cfg.Versions = 3
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = spec.Duration(30 * time.Second)
	}
	if cfg.ReloadTimeout <= 0 {
		cfg.ReloadTimeout = spec.Duration(10 * time.Second)
	}
	fs := files{config: cfg.Config, mapFile: cfg.Config + ".map", stateFile: cfg.StateFile, versionMap: cfg.Config + ".versions.map"}
	if err := checkWord("versionHeader", cfg.VersionHeader); err != nil {
		return nil, fmt.Errorf("haproxy router: %w", err)
	}
	for _, p := range []string{fs.config, fs.mapFile, fs.stateFile, fs.versionMap} {
		if err := checkWord("path", p); err != nil {
			return nil, fmt.Errorf("haproxy router: %w", err)
		}
	}
	if log == nil {
		log = slog.Default()
	}
	rt := &Router{cfg: cfg, log: log, admin: runtime{cfg.Socket}, model: cfg.Config + ".json",
		set:     settings{bind: cfg.Listen, timeout: cfg.Timeout.D(), files: fs, versionHeader: cfg.VersionHeader},
		resolve: lookupIP, current: &model{Services: map[string]*service{}}}
	if err := rt.load(); err != nil {
		return nil, err
	}
	return rt, nil
}

func cmpOr(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// load reads the model a previous run left and writes the files HAProxy
// needs to start that are missing.
func (rt *Router) load() error {
	data, err := os.ReadFile(rt.model)
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("haproxy router: %w", err)
	default:
		var m model
		if err := json.Unmarshal(data, &m); err != nil {
			return fmt.Errorf("haproxy router: reading %s: %w", rt.model, err)
		}
		if m.Services != nil && rt.fits(&m) {
			rt.current = &m
		} else {
			rt.log.Warn("haproxy router: the previous run's model does not fit slots/versions; starting afresh", "file", rt.model)
		}
	}
	file, _ := render(rt.current, rt.set)
	for _, f := range []struct {
		path string
		data []byte
	}{{rt.set.files.config, file}, {rt.set.files.mapFile, renderMap(mapEntries(rt.current))}, {rt.set.files.stateFile, nil},
		{rt.set.files.versionMap, renderMap(versionEntries(rt.current))}} {
		if _, err := os.Stat(f.path); errors.Is(err, os.ErrNotExist) {
			if err := writeAtomic(f.path, f.data); err != nil {
				return fmt.Errorf("haproxy router: %w", err)
			}
		}
	}
	return nil
}

// fits reports whether m has the configured numbers of slots.
func (rt *Router) fits(m *model) bool {
	for _, s := range m.Services {
		if len(s.Slots) != rt.cfg.Versions {
			return false
		}
		for _, sl := range s.Slots {
			if len(sl.Servers) != rt.cfg.Slots {
				return false
			}
		}
	}
	return true
}

// SetRoute replaces the service's route and returns once HAProxy serves
// the new split, read back from the runtime API. Weights and instances
// change through the runtime API; a new service or a change of its
// match, sticky key or header rules re-renders the file, checks it
// (haproxy -c; a failed check leaves everything as it was and returns
// HAProxy's message) and reloads HAProxy.
func (rt *Router) SetRoute(ctx context.Context, r router.Route) error {
	return rt.SetRoutes(ctx, []router.Route{r})
}

// SetRoutes is SetRoute for several services in one change, with at
// most one reload: a server starting up applies every stored route
// with it.
func (rt *Router) SetRoutes(ctx context.Context, rs []router.Route) error {
	rt.mu.Lock()
	defer rt.mu.Unlock()
	next := rt.current.clone()
	for _, r := range rs {
		if err := checkWord("service", r.Service); err != nil || r.Service == "" {
			return fmt.Errorf("haproxy router: invalid service name %q", r.Service)
		}
		s, err := apply(next.Services[r.Service], r, rt.cfg.Versions, rt.cfg.Slots, rt.resolve)
		if err != nil {
			return fmt.Errorf("haproxy router: %w", err)
		}
		next.Services[r.Service] = s
	}
	if err := rt.applyModel(ctx, next); err != nil {
		return err
	}
	rt.current = next
	return nil
}

// applyModel makes HAProxy serve next: through the runtime API when the
// running structure is next's, else by a reload; then reads the state
// back and writes the files a later reload starts from.
func (rt *Router) applyModel(ctx context.Context, next *model) error {
	file, marker := render(next, rt.set)
	if rt.marker == "" {
		if names, err := rt.admin.backends(ctx); err == nil && names[marker] {
			rt.marker = marker
		}
	}
	if marker != rt.marker {
		if err := rt.reload(ctx, next, file, marker); err != nil {
			return err
		}
	} else if err := rt.runtimeChange(ctx, next); err != nil {
		return err
	}
	state, err := rt.verify(ctx, next)
	if err != nil {
		return err
	}
	if err := rt.persist(next, file, state); err != nil {
		rt.log.Warn("haproxy router: the split is live, but a later reload may not keep it", "err", err)
	}
	return nil
}

// runtimeChange applies next's servers and ranges through the runtime
// API in the order that never sends a request where it cannot be
// served: servers that join are made ready first, then the ranges are
// replaced at once, then servers that left are drained (their requests
// in flight finish).
func (rt *Router) runtimeChange(ctx context.Context, next *model) error {
	live, _, err := rt.admin.showServersState(ctx, "")
	if err != nil {
		return err
	}
	var join, leave []string
	for _, s := range next.sortedServices() {
		for i, sl := range s.Slots {
			be := backendName(s.Name, i)
			for j, sv := range sl.Servers {
				name := fmt.Sprintf("%s/s%d", be, j+1)
				st, ok := live[name]
				if !ok {
					return fmt.Errorf("haproxy router: HAProxy has no server %s; its running configuration is not bluejay's file", name)
				}
				switch {
				case sv.Ready && (st.addr != sv.IP || st.port != sv.Port):
					join = append(join, fmt.Sprintf("set server %s addr %s port %d", name, sv.IP, sv.Port), "set server "+name+" weight 1", "set server "+name+" state ready")
				case sv.Ready && !st.usable():
					join = append(join, "set server "+name+" weight 1", "set server "+name+" state ready")
				case !sv.Ready && st.adminState&(admForcedDrain|admForcedMaint) == 0:
					leave = append(leave, "set server "+name+" state drain")
				}
			}
		}
	}
	if err := rt.admin.batch(ctx, join); err != nil {
		return err
	}
	// The version map first: a backend's version is named before the
	// ranges send it requests.
	if rt.set.versionHeader != "" {
		if err := rt.admin.replaceMap(ctx, rt.set.files.versionMap, versionEntries(next)); err != nil {
			return err
		}
	}
	if err := rt.admin.replaceMap(ctx, rt.set.files.mapFile, mapEntries(next)); err != nil {
		return err
	}
	return rt.admin.batch(ctx, leave)
}

// reload checks and installs file, then has HAProxy load it, and waits
// until a worker running it answers the admin socket.
func (rt *Router) reload(ctx context.Context, next *model, file []byte, marker string) error {
	tmp := rt.set.files.config + ".new"
	if err := writeAtomic(tmp, file); err != nil {
		return fmt.Errorf("haproxy router: %w", err)
	}
	defer os.Remove(tmp)
	out, err := exec.CommandContext(ctx, rt.cfg.Binary, "-c", "-f", tmp).CombinedOutput()
	if err != nil {
		return fmt.Errorf("haproxy router: the rendered configuration does not pass haproxy -c (nothing changed): %s", alerts(out))
	}
	// The state file would put back the old servers' states over the new
	// file's; the file carries every server's state itself.
	for _, f := range []struct {
		path string
		data []byte
	}{{rt.set.files.mapFile, renderMap(mapEntries(next))}, {rt.set.files.versionMap, renderMap(versionEntries(next))},
		{rt.set.files.stateFile, nil}, {rt.set.files.config, file}} {
		if err := writeAtomic(f.path, f.data); err != nil {
			return fmt.Errorf("haproxy router: %w", err)
		}
	}
	if err := rt.triggerReload(ctx); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, rt.cfg.ReloadTimeout.D())
	defer cancel()
	for {
		if names, err := rt.admin.backends(ctx); err == nil && names[marker] {
			rt.marker = marker
			return nil
		}
		select {
		case <-ctx.Done():
			rt.marker = ""
			return fmt.Errorf("haproxy router: HAProxy did not load the new configuration within %v (see its log): %w", rt.cfg.ReloadTimeout, ctx.Err())
		case <-time.After(pollInterval):
		}
	}
}

// alerts keeps the lines of haproxy -c's output that say what is wrong.
func alerts(out []byte) string {
	var keep []string
	for line := range strings.Lines(string(out)) {
		if l := strings.TrimSpace(line); l != "" && !strings.HasPrefix(l, "[NOTICE]") && !strings.HasPrefix(l, "[WARNING]") {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, " / ")
}

// triggerReload asks HAProxy to reload: `reload` on the master CLI, or
// the reload command.
func (rt *Router) triggerReload(ctx context.Context) error {
	if rt.cfg.MasterSocket != "" {
		if _, err := (runtime{rt.cfg.MasterSocket}).do(ctx, "reload"); err != nil {
			return fmt.Errorf("haproxy router: reload: %w", err)
		}
		return nil
	}
	cmd := exec.CommandContext(ctx, rt.cfg.ReloadCommand[0], rt.cfg.ReloadCommand[1:]...)
	cmd.Dir = filepath.Dir(rt.cfg.Config)
	if out, err := cmd.CombinedOutput(); err != nil {
		return fmt.Errorf("haproxy router: reload command %v: %w: %s", rt.cfg.ReloadCommand, err, strings.TrimSpace(string(out)))
	}
	return nil
}

// verify reads the servers and the ranges back from the runtime API and
// compares them with next; it returns the servers' state as `show
// servers state` wrote it.
func (rt *Router) verify(ctx context.Context, next *model) (string, error) {
	live, out, err := rt.admin.showServersState(ctx, "")
	if err != nil {
		return "", err
	}
	var problems []string
	for _, s := range next.sortedServices() {
		for i, sl := range s.Slots {
			for j, sv := range sl.Servers {
				name := fmt.Sprintf("%s/s%d", backendName(s.Name, i), j+1)
				st, ok := live[name]
				switch {
				case !ok:
					problems = append(problems, name+" is missing")
				case sv.Ready && (!st.usable() || st.addr != sv.IP || st.port != sv.Port):
					problems = append(problems, fmt.Sprintf("%s is %s:%d (op %d, admin %#x, weight %d), want %s ready", name, st.addr, st.port, st.opState, st.adminState, st.weight, hostPort(sv.IP, sv.Port)))
				case !sv.Ready && st.usable():
					problems = append(problems, name+" still takes new requests")
				}
			}
		}
	}
	got, err := rt.admin.showMap(ctx, rt.set.files.mapFile)
	if err != nil {
		return "", err
	}
	for _, e := range mapEntries(next) {
		if got[e[0]] != e[1] {
			problems = append(problems, fmt.Sprintf("map %s is %q, want %s", e[0], got[e[0]], e[1]))
		}
	}
	if rt.set.versionHeader != "" {
		got, err := rt.admin.showMap(ctx, rt.set.files.versionMap)
		if err != nil {
			return "", err
		}
		for _, e := range versionEntries(next) {
			if got[e[0]] != e[1] {
				problems = append(problems, fmt.Sprintf("version map %s is %q, want %s", e[0], got[e[0]], e[1]))
			}
		}
	}
	if len(problems) > 0 {
		return "", fmt.Errorf("haproxy router: HAProxy does not serve the new split: %s", strings.Join(problems, "; "))
	}
	return out, nil
}

// persist writes what a later reload or bluejay start begins from: the
// file with the servers' addresses, the map, the server-state file and
// the model.
func (rt *Router) persist(next *model, file []byte, state string) error {
	js, err := json.MarshalIndent(next, "", "  ")
	if err != nil {
		return err
	}
	for _, f := range []struct {
		path string
		data []byte
	}{{rt.set.files.config, file}, {rt.set.files.mapFile, renderMap(mapEntries(next))}, {rt.set.files.versionMap, renderMap(versionEntries(next))},
		{rt.set.files.stateFile, ownState(state)}, {rt.model, js}} {
		if err := writeAtomic(f.path, f.data); err != nil {
			return err
		}
	}
	return nil
}

// ownState keeps the lines of `show servers state` about bluejay's
// backends, with the format's header.
func ownState(out string) []byte {
	var b bytes.Buffer
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if f[0] == "1" || strings.HasPrefix(f[0], "#") || len(f) > 1 && strings.HasPrefix(f[1], "bj_") {
			b.WriteString(line)
		}
	}
	return b.Bytes()
}

// WaitDrained returns once no server that held one of addrs and left the
// split has a request in flight or queued (scur and qcur of `show stat`),
// or when ctx ends. Addresses HAProxy never had are not waited for.
func (rt *Router) WaitDrained(ctx context.Context, addrs []string) error {
	rt.mu.Lock()
	var names []string
	for _, s := range rt.current.Services {
		for i, sl := range s.Slots {
			for j, sv := range sl.Servers {
				if !sv.Ready && sv.Addr != "" && slices.Contains(addrs, sv.Addr) {
					names = append(names, fmt.Sprintf("%s/s%d", backendName(s.Name, i), j+1))
				}
			}
		}
	}
	rt.mu.Unlock()
	for len(names) > 0 {
		cur, err := rt.admin.sessions(ctx)
		if err != nil {
			return err
		}
		names = slices.DeleteFunc(names, func(n string) bool { return cur[n] == 0 })
		if len(names) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("haproxy router: %v still have requests in flight: %w", names, ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
	return nil
}

// lookupIP resolves a host name to its first address, IPv4 first.
func lookupIP(host string) (string, error) {
	ips, err := net.LookupIP(host)
	if err != nil {
		return "", err
	}
	for _, ip := range ips {
		if ip.To4() != nil {
			return ip.String(), nil
		}
	}
	if len(ips) == 0 {
		return "", fmt.Errorf("no address for %s", host)
	}
	return ips[0].String(), nil
}

// writeAtomic replaces path with data through a temp file in the same
// directory, so that HAProxy never reads half a file.
func writeAtomic(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name())
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(0o644); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}
