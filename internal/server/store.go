package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/lockfile"
	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/etcd"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// openStore opens the configured store: etcd when store.etcd is set,
// else the SQLite file, locked for a controller (see sqlite.OpenAs) and
// not for a proxy, which only reads it beside the controller. It also
// returns how logs name it.
func openStore(cfg *spec.Config, controller bool) (store.Store, string, error) {
	if e := cfg.Store.Etcd; e != nil {
		name := "etcd " + strings.Join(e.Endpoints, ",") + " " + e.Prefix
		st, err := etcd.Open(context.Background(), endpointURLs(e.Endpoints), e.Prefix)
		if err != nil {
			return nil, "", fmt.Errorf("opening store %s: %w", name, err)
		}
		return st, name, nil
	}
	if !controller {
		st, err := sqlite.OpenUnlocked(cfg.Store.Path)
		if err != nil {
			return nil, "", err
		}
		return st, st.Path(), nil
	}
	// Locked until the store closes: a second serve on the file is
	// refused here, before it binds or adopts anything.
	st, err := sqlite.OpenAs(cfg.Store.Path, holder(cfg, cfg.Admin.Listen))
	if err != nil {
		return nil, "", err // it names the store
	}
	return st, st.Path(), nil
}

// holder is how this serve names itself in the lock files it holds: its
// pid and listen addresses.
func holder(cfg *spec.Config, admin string) lockfile.Holder {
	proxy := ""
	if cfg.Proxy.Control == "" && cfg.Router.Name() == "builtin" {
		proxy = cfg.Proxy.Listen
	}
	return lockfile.Self("admin", admin, "proxy", proxy)
}

// lockInstances locks the process platform's state file, before this
// serve adopts the instances it records: two serves on one state file
// (two etcd stores run from one directory, say) would adopt, and stop,
// each other's instances. The lock is held until Run returns.
func (s *Server) lockInstances() error {
	lock, err := lockfile.Acquire(instanceStateFile(s.cfg)+".lock", holder(s.cfg, s.AdminAddr()))
	if err != nil {
		return fmt.Errorf("the process platform's instances: %w", err)
	}
	s.instancesLock = lock
	return nil
}

// endpointURLs gives a bare host:port endpoint the http scheme.
func endpointURLs(eps []string) []string {
	out := make([]string, len(eps))
	for i, ep := range eps {
		if !strings.Contains(ep, "://") {
			ep = "http://" + ep
		}
		out[i] = ep
	}
	return out
}

// instanceStateFile is where the process platform records the instances
// it started, for the next run to adopt: beside the SQLite file, or in
// the config's directory with the etcd store (the instances run on this
// machine, whatever holds the rollouts).
func instanceStateFile(cfg *spec.Config) string {
	if cfg.Store.Etcd != nil {
		return filepath.Join(cfg.Dir, "bluejay.instances.json")
	}
	return cfg.Store.Path + ".instances.json"
}
