package server

import (
	"context"
	"fmt"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/edge"
	"github.com/bluejay-deploy/bluejay/internal/platform/process"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// reloader is the Server's part in config reloads: the file, the config
// last loaded from it, and the platforms of static services (each keeps
// the instances it deployed, so a reload reconfigures it in place).
type reloader struct {
	mu       sync.Mutex // one reload at a time
	path     string
	loaded   *spec.Config
	loadedAt time.Time
	statics  map[string]*static.Platform
}

// reloadTimeout bounds a reload: the wait for every service loop to
// finish its step, then the swap.
const reloadTimeout = 30 * time.Second

// SetConfigPath names the file Reload reads: the one serve was started
// with. Without it, Reload fails.
func (s *Server) SetConfigPath(path string) {
	s.reloader.mu.Lock()
	defer s.reloader.mu.Unlock()
	s.reloader.path = path
	s.reloader.loadedAt = time.Now()
}

func (s *Server) keepStatic(service string, p *static.Platform) {
	if s.reloader.statics == nil {
		s.reloader.statics = map[string]*static.Platform{}
	}
	s.reloader.statics[service] = p
}

// Reload reads and validates the whole config file again and, if it is
// valid and every change can be made live, applies the difference at
// once (controller.Reload): services added, changed and removed, the
// analysis templates, the proxy's certificate (read again even when its
// path did not change, for renewals). Otherwise nothing changes and serve
// keeps serving: an invalid file is controller.ErrInvalid with every
// error as FILE:LINE:COL, a change that needs a restart
// controller.ErrConflict with the fields. With req.DryRun it only says
// what would change.
func (s *Server) Reload(ctx context.Context, req api.ReloadRequest) (api.ReloadResult, error) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), reloadTimeout)
	defer cancel()
	rl := &s.reloader
	rl.mu.Lock()
	defer rl.mu.Unlock()
	if rl.path == "" {
		return api.ReloadResult{}, fmt.Errorf("%w: serve was not started from a config file", controller.ErrInvalid)
	}
	res := api.ReloadResult{File: rl.path}
	cfg, err := spec.Load(rl.path)
	if err != nil {
		s.log.Error("config reload refused: the file is invalid; nothing was changed", "file", rl.path, "err", err)
		return res, fmt.Errorf("%w: %s is invalid; nothing was changed:\n%v", controller.ErrInvalid, rl.path, err)
	}
	res.Diff = spec.Compare(s.current(), cfg)
	if s.kube == nil {
		for _, svc := range cfg.Services {
			if svc.Platform.Kubernetes != nil && slices.Contains(res.Diff.Added, svc.Name) {
				res.Diff.Refused = append(res.Diff.Refused, fmt.Sprintf("services[%s].platform.kubernetes: serve started with no kubernetes service, so it has no cluster client; restart serve", svc.Name))
			}
		}
	}
	if len(res.Diff.Refused) > 0 {
		s.log.Error("config reload refused: changes that need a restart; nothing was changed", "file", rl.path, "refused", res.Diff.Refused)
		return res, fmt.Errorf("%w: %s: nothing was changed: these changes need a restart of serve:\n%s",
			controller.ErrConflict, rl.path, strings.Join(res.Diff.Refused, "\n"))
	}
	var certs *edge.Files
	if s.dp != nil && cfg.Proxy.TLS != nil {
		if certs, err = edge.LoadFiles(cfg.Proxy.TLS); err != nil {
			return res, fmt.Errorf("%w: %s: nothing was changed: %v", controller.ErrInvalid, rl.path, err)
		}
		if s.dp.edge.Differ(certs) && !slices.Contains(res.Diff.Settings, "proxy.tls") {
			res.Diff.Settings = append(res.Diff.Settings, "proxy.tls (certificate renewed)")
		}
	}
	if req.DryRun || res.Diff.Empty() {
		return res, nil
	}
	what := map[string]string{}
	for name, fields := range res.Diff.Changed {
		what[name] = strings.Join(fields, ", ") + " changed"
	}
	services := make([]controller.Service, len(cfg.Services))
	var configure []func() // platform changes, made while the loops wait
	for i, svc := range cfg.Services {
		services[i] = controller.Service{Spec: svc}
		if p, ok := rl.statics[svc.Name]; ok {
			services[i].Platform = p
			configure = append(configure, func() { setTargets(p, s.current(), svc) })
		} else if svc.Platform.Static != nil {
			p := static.New()
			setTargets(p, nil, svc)
			services[i].Platform = p
			configure = append(configure, func() { s.keepStatic(svc.Name, p) })
		} else if svc.Platform.Kubernetes != nil {
			services[i].Platform = s.kube
		} else {
			services[i].Platform = s.processes
			pc := svc.Platform.Process
			configure = append(configure, func() {
				s.processes.Configure(svc.Name, process.Config{Command: pc.Command, Env: pc.Env, Dir: pc.Dir,
					LogDir: pc.LogDir, Replicas: pc.Replicas, StopGrace: pc.StopGrace.D(), Logger: s.log})
			})
		}
	}
	out, err := s.controller.Reload(ctx, controller.Reload{Services: services, Templates: cfg.Analysis, What: what,
		RestartActive: req.RestartActive,
		Apply: func() {
			for _, f := range configure {
				f()
			}
			if certs != nil {
				s.dp.edge.SetFiles(certs)
			}
		}})
	if err != nil {
		s.log.Error("config reload refused; nothing was changed", "file", rl.path, "err", err)
		return res, err
	}
	rl.loaded, rl.loadedAt = cfg, time.Now()
	res.Applied, res.Rollouts = true, out.Rollouts
	s.log.Info("config reloaded", "file", rl.path, "changes", res.Diff.String(), "rollouts", out.Rollouts)
	return res, nil
}

// ConfigState says which file serve runs from and whether it changed on
// disk since it was loaded.
func (s *Server) ConfigState() api.ConfigState {
	s.reloader.mu.Lock()
	st := api.ConfigState{File: s.reloader.path, LoadedAt: s.reloader.loadedAt}
	s.reloader.mu.Unlock()
	if st.File == "" {
		return st
	}
	if fi, err := os.Stat(st.File); err == nil {
		st.Modified = fi.ModTime()
		st.Stale = st.Modified.After(st.LoadedAt)
	}
	return st
}

// current is the config last loaded: the one serve started with until a
// reload succeeds.
func (s *Server) current() *spec.Config {
	if s.reloader.loaded != nil {
		return s.reloader.loaded
	}
	return s.cfg
}

// setTargets gives a static platform the service's configured targets,
// clearing those of versions the old config had and the new one lacks.
func setTargets(p *static.Platform, old *spec.Config, svc spec.Service) {
	if old != nil {
		for _, o := range old.Services {
			if o.Name == svc.Name && o.Platform.Static != nil {
				for v := range o.Platform.Static.Targets {
					p.SetTargets(svc.Name, v, nil)
				}
			}
		}
	}
	for _, v := range slices.Sorted(maps.Keys(svc.Platform.Static.Targets)) {
		p.SetTargets(svc.Name, v, svc.Platform.Static.Targets[v])
	}
}
