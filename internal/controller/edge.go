package controller

import (
	"context"
	"fmt"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// MaxPauseTraffic bounds PauseTraffic's timeout: requests held longer
// would meet their clients' own timeouts.
const MaxPauseTraffic = 5 * time.Minute

// SetMaintenance puts the service into maintenance (m set) or takes it
// out (m nil): its route answers 503 with m's page and Retry-After, or
// again by the stored split. Instances are not touched. The route is
// persisted with it, so it survives restarts, and the change is
// recorded in the service's latest rollout's event log.
func (c *Controller) SetMaintenance(ctx context.Context, service string, m *router.Maintenance) (ServiceStatus, error) {
	if m != nil && m.RetryAfter < 0 {
		return ServiceStatus{}, fmt.Errorf("%w: retry-after %ds is negative", ErrInvalid, m.RetryAfter)
	}
	reason := fmt.Sprintf("maintenance off (requested): %s serves by its split again", service)
	if m != nil {
		m.Since = c.now()
		reason = fmt.Sprintf("maintenance on (requested): %s answers 503%s", service, retryText(m.RetryAfter))
	}
	return c.edgeChange(ctx, service, reason, func(l *loop) { l.maintenance = m })
}

// PauseTraffic holds the service's new requests for up to timeout; they
// are released in order when it passes or on ResumeTraffic. Persisted
// and recorded like SetMaintenance.
func (c *Controller) PauseTraffic(ctx context.Context, service string, timeout time.Duration) (ServiceStatus, error) {
	if timeout <= 0 || timeout > MaxPauseTraffic {
		return ServiceStatus{}, fmt.Errorf("%w: timeout %s: want above 0 and at most %s", ErrInvalid, timeout, MaxPauseTraffic)
	}
	until := c.now().Add(timeout)
	reason := fmt.Sprintf("traffic paused (requested): requests held up to %s, until %s", timeout, until.UTC().Format(time.RFC3339))
	return c.edgeChange(ctx, service, reason, func(l *loop) { l.hold = &router.Hold{Until: until} })
}

// ResumeTraffic lifts the service's hold: held requests go on in order.
func (c *Controller) ResumeTraffic(ctx context.Context, service string) (ServiceStatus, error) {
	return c.edgeChange(ctx, service, "traffic resumed (requested): held requests released", func(l *loop) { l.hold = nil })
}

// edgeChange applies change on the service's loop, applies the route it
// makes, and records reason.
func (c *Controller) edgeChange(ctx context.Context, service, reason string, change func(*loop)) (ServiceStatus, error) {
	l, err := c.commandLoop(service)
	if err != nil {
		return ServiceStatus{}, err
	}
	err = l.exec(ctx, func() error {
		change(l)
		l.route(l.runCtx, l.r.Weights)
		if !router.EqualEdge(l.applied, router.Route{Maintenance: l.maintenance, Hold: l.liveHold()}) {
			return fmt.Errorf("applying the route of %s failed (see serve's log); the service's loop tries again", service)
		}
		if l.r.ID != 0 {
			l.record(l.runCtx, reason)
		} else {
			l.c.logger().Info(reason, "service", service)
		}
		l.publish()
		return nil
	})
	if err != nil {
		return ServiceStatus{}, err
	}
	return c.Status(service)
}

// liveHold is the service's hold, nil once its time is up.
func (l *loop) liveHold() *router.Hold {
	if l.hold == nil || !l.c.now().Before(l.hold.Until) {
		return nil
	}
	return l.hold
}

func retryText(secs int) string {
	if secs == 0 {
		return ""
	}
	return fmt.Sprintf(" with Retry-After %ds", secs)
}
