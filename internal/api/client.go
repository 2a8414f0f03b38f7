package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/url"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// Client calls the admin API.
type Client struct {
	// Addr is the admin API's host:port or base URL.
	Addr string
	// Token is the bearer token.
	Token string
	// HTTP sends the requests. Nil means http.DefaultClient.
	HTTP *http.Client
}

// Error is an error answer from the API.
type Error struct {
	// Status is the HTTP status.
	Status int
	// Message is the API's sentence for people.
	Message string
	// Code names the kind of error for programs (CodeUnknownService,
	// ...); "" from a server that sent none.
	Code string
}

func (e *Error) Error() string { return fmt.Sprintf("%s (HTTP %d)", e.Message, e.Status) }

// Services returns every service's status.
func (c *Client) Services(ctx context.Context) ([]controller.ServiceStatus, error) {
	var out []controller.ServiceStatus
	return out, c.do(ctx, http.MethodGet, "/v1/services", nil, &out)
}

// Service returns one service's status.
func (c *Client) Service(ctx context.Context, name string) (controller.ServiceStatus, error) {
	var out controller.ServiceStatus
	return out, c.do(ctx, http.MethodGet, "/v1/services/"+url.PathEscape(name), nil, &out)
}

// Deploy starts a rollout.
func (c *Client) Deploy(ctx context.Context, service string, b DeployBody) (engine.Rollout, error) {
	var out engine.Rollout
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/deploy", b, &out)
}

// Command sends promote, abort, pause, resume or rollback (to the
// previous version).
func (c *Client) Command(ctx context.Context, service string, cmd engine.Command) (engine.Rollout, error) {
	var out engine.Rollout
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/"+string(cmd), struct{}{}, &out)
}

// Promote moves a rollout past its current gate; full skips a canary's
// remaining steps.
func (c *Client) Promote(ctx context.Context, service string, full bool) (engine.Rollout, error) {
	var out engine.Rollout
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/promote", PromoteBody{Full: full}, &out)
}

// Rollback returns the service to version to, or to its previous
// version if to is "": a traffic flip while that version is warm,
// otherwise a new rollout of it.
func (c *Client) Rollback(ctx context.Context, service, to string) (engine.Rollout, error) {
	var out engine.Rollout
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/rollback", RollbackBody{To: to}, &out)
}

// Routes returns the stored routing table, one route per service.
func (c *Client) Routes(ctx context.Context) ([]router.Route, error) {
	var out []router.Route
	return out, c.do(ctx, http.MethodGet, "/v1/routes", nil, &out)
}

// Retry starts the service's last unsuccessful rollout again.
func (c *Client) Retry(ctx context.Context, service string) (engine.Rollout, error) {
	var out engine.Rollout
	return out, c.do(ctx, http.MethodPost, "/v1/services/"+url.PathEscape(service)+"/retry", struct{}{}, &out)
}

// Rollouts lists a service's rollouts, newest first.
func (c *Client) Rollouts(ctx context.Context, service string, limit int) ([]engine.Rollout, error) {
	var out []engine.Rollout
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/services/%s/rollouts?limit=%d", url.PathEscape(service), limit), nil, &out)
}

// Events lists a service's events, oldest first.
func (c *Client) Events(ctx context.Context, service string, limit int) ([]engine.Event, error) {
	var out []engine.Event
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/services/%s/events?limit=%d", url.PathEscape(service), limit), nil, &out)
}

// Rollout returns one rollout.
func (c *Client) Rollout(ctx context.Context, id int64) (engine.Rollout, error) {
	var out engine.Rollout
	return out, c.do(ctx, http.MethodGet, fmt.Sprintf("/v1/rollouts/%d", id), nil, &out)
}

func (c *Client) do(ctx context.Context, method, path string, in, out any) error {
	var body io.Reader
	if in != nil {
		b, err := json.Marshal(in)
		if err != nil {
			return err
		}
		body = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base()+path, body)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http().Do(req)
	if err != nil {
		return fmt.Errorf("calling the admin API at %s: %w", c.Addr, err)
	}
	defer resp.Body.Close()
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != "application/json" {
		return c.notAdmin(resp)
	}
	if resp.StatusCode >= 300 {
		return decodeError(resp)
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("%w (HTTP %d, reading the JSON answer: %v)", ErrNotAdmin, resp.StatusCode, err)
	}
	return nil
}

// ErrNotAdmin is the error of an address that answered HTTP but not as
// bluejay's admin API (the proxy's port, another server).
var ErrNotAdmin = errors.New("the address answered but is not bluejay's admin API")

// notAdmin is the error for an answer that is not the admin API's JSON.
// A 429 with Retry-After is the throttle of the proxy's control API.
func (c *Client) notAdmin(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 200))
	first, _, _ := strings.Cut(strings.TrimSpace(string(b)), "\n")
	if resp.StatusCode == http.StatusTooManyRequests {
		return &Error{Status: resp.StatusCode, Message: first, Code: CodeThrottled}
	}
	return fmt.Errorf("%s: %w (HTTP %d, %q: %q); check BLUEJAY_ADMIN or admin.listen", c.Addr, ErrNotAdmin,
		resp.StatusCode, resp.Header.Get("Content-Type"), first)
}

func decodeError(resp *http.Response) error {
	var e errorBody
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	if json.Unmarshal(b, &e) != nil || e.Error == "" {
		e.Error = strings.TrimSpace(string(b))
	}
	return &Error{Status: resp.StatusCode, Message: e.Error, Code: e.Code}
}

func (c *Client) base() string {
	if strings.Contains(c.Addr, "://") {
		return strings.TrimSuffix(c.Addr, "/")
	}
	return "http://" + c.Addr
}

func (c *Client) http() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}
