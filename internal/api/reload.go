package api

import (
	"context"
	"net/http"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// ReloadRequest is the body of POST /v1/reload; an empty body is the
// zero value.
type ReloadRequest struct {
	// DryRun reads, validates and compares the file, and applies nothing
	// (bluejay diff).
	DryRun bool `json:"dryRun,omitempty"`
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
