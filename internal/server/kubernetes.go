package server

import (
	"context"
	"fmt"
	"time"

	k8s "k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	gwclient "sigs.k8s.io/gateway-api/pkg/client/clientset/versioned"

	"github.com/bluejay-deploy/bluejay/internal/kube"
	kubeplatform "github.com/bluejay-deploy/bluejay/internal/platform/kubernetes"
	"github.com/bluejay-deploy/bluejay/internal/router/gatewayapi"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// clusterStart bounds how long serve waits at start for the cluster to
// list bluejay's Deployments, as it waits for the store.
const clusterStart = 30 * time.Second

// usesKubernetes reports whether the config runs anything on a cluster.
func usesKubernetes(cfg *spec.Config) bool {
	if cfg.Router.GatewayAPI != nil {
		return true
	}
	for _, s := range cfg.Services {
		if s.Platform.Kubernetes != nil {
			return true
		}
	}
	return false
}

// newKubePlatform connects to the cluster and returns the kubernetes
// platform with every kubernetes service configured and its namespaces'
// Deployments listed; nil, nil when no service runs on a cluster.
func newKubePlatform(cfg *spec.Config, rc *rest.Config) (*kubeplatform.Platform, error) {
	if rc == nil {
		return nil, nil
	}
	client, err := k8s.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	watch, err := k8s.NewForConfig(kube.WatchConfig(rc))
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	p := kubeplatform.New(client)
	p.SetWatchClient(watch)
	n := 0
	for i := range cfg.Services {
		s := &cfg.Services[i]
		k := s.Platform.Kubernetes
		if k == nil {
			continue
		}
		n++
		p.Configure(s.Name, kubeplatform.Config{
			Namespace: cfg.Kubernetes.NamespaceOf(s), Image: k.Image, Port: k.Port, Replicas: k.Replicas,
			Args: k.Args, Env: k.Env, Requests: k.Requests, Limits: k.Limits, StopGrace: k.StopGrace.D(),
			Probe: kubeplatform.Probe{Path: s.Health.Path, Period: s.Health.Interval.D(), Timeout: s.Health.Timeout.D(),
				Success: s.Health.HealthyThreshold, Failure: s.Health.UnhealthyThreshold},
			ProgressDeadline: s.Health.ReadyTimeout.D(),
		})
	}
	if n == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), clusterStart)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		p.Close()
		return nil, fmt.Errorf("kubernetes (%s): %w", rc.Host, err)
	}
	return p, nil
}

// newGatewayRouter returns the gatewayAPI router for the config's
// services.
func newGatewayRouter(cfg *spec.Config, rc *rest.Config) (*gatewayapi.Router, error) {
	client, err := gwclient.NewForConfig(rc)
	if err != nil {
		return nil, fmt.Errorf("router.gatewayAPI: %w", err)
	}
	g := cfg.Router.GatewayAPI
	c := gatewayapi.Config{AcceptTimeout: g.AcceptTimeout.D(), Services: map[string]gatewayapi.Service{}}
	for _, p := range g.ParentRefs {
		c.ParentRefs = append(c.ParentRefs, gatewayapi.Parent{Name: p.Name, Namespace: p.Namespace, SectionName: p.SectionName, Port: p.Port})
	}
	for i := range cfg.Services {
		s := &cfg.Services[i]
		if k := s.Platform.Kubernetes; k != nil {
			c.Services[s.Name] = gatewayapi.Service{Namespace: cfg.Kubernetes.NamespaceOf(s), Port: k.Port}
		}
	}
	return gatewayapi.New(client, c), nil
}

// kubeConfig is the cluster's REST config, nil when nothing runs there.
func kubeConfig(cfg *spec.Config) (*rest.Config, error) {
	if !usesKubernetes(cfg) {
		return nil, nil
	}
	rc, err := kube.Config(cfg.Kubernetes)
	if err != nil {
		return nil, fmt.Errorf("kubernetes: %w", err)
	}
	return rc, nil
}
