package api

import (
	"context"
	"net/http"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// ReloadRequest is the body of POST /v1/reload; an empty body is the
// zero value.
type ReloadRequest struct {
	// DryRun reads, validates and compares the file, and applies nothing
	// (bluejay diff).
	DryRun bool `json:"dryRun,omitempty"`
	// RestartActive restarts the active rollouts of changed services with
	// the new plan (abort, then the same version again); false lets them
	// finish with the plan they started with.
	RestartActive bool `json:"restartActive,omitempty"`
}

// ReloadResult is what a reload found and did.
type ReloadResult struct {
	// File is the config file read.
	File string `json:"file"`
	// Diff is what changed between the loaded config and the file.
	Diff spec.Diff `json:"diff"`
	// Applied is false for a dry run and when nothing changed.
	Applied bool `json:"applied"`
	// Rollouts are the rollouts the reload started or asked for.
	Rollouts []string `json:"rollouts,omitempty"`
}

// Reloader reloads the config file serve was started with: an invalid
// file is controller.ErrInvalid (every error, file:line:col), a change
// that cannot be made live controller.ErrConflict; either changes nothing.
type Reloader func(ctx context.Context, req ReloadRequest) (ReloadResult, error)

func (s *Server) reload(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	var req ReloadRequest
	if r.ContentLength != 0 {
		if err := decode(r, &req); err != nil {
			return nil, 0, err
		}
	}
	res, err := s.Reload(r.Context(), req)
	if err != nil {
		return nil, 0, err
	}
	return res, http.StatusOK, nil
}

// Reload asks serve to reload its config file (POST /v1/reload).
func (c *Client) Reload(ctx context.Context, req ReloadRequest) (ReloadResult, error) {
	var out ReloadResult
	return out, c.do(ctx, http.MethodPost, "/v1/reload", req, &out)
}

// ConfigState is the answer of GET /v1/config: the file serve runs
// from and whether it changed on disk since serve loaded it.
type ConfigState struct {
	// File is the config file; "" when serve was not started from one.
	File string `json:"file"`
	// LoadedAt is when serve last loaded it (start or reload).
	LoadedAt time.Time `json:"loadedAt"`
	// Modified is the file's modification time on disk.
	Modified time.Time `json:"modified"`
	// Stale says the file on disk is newer than what is loaded: a reload
	// (or a restart) would apply it; `bluejay diff` shows what changes.
	Stale bool `json:"stale"`
}

func (s *Server) config(_ http.ResponseWriter, _ *http.Request) (any, int, error) {
	return s.Config(), http.StatusOK, nil
}

// Config returns the config file's state (GET /v1/config).
func (c *Client) Config(ctx context.Context) (ConfigState, error) {
	var out ConfigState
	return out, c.do(ctx, http.MethodGet, "/v1/config", nil, &out)
}
