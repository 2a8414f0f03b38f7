package main

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
)

// The bench measures bluejay with a canary under way, so that the
// request path does all it does for a rollout: a weighted split, the
// header route, sticky buckets, the shield's stable fallback, the blast
// radius and the analysis windows of two versions. bluejay.yaml's canary
// steps are setHeaderRoute, setWeight canaryWeight and pause {}: once v1
// serves, holdCanary deploys v2 through the admin API and waits for the
// pause, which lasts until a promote that never comes.

// holdWait bounds holdCanary: two rollouts' readiness (health checks
// every second, two passes each) on a busy machine.
const holdWait = time.Minute

// holdCanary deploys v2 once v1's first rollout completed, waits until
// the canary is paused at canaryWeight, and checks through the proxy
// that the header route and the version header work.
func holdCanary(ctx context.Context, c *api.Client, s *server) error {
	ctx, cancel := context.WithTimeout(ctx, holdWait)
	defer cancel()
	if _, err := pollService(ctx, c, func(st controller.ServiceStatus) bool {
		return st.Rollout.Phase == engine.PhaseCompleted && st.Stable == "v1"
	}); err != nil {
		return fmt.Errorf("bluejay: waiting for v1 to serve: %w", err)
	}
	if _, err := c.Deploy(ctx, "web", api.DeployBody{Version: "v2"}); err != nil {
		return fmt.Errorf("bluejay: deploying v2: %w", err)
	}
	st, err := pollService(ctx, c, func(st controller.ServiceStatus) bool {
		return paused(st) || st.Rollout.Phase.Terminal()
	})
	if err != nil {
		return fmt.Errorf("bluejay: waiting for v2's canary to pause at %d%%: %w", canaryWeight, err)
	}
	if !paused(st) {
		return fmt.Errorf("bluejay: v2's canary ended %s before its pause: %s", st.Rollout.Phase, st.Rollout.Reason)
	}
	return checkRouting(ctx, s.addr)
}

// checkCanary says whether the canary is still paused at canaryWeight:
// a canary judged worse and rolled back during a run would have left the
// run measuring one version.
func checkCanary(ctx context.Context, c *api.Client) error {
	st, err := c.Service(ctx, "web")
	if err != nil {
		return err
	}
	if !paused(st) {
		return fmt.Errorf("the canary left its pause at %d%%: %s, weights %v: %s", canaryWeight, st.Rollout.Phase, st.Weights, st.Rollout.Reason)
	}
	return nil
}

func paused(st controller.ServiceStatus) bool {
	return st.Rollout.Phase == engine.PhasePaused && st.Weights["v2"] == canaryWeight && st.Weights["v1"] == 100-canaryWeight
}

// pollService polls the service's status until done holds.
func pollService(ctx context.Context, c *api.Client, done func(controller.ServiceStatus) bool) (controller.ServiceStatus, error) {
	var (
		st      controller.ServiceStatus
		lastErr error
	)
	for {
		var err error
		if st, err = c.Service(ctx, "web"); err == nil && done(st) {
			return st, nil
		}
		if err != nil {
			lastErr = err
		}
		select {
		case <-ctx.Done():
			if lastErr != nil {
				return st, fmt.Errorf("%w (last error: %v)", ctx.Err(), lastErr)
			}
			return st, fmt.Errorf("%w (last: %s, weights %v: %s)", ctx.Err(), st.Rollout.Phase, st.Weights, st.Rollout.Reason)
		case <-time.After(100 * time.Millisecond): // poll interval
		}
	}
}

// checkRouting sends a request with the canary header, which must reach
// v2, and one without, which must carry a version and a generated
// sticky cookie.
func checkRouting(ctx context.Context, addr string) error {
	client := &http.Client{Timeout: 5 * time.Second}
	defer client.CloseIdleConnections()
	get := func(header bool) (*http.Response, error) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+addr+"/", nil)
		if err != nil {
			return nil, err
		}
		if header {
			req.Header.Set(canaryHeader, "1")
		}
		res, err := client.Do(req)
		if err != nil {
			return nil, err
		}
		res.Body.Close()
		if res.StatusCode != http.StatusOK {
			return nil, fmt.Errorf("GET / answered %s", res.Status)
		}
		return res, nil
	}
	res, err := get(true)
	if err != nil {
		return err
	}
	if v := res.Header.Get("X-Bluejay-Version"); v != "v2" {
		return fmt.Errorf("bluejay: a request with %s: 1 was served by %q, not v2 (header route)", canaryHeader, v)
	}
	if res, err = get(false); err != nil {
		return err
	}
	if res.Header.Get("X-Bluejay-Version") == "" {
		return errors.New("bluejay: no X-Bluejay-Version in the answer (versionHeader)")
	}
	if len(res.Cookies()) == 0 || res.Cookies()[0].Name != "bluejay-key" {
		return errors.New("bluejay: no bluejay-key cookie generated (sticky)")
	}
	return nil
}
