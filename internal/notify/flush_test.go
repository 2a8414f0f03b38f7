package notify

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// TestShutdownFlushesTheQueue: events queued when Run's context ended
// were dropped silently; they must be sent.
func TestShutdownFlushesTheQueue(t *testing.T) {
	rc := newReceiver(t)
	n := New([]spec.Notification{{URL: rc.URL, Format: spec.FormatJSON, Events: spec.EventsAll}})
	for _, ph := range []engine.Phase{engine.PhaseDeploying, engine.PhaseSmoke, engine.PhaseCompleted} {
		n.Notify(rollout, event("", ph))
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // shutting down before a single event was sent
	n.Run(ctx)
	rc.mu.Lock()
	got := len(rc.bodies)
	rc.mu.Unlock()
	if got != 3 || n.Dropped() != 0 {
		t.Errorf("after Run ended: %d events delivered and %d dropped, want 3 delivered, none dropped", got, n.Dropped())
	}
}

// TestShutdownCountsWhatItCannotFlush: events that cannot be sent within
// the flush timeout (a target that hangs) are counted as dropped, and
// Run returns.
func TestShutdownCountsWhatItCannotFlush(t *testing.T) {
	hang := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-hang:
		case <-r.Context().Done():
		}
	}))
	defer srv.Close()
	defer close(hang)
	n := New([]spec.Notification{{URL: srv.URL, Format: spec.FormatJSON, Events: spec.EventsAll}})
	n.FlushTimeout = 100 * time.Millisecond
	n.Notify(rollout, event("", engine.PhaseDeploying))
	n.Notify(rollout, event("", engine.PhaseSmoke))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	cancel()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return within 10s of its end with a flush timeout of 100ms")
	}
	if n.Dropped() != 2 {
		t.Errorf("dropped %d, want both events that could not be sent", n.Dropped())
	}
}
