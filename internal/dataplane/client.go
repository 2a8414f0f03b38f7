package dataplane

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

var (
	_ router.Router    = (*Client)(nil)
	_ metrics.Metrics  = (*Client)(nil)
	_ metrics.Windowed = (*Client)(nil)
)

// ErrNotApplied is returned by SetRoute when the proxy, having re-read the
// store, routes the service otherwise than asked: the route was not
// persisted before SetRoute, or another writer changed it since.
var ErrNotApplied = errors.New("the proxy did not apply the route")

// Client drives a separate proxy through its control API. It is safe for
// concurrent use.
type Client struct {
	// URL is the control listener's base URL, e.g. http://127.0.0.1:7071.
	// Required.
	URL string
	// Token is the bearer token. Required.
	Token string
	// HTTP makes the calls. Nil means a client with a 10s timeout for
	// every call but drains and the errors stream, which carry their own.
	HTTP *http.Client
	// Logger receives the errors stream's reconnections. Nil means
	// slog.Default().
	Logger *slog.Logger
}

// SetRoute asks the proxy to re-read the store, where the controller
// stored r just before, and returns once the proxy says r is live.
func (c *Client) SetRoute(ctx context.Context, r router.Route) error {
	var got routes
	if err := c.call(ctx, http.MethodPost, pathReload, nil, &got); err != nil {
		return fmt.Errorf("applying the route of %s: %w", r.Service, err)
	}
	for _, a := range got.Routes {
		if a.Service == r.Service && a.Equal(r) {
			return nil
		}
	}
	return fmt.Errorf("applying the route of %s: %w", r.Service, ErrNotApplied)
}

// Routes returns the table the proxy applies.
func (c *Client) Routes(ctx context.Context) ([]router.Route, error) {
	var got routes
	err := c.call(ctx, http.MethodGet, pathRoutes, nil, &got)
	return got.Routes, err
}

// Counts returns the version's cumulative counts since the proxy started.
func (c *Client) Counts(ctx context.Context, service, version string) (metrics.Counts, error) {
	var got metrics.Counts
	q := url.Values{"service": {service}, "version": {version}}
	err := c.call(ctx, http.MethodGet, pathCounts+"?"+q.Encode(), nil, &got)
	return got, err
}

// Window returns the version's measurements of the requests that finished
// in [from, to), with the latency sample.
func (c *Client) Window(ctx context.Context, service, version string, from, to time.Time) (metrics.Sample, error) {
	var got sample
	q := url.Values{"service": {service}, "version": {version},
		"from": {strconv.FormatInt(from.UnixNano(), 10)}, "to": {strconv.FormatInt(to.UnixNano(), 10)}}
	if err := c.call(ctx, http.MethodGet, pathWindow+"?"+q.Encode(), nil, &got); err != nil {
		return metrics.Sample{}, err
	}
	s := got.Sample
	s.Latencies = got.Latencies
	return s, nil
}

// WaitDrained waits until the proxy has no request in flight to addrs,
// or ctx ends.
func (c *Client) WaitDrained(ctx context.Context, addrs []string) error {
	return c.call(ctx, http.MethodPost, pathDrain, drainRequest{Addrs: addrs}, nil)
}

// FollowErrors calls failed with the service of each request that failed
// in the proxy, until ctx ends; it reconnects when the stream breaks (the
// proxy restarted), waiting a little between attempts.
func (c *Client) FollowErrors(ctx context.Context, failed func(service string)) {
	const retry = 500 * time.Millisecond
	for ctx.Err() == nil {
		err := c.followOnce(ctx, failed)
		if ctx.Err() != nil {
			return
		}
		c.logger().Debug("errors stream ended; reconnecting", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(retry):
		}
	}
}

func (c *Client) followOnce(ctx context.Context, failed func(string)) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL+pathErrors, nil)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	// No timeout: the stream lasts as long as both sides do.
	resp, err := c.transport().Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return statusError(resp)
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if svc := strings.TrimSpace(sc.Text()); svc != "" {
			failed(svc)
		}
	}
	return sc.Err()
}

func (c *Client) call(ctx context.Context, method, path string, body, out any) error {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		rd = bytes.NewReader(b)
	}
	if _, ok := ctx.Deadline(); !ok && path != pathDrain {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, method, c.URL+path, rd)
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.Token)
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.transport().Do(req)
	if err != nil {
		return fmt.Errorf("proxy control %s: %w", path, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("proxy control %s: %w", path, statusError(resp))
	}
	if out == nil {
		return nil
	}
	if err := json.NewDecoder(resp.Body).Decode(out); err != nil {
		return fmt.Errorf("proxy control %s: decoding the answer: %w", path, err)
	}
	return nil
}

func statusError(resp *http.Response) error {
	b, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return fmt.Errorf("%s: %s", resp.Status, strings.TrimSpace(string(b)))
}

func (c *Client) transport() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

func (c *Client) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return slog.Default()
}
