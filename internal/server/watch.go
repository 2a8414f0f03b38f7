package server

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"

	"github.com/bluejay-deploy/bluejay/internal/api"
)

// DefaultDebounce is how long WatchConfig waits after the last change
// in the config's directory before it reloads: an editor's save or the
// kubelet's update of a ConfigMap volume is several events.
const DefaultDebounce = 500 * time.Millisecond

// WatchConfig reloads the config (Reload) when the file's contents
// change, until ctx ends; each reload's outcome is passed to done. It
// watches the file's directory, not the file: editors replace the file
// by a rename, and the kubelet updates a mounted ConfigMap by pointing
// the `..data` symlink at a new directory, neither of which a watch on
// the file itself would follow. Every burst of events, once quiet for
// debounce (zero means DefaultDebounce), is one read of the file; it
// reloads only if the contents differ from those last read, so a burst
// is at most one reload.
func (s *Server) WatchConfig(ctx context.Context, debounce time.Duration, done func(api.ReloadResult, error)) error {
	s.reloader.mu.Lock()
	path := s.reloader.path
	s.reloader.mu.Unlock()
	if path == "" {
		return fmt.Errorf("watching the config: serve was not started from a config file")
	}
	if debounce <= 0 {
		debounce = DefaultDebounce
	}
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching the config: %w", err)
	}
	if err := w.Add(filepath.Dir(path)); err != nil {
		w.Close()
		return fmt.Errorf("watching the config's directory: %w", err)
	}
	last, _ := os.ReadFile(path) // followed through symlinks
	s.background.Go(func() {
		defer w.Close()
		quiet := time.NewTimer(time.Hour)
		quiet.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case err := <-w.Errors:
				s.log.Warn("watching the config", "file", path, "err", err)
			case <-w.Events:
				quiet.Reset(debounce)
			case <-quiet.C:
				cur, err := os.ReadFile(path)
				if err != nil || bytes.Equal(cur, last) {
					continue // mid-swap, or a change to another file of the directory
				}
				last = cur
				s.log.Info("the config file changed: reloading", "file", path)
				res, err := s.Reload(ctx, api.ReloadRequest{})
				if done != nil {
					done(res, err)
				}
			}
		}
	})
	return nil
}
