package process

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"maps"
	"slices"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

var _ platform.Specs = (*Platform)(nil)

// SpecOf returns what instances of v would be started with now: a digest
// of the service's command, env and directory, the build and v's args.
func (p *Platform) SpecOf(v platform.Version) (string, error) {
	p.mu.Lock()
	cfg, ok := p.configs[v.Service]
	p.mu.Unlock()
	if !ok {
		return "", fmt.Errorf("%s %s: %w", v.Service, v.Label, ErrUnknownService)
	}
	return specOf(cfg, v), nil
}

// specOf digests what an instance of v is started with, before the
// per-instance values (port, index) are filled in.
func specOf(cfg Config, v platform.Version) string {
	var env []string
	for _, k := range slices.Sorted(maps.Keys(cfg.Env)) {
		env = append(env, k+"="+cfg.Env[k])
	}
	data, _ := json.Marshal(struct {
		Command, Env, Args []string
		Dir, Build         string
	}{cfg.Command, env, v.Args, cfg.Dir, v.BuildOf()})
	sum := sha256.Sum256(data)
	return hex.EncodeToString(sum[:8])
}
