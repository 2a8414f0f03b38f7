// Package controller runs the reconcile loop around the pure engine. One
// goroutine per service observes the service's current rollout through
// the ports (platform, health checks, metrics), asks the engine what to
// do, persists the decision with its event first, and only then acts:
// applies the traffic split, starts or stops versions, runs smoke tests.
// Every action is idempotent, so a crash between persisting and acting is
// repaired by the next step after a restart.
package controller
