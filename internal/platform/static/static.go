package static

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"sync"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// ErrNoTargets is returned by Deploy for a version with no targets.
var ErrNoTargets = errors.New("no targets")

// Platform routes to addresses run by something else. The zero value is
// not usable; call New. A Platform is safe for concurrent use.
type Platform struct {
	mu         sync.Mutex
	configured map[key][]string
	deployed   map[key][]platform.Instance
}

var _ platform.Platform = (*Platform)(nil)

type key struct{ service, version string }

// New returns a Platform with no targets.
func New() *Platform {
	return &Platform{configured: map[key][]string{}, deployed: map[key][]platform.Instance{}}
}

// SetTargets sets the version's targets from the config. Deploy uses
// them when the version brings none of its own; a version already
// deployed keeps its instances until it is deployed again.
func (p *Platform) SetTargets(service, version string, addrs []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.configured[key{service, version}] = slices.Clone(addrs)
}

// Deploy records the version's instances: one per target in v.Targets
// or, if it has none, per target set with SetTargets. Deploying again
// replaces them. A version with no targets, or a target that is not
// host:port, is an error.
func (p *Platform) Deploy(_ context.Context, v platform.Version) error {
	k := key{v.Service, v.Label}
	p.mu.Lock()
	defer p.mu.Unlock()
	addrs := v.Targets
	if len(addrs) == 0 {
		addrs = p.configured[k]
	}
	if len(addrs) == 0 {
		return fmt.Errorf("%w for %s %s: pass --target or set platform.static.targets", ErrNoTargets, v.Service, v.Label)
	}
	insts, err := instances(v, addrs, time.Now())
	if err != nil {
		return err
	}
	p.deployed[k] = insts
	return nil
}

// instances makes one running instance per address.
func instances(v platform.Version, addrs []string, now time.Time) ([]platform.Instance, error) {
	insts := make([]platform.Instance, len(addrs))
	for i, addr := range addrs {
		if _, _, err := net.SplitHostPort(addr); err != nil {
			return nil, fmt.Errorf("target %q for %s %s: want host:port: %w", addr, v.Service, v.Label, err)
		}
		insts[i] = platform.Instance{
			ID:      fmt.Sprintf("%s-%s-%d", v.Service, v.Label, i),
			Version: v.Label,
			Addr:    addr,
			State:   platform.StateRunning,
			Started: now,
		}
	}
	return insts, nil
}

// Instances returns the version's instances in target order, or an
// empty slice if it is not deployed.
func (p *Platform) Instances(service, version string) ([]platform.Instance, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]platform.Instance{}, p.deployed[key{service, version}]...), nil
}

// Stop forgets the version's instances; the processes behind them keep
// running. Stopping a version that is not deployed is not an error.
func (p *Platform) Stop(_ context.Context, service, version string) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.deployed, key{service, version})
	return nil
}
