package api

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"sync"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// listServices answers every service's status: a JSON array of them,
// each encoded once per revision of its status (Controller.StatusRev)
// and kept in s.statuses, so that the status of thousands of idle
// services is mostly copied bytes (issue 22: under 200 ms at 2,000).
// The answer is the bytes writeJSON would write for the slice.
func (s *Server) listServices(_ http.ResponseWriter, _ *http.Request) (any, int, error) {
	names := s.Controller.Services()
	parts := make([][]byte, 0, len(names))
	size := 0
	for _, name := range names {
		b, err := s.encodedStatus(name)
		if err != nil {
			return nil, 0, err
		}
		parts = append(parts, b)
		size += len(b) + 4
	}
	if len(parts) == 0 {
		return []controller.ServiceStatus{}, http.StatusOK, nil
	}
	out := make(rawJSON, 0, size+4)
	out = append(out, "[\n  "...)
	for i, b := range parts {
		if i > 0 {
			out = append(out, ",\n  "...)
		}
		out = append(out, b...)
	}
	out = append(out, "\n]\n"...)
	return out, http.StatusOK, nil
}

// statusCache keeps each service's status as listServices writes it,
// with the revision and kept plan it was encoded from.
type statusCache struct {
	mu sync.Mutex
	m  map[string]cachedStatus
}

type cachedStatus struct {
	rev  uint64
	kept string
	enc  []byte
}

// encodedStatus returns the service's live status indented as an
// element of writeJSON's array, from the cache while its revision holds.
func (s *Server) encodedStatus(name string) ([]byte, error) {
	st, rev, err := s.Controller.StatusRev(name)
	if err != nil {
		return nil, err
	}
	s.statuses.mu.Lock()
	c, ok := s.statuses.m[name]
	s.statuses.mu.Unlock()
	if ok && c.rev == rev && c.kept == st.KeptPlan {
		return c.enc, nil
	}
	enc, err := json.MarshalIndent(liveStatus(st), "  ", "  ")
	if err != nil {
		return nil, fmt.Errorf("encoding the status of %s: %w", name, err)
	}
	s.statuses.mu.Lock()
	if s.statuses.m == nil {
		s.statuses.m = map[string]cachedStatus{}
	}
	s.statuses.m[name] = cachedStatus{rev: rev, kept: st.KeptPlan, enc: enc}
	s.statuses.mu.Unlock()
	return enc, nil
}

func (s *Server) getService(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	st, err := s.Controller.Status(r.PathValue("name"))
	return liveStatus(st), http.StatusOK, err
}

// liveStatus gives the status's rollout its live blast radius, as
// Server.live does for the history.
func liveStatus(st controller.ServiceStatus) controller.ServiceStatus {
	if st.Rollout.Phase.Active() {
		st.Rollout.Exposure = st.Exposure
	}
	return st
}

// DeployBody is the body of POST /v1/services/{name}/deploy.
type DeployBody struct {
	Version  string   `json:"version"`
	Strategy string   `json:"strategy,omitempty"`
	Targets  []string `json:"targets,omitempty"`
	Args     []string `json:"args,omitempty"`
}

func (s *Server) deploy(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	var b DeployBody
	if err := decode(r, &b); err != nil {
		return nil, 0, err
	}
	ro, err := s.Controller.Deploy(r.Context(), controller.DeployRequest{Service: r.PathValue("name"),
		Version: b.Version, Strategy: b.Strategy, Targets: b.Targets, Args: b.Args})
	return ro, http.StatusCreated, err
}

func (s *Server) command(cmd engine.Command) handlerFunc {
	return func(_ http.ResponseWriter, r *http.Request) (any, int, error) {
		ro, err := s.Controller.Command(r.Context(), r.PathValue("name"), cmd)
		return ro, http.StatusOK, err
	}
}

// PromoteBody is the optional body of POST /v1/services/{name}/promote.
type PromoteBody struct {
	// Full skips a canary's remaining steps and analyses.
	Full bool `json:"full,omitempty"`
}

func (s *Server) promote(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	var b PromoteBody
	if r.ContentLength != 0 {
		if err := decode(r, &b); err != nil {
			return nil, 0, err
		}
	}
	cmd := engine.CmdPromote
	if b.Full {
		cmd = engine.CmdPromoteFull
	}
	ro, err := s.Controller.Command(r.Context(), r.PathValue("name"), cmd)
	return ro, http.StatusOK, err
}

func (s *Server) retry(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	ro, err := s.Controller.Retry(r.Context(), r.PathValue("name"))
	return ro, http.StatusCreated, err
}

// RollbackBody is the optional body of POST /v1/services/{name}/rollback.
type RollbackBody struct {
	// To is the version to return to, one the service ran before; ""
	// means the previous one.
	To string `json:"to,omitempty"`
}

func (s *Server) rollback(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	var b RollbackBody
	if r.ContentLength != 0 {
		if err := decode(r, &b); err != nil {
			return nil, 0, err
		}
	}
	ro, err := s.Controller.Rollback(r.Context(), r.PathValue("name"), b.To)
	return ro, http.StatusOK, err
}

func (s *Server) listRoutes(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	routes, err := s.Controller.Routes(r.Context())
	if routes == nil {
		routes = []router.Route{}
	}
	return routes, http.StatusOK, err
}

func (s *Server) listRollouts(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	n, err := limit(r)
	if err != nil {
		return nil, 0, err
	}
	rs, err := s.Controller.Rollouts(r.Context(), r.PathValue("name"), n)
	if rs == nil {
		rs = []engine.Rollout{}
	}
	for i := range rs {
		rs[i] = s.live(rs[i])
	}
	return rs, http.StatusOK, err
}

// live is r with the blast radius the status shows while r is active:
// the stored one is as of r's last decision, and a paused rollout makes
// none for a while. One number for the status, history and dashboard.
func (s *Server) live(r engine.Rollout) engine.Rollout {
	if !r.Phase.Active() {
		return r
	}
	if st, err := s.Controller.Status(r.Service); err == nil && st.Rollout.ID == r.ID {
		r.Exposure = st.Exposure
	}
	return r
}

func (s *Server) listEvents(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	n, err := limit(r)
	if err != nil {
		return nil, 0, err
	}
	evs, err := s.Controller.Events(r.Context(), r.PathValue("name"), n)
	if evs == nil {
		evs = []engine.Event{}
	}
	return evs, http.StatusOK, err
}

func (s *Server) getRollout(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: rollout id %q: want a number", errBadRequest, r.PathValue("id"))
	}
	ro, err := s.Controller.Rollout(r.Context(), id)
	return s.live(ro), http.StatusOK, err
}
