package server

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/platform"
)

// targetsEvery is how often the Prometheus targets file is refreshed.
const targetsEvery = time.Second

// targetGroup is one entry of a Prometheus file_sd file.
type targetGroup struct {
	Targets []string          `json:"targets"`
	Labels  map[string]string `json:"labels"`
}

// writeTargets keeps prometheus.targetsFile listing every running
// instance, one group per service and version, so that Prometheus scrapes
// each version wherever the platform started it. The file is rewritten
// (atomically) only when the set changes; Prometheus notices by inotify.
func (s *Server) writeTargets(ctx context.Context, path string) {
	t := time.NewTicker(targetsEvery)
	defer t.Stop()
	var last []byte
	for {
		b := s.targets()
		if !bytes.Equal(b, last) {
			if err := writeFileAtomic(path, b); err != nil {
				s.log.Warn("writing prometheus.targetsFile", "path", path, "err", err)
			} else {
				last = b
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// targets renders the file_sd content of the running instances.
func (s *Server) targets() []byte {
	groups := []targetGroup{}
	for _, name := range s.controller.Services() {
		st, err := s.controller.Status(name)
		if err != nil {
			continue
		}
		byVersion := map[string][]string{}
		for _, in := range st.Instances {
			if in.State == platform.StateRunning {
				byVersion[in.Version] = append(byVersion[in.Version], in.Addr)
			}
		}
		for _, v := range slices.Sorted(mapKeys(byVersion)) {
			addrs := byVersion[v]
			slices.Sort(addrs)
			groups = append(groups, targetGroup{Targets: addrs, Labels: map[string]string{"service": name, "version": v}})
		}
	}
	b, _ := json.MarshalIndent(groups, "", "  ")
	return append(b, '\n')
}

func writeFileAtomic(path string, b []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	if _, err := tmp.Write(b); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

func mapKeys[V any](m map[string]V) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}
