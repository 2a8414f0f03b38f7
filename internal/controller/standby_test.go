package controller_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform/static"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// idleController is a controller whose loops never run: a standby's,
// or one still starting.
func idleController(t *testing.T, standby func() bool) *controller.Controller {
	t.Helper()
	st, err := sqlite.Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	c := &controller.Controller{Store: st, Logger: quiet, Standby: standby}
	c.Add(controller.Service{Spec: service(newBackend(t, "v1")), Platform: static.New()})
	return c
}

// TestRollbackAndRetryOnStandbyAnswerStandby: on a standby, Rollback
// and Retry dropped the loop's refusal, waited twice for loops that
// never run, and answered a conflict about "rollout #0". Every command
// must answer ErrStandby, at once: the deadline here is shorter than
// the wait for a controller still starting.
func TestRollbackAndRetryOnStandbyAnswerStandby(t *testing.T) {
	c := idleController(t, func() bool { return true })
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	commands := map[string]func() error{
		"retry":         func() error { _, err := c.Retry(ctx, "web"); return err },
		"rollback":      func() error { _, err := c.Rollback(ctx, "web", ""); return err },
		"rollback --to": func() error { _, err := c.Rollback(ctx, "web", "v1"); return err },
		"deploy": func() error {
			_, err := c.Deploy(ctx, controller.DeployRequest{Service: "web", Version: "v2"})
			return err
		},
		"promote": func() error { _, err := c.Command(ctx, "web", engine.CmdPromote); return err },
	}
	for name, run := range commands {
		if err := run(); !errors.Is(err, controller.ErrStandby) {
			t.Errorf("%s on a standby: err = %v, want ErrStandby", name, err)
		}
	}
	if _, err := c.Retry(ctx, "nope"); !errors.Is(err, controller.ErrUnknownService) {
		t.Errorf("retry of an unknown service on a standby: err = %v, want ErrUnknownService", err)
	}
}

// TestRollbackAndRetryOnCancelledRequestReturnTheError: a request
// cancelled while the controller is starting got a conflict about
// "rollout #0" from Retry; it must get the cancellation.
func TestRollbackAndRetryOnCancelledRequestReturnTheError(t *testing.T) {
	c := idleController(t, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := c.Retry(ctx, "web"); !errors.Is(err, context.Canceled) {
		t.Errorf("retry with a cancelled request: err = %v, want context.Canceled", err)
	}
	if _, err := c.Rollback(ctx, "web", ""); !errors.Is(err, context.Canceled) {
		t.Errorf("rollback with a cancelled request: err = %v, want context.Canceled", err)
	}
	if _, err := c.Rollback(ctx, "web", "v1"); !errors.Is(err, context.Canceled) {
		t.Errorf("rollback --to v1 with a cancelled request: err = %v, want context.Canceled", err)
	}
}
