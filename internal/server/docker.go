package server

import (
	"context"
	"fmt"
	"log/slog"
	"strings"

	dockerplatform "github.com/bluejay-deploy/bluejay/internal/platform/docker"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// newDockerPlatform connects to the host's Docker Engine (DOCKER_HOST,
// else its default socket) and configures every docker service; nil, nil
// when no service runs on docker. The containers are this store's
// (StoreName): another store's are never touched.
func newDockerPlatform(cfg *spec.Config, log *slog.Logger) (*dockerplatform.Platform, error) {
	var p *dockerplatform.Platform
	for i := range cfg.Services {
		s := &cfg.Services[i]
		d := s.Platform.Docker
		if d == nil {
			continue
		}
		if p == nil {
			cli, err := dockerplatform.NewClient()
			if err != nil {
				return nil, fmt.Errorf("docker: %w", err)
			}
			p = dockerplatform.New(cli, StoreName(cfg))
		}
		p.Configure(s.Name, dockerplatform.Config{Image: d.Image, Port: d.Port, Replicas: d.Replicas, Args: d.Args,
			Env: d.Env, Network: d.Network, Pull: d.Pull, PullTimeout: d.PullTimeout.D(), Labels: d.Labels,
			Volumes: d.Volumes, Memory: d.Resources.MemoryBytes(), NanoCPUs: d.Resources.NanoCPUs(),
			StopGrace: d.StopGrace.D(), Logger: log})
	}
	return p, nil
}

// StoreName is how the docker platform names the store in its
// containers' bluejay.store label (hashed): the SQLite file, or etcd's
// endpoints and prefix, as openStore names it.
func StoreName(cfg *spec.Config) string {
	if e := cfg.Store.Etcd; e != nil {
		return "etcd " + strings.Join(e.Endpoints, ",") + " " + e.Prefix
	}
	return cfg.Store.Path
}

// NewDockerLogs returns the docker platform of the config's store, for
// reading its containers' logs (`bluejay logs`).
func NewDockerLogs(cfg *spec.Config) (*dockerplatform.Platform, error) {
	cli, err := dockerplatform.NewClient()
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	return dockerplatform.New(cli, StoreName(cfg)), nil
}

// adoptContainers finds the containers a previous run left (they run on,
// as they are) and removes those of services no longer configured.
func (s *Server) adoptContainers(ctx context.Context) error {
	if s.docker == nil {
		return nil
	}
	var keep []string
	for _, svc := range s.cfg.Services {
		if svc.Platform.Docker != nil {
			keep = append(keep, svc.Name)
		}
	}
	n, err := s.docker.Prune(ctx, keep)
	if err != nil {
		return fmt.Errorf("docker: %w", err)
	}
	if n > 0 {
		s.log.Info("adopted the containers a previous run left running", "containers", n)
	}
	return nil
}
