package server

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/spec"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/etcd"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// openStore opens the configured store: etcd when store.etcd is set,
// else the SQLite file. It also returns how logs name it.
func openStore(cfg *spec.Config) (store.Store, string, error) {
	if e := cfg.Store.Etcd; e != nil {
		name := "etcd " + strings.Join(e.Endpoints, ",") + " " + e.Prefix
		st, err := etcd.Open(context.Background(), endpointURLs(e.Endpoints), e.Prefix)
		if err != nil {
			return nil, "", fmt.Errorf("opening store %s: %w", name, err)
		}
		return st, name, nil
	}
	st, err := sqlite.Open(cfg.Store.Path)
	if err != nil {
		return nil, "", fmt.Errorf("opening store %s: %w", cfg.Store.Path, err)
	}
	return st, st.Path(), nil
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
