package api

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// MaintenanceBody is the body of POST /v1/services/{name}/maintenance.
type MaintenanceBody struct {
	// On puts the service into maintenance; false takes it out.
	On bool `json:"on"`
	// Message is the plain-text answer; "" means a default naming the
	// service. Ignored when Page is set.
	Message string `json:"message,omitempty"`
	// Page is an HTML page to answer with; "" means Message.
	Page string `json:"page,omitempty"`
	// RetryAfter is the Retry-After header ("30s"); "" means none.
	RetryAfter string `json:"retryAfter,omitempty"`
}

// PauseTrafficBody is the body of POST /v1/services/{name}/pause-traffic.
type PauseTrafficBody struct {
	// Timeout is how long requests are held at most ("30s"). Required.
	Timeout string `json:"timeout"`
}

func (s *Server) maintenance(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	var b MaintenanceBody
	if err := decode(r, &b); err != nil {
		return nil, 0, err
	}
	var m *router.Maintenance
	if b.On {
		m = &router.Maintenance{Message: b.Message, Page: b.Page}
		if b.RetryAfter != "" {
			d, err := time.ParseDuration(b.RetryAfter)
			if err != nil || d < 0 || d%time.Second != 0 {
				return nil, 0, fmt.Errorf("%w: retryAfter %q: want whole seconds such as 30s", errBadRequest, b.RetryAfter)
			}
			m.RetryAfter = int(d / time.Second)
		}
	} else if b.Message != "" || b.Page != "" || b.RetryAfter != "" {
		return nil, 0, fmt.Errorf("%w: message, page and retryAfter go with on: true", errBadRequest)
	}
	st, err := s.Controller.SetMaintenance(r.Context(), r.PathValue("name"), m)
	return st, http.StatusOK, err
}

func (s *Server) pauseTraffic(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	var b PauseTrafficBody
	if err := decode(r, &b); err != nil {
		return nil, 0, err
	}
	d, err := time.ParseDuration(b.Timeout)
	if err != nil {
		return nil, 0, fmt.Errorf("%w: timeout %q: want a duration such as 30s", errBadRequest, b.Timeout)
	}
	st, err := s.Controller.PauseTraffic(r.Context(), r.PathValue("name"), d)
	return st, http.StatusOK, err
}

func (s *Server) resumeTraffic(_ http.ResponseWriter, r *http.Request) (any, int, error) {
	st, err := s.Controller.ResumeTraffic(r.Context(), r.PathValue("name"))
	return st, http.StatusOK, err
}

// Maintenance puts the service into maintenance or out of it.
func (c *Client) Maintenance(ctx context.Context, service string, b MaintenanceBody) (controller.ServiceStatus, error) {
	var out controller.ServiceStatus
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/maintenance", b, &out)
}

// PauseTraffic holds the service's requests for up to timeout.
func (c *Client) PauseTraffic(ctx context.Context, service string, timeout time.Duration) (controller.ServiceStatus, error) {
	var out controller.ServiceStatus
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/pause-traffic",
		PauseTrafficBody{Timeout: timeout.String()}, &out)
}

// ResumeTraffic releases the service's held requests.
func (c *Client) ResumeTraffic(ctx context.Context, service string) (controller.ServiceStatus, error) {
	var out controller.ServiceStatus
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/resume-traffic", nil, &out)
}
