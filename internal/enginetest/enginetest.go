// Package enginetest holds what the packages that start real engines
// for tests share (etcdtest, pgtest, kubetest, nginxtest, haproxytest):
// the rule that a test needing an engine the machine lacks is skipped
// with the reason, unless BLUEJAY_REQUIRE_ENGINES=1 (CI) makes that a
// failure; and one engine shared by the tests of a binary.
package enginetest

import (
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// RequireEnv names the environment variable that turns a missing engine
// into a test failure instead of a skip (CI sets it to 1).
const RequireEnv = "BLUEJAY_REQUIRE_ENGINES"

// Missing skips t because the engine is not installed (err says which
// and how to install it), or fails it when RequireEnv is 1.
func Missing(t testing.TB, engine string, err error) {
	t.Helper()
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s is required (%s=1): %v", engine, RequireEnv, err)
	}
	t.Skipf("%s unavailable (set %s=1 to fail instead): %v", engine, RequireEnv, err)
}

// Shared is an engine the tests of one binary share: started by the
// first New once Main runs, stopped when Main's tests end. Without Main,
// New starts one for the test alone and stops it at the test's cleanup.
type Shared[E any] struct {
	// Engine names it in messages ("etcd").
	Engine string
	// Start starts one; Stop stops it.
	Start func() (E, error)
	Stop  func(E) error
	// NotInstalled are the errors of Start that mean the machine lacks
	// the engine (a skip, see Missing); any other is a failure.
	NotInstalled []error

	mu      sync.Mutex
	enabled bool
	started bool
	e       E
	err     error
}

// Main runs the tests of m with one engine shared by every New, and
// stops it when they end. Call it from TestMain.
func (s *Shared[E]) Main(m *testing.M) int {
	s.mu.Lock()
	s.enabled = true
	s.mu.Unlock()
	code := m.Run()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.started && s.err == nil {
		if err := s.Stop(s.e); err != nil {
			fmt.Fprintf(os.Stderr, "stopping the shared %s: %v\n", s.Engine, err)
		}
	}
	return code
}

// New returns a running engine for t: the binary's shared one under
// Main, else one of its own stopped at t's cleanup. An engine the
// machine lacks skips t (see Missing); one that fails to start fails t.
func (s *Shared[E]) New(t testing.TB) E {
	t.Helper()
	s.mu.Lock()
	if s.enabled {
		defer s.mu.Unlock()
		if !s.started {
			s.e, s.err = s.Start()
			s.started = true
		}
		if s.err != nil {
			s.Unavailable(t, s.err)
		}
		return s.e
	}
	s.mu.Unlock()
	e, err := s.Start()
	if err != nil {
		s.Unavailable(t, err)
	}
	t.Cleanup(func() {
		if err := s.Stop(e); err != nil {
			t.Errorf("stopping %s: %v", s.Engine, err)
		}
	})
	return e
}

// Unavailable skips t when err says the engine is not installed (see
// Missing), and fails it otherwise.
func (s *Shared[E]) Unavailable(t testing.TB, err error) {
	t.Helper()
	for _, ni := range s.NotInstalled {
		if errors.Is(err, ni) {
			Missing(t, s.Engine, err)
			return
		}
	}
	t.Fatalf("starting %s: %v", s.Engine, err)
}

// WaitReady polls ready every interval until it returns nil, the engine
// exits (done closes; exited tells why), or timeout passes; the error
// names the engine and, past the timeout, ready's last error.
func WaitReady(engine string, done <-chan struct{}, exited func() error, timeout, interval time.Duration, ready func() error) error {
	deadline := time.Now().Add(timeout)
	for {
		err := ready()
		if err == nil {
			return nil
		}
		select {
		case <-done:
			return fmt.Errorf("%s exited at start: %v", engine, exited())
		case <-time.After(interval):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s was not ready within %s: %v", engine, timeout, err)
		}
	}
}
