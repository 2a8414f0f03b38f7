// Package store defines the Store port: rollouts, the event log and the
// routing table, persisted. The store is the single source of truth for
// routing: on start, bluejay re-applies every route from it. The SQLite
// adapter (store/sqlite) is the default.
package store

import (
	"context"
	"errors"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/router"
)

// ErrNotFound is returned when a rollout does not exist.
var ErrNotFound = errors.New("not found")

// ErrConflict is returned by CreateRollout when the service already has
// an active rollout.
var ErrConflict = errors.New("conflict")

// ErrStale is returned by a write of a store that detects stale writers
// (the etcd adapter) when the record changed, by another writer, since
// this writer last read or wrote it. Nothing was written; read again.
var ErrStale = errors.New("stale write")

// Store is everything bluejay persists.
type Store interface {
	Rollouts
	Events
	Routes
	Close() error
}

// Rollouts persists rollouts. Each write that carries an event writes the
// rollout and the event in one transaction: a decision is never persisted
// without its record, nor the record without the decision.
type Rollouts interface {
	// CreateRollout inserts r, assigns r.ID and records ev (its RolloutID
	// is filled in). It fails with ErrConflict if the service has a
	// rollout whose phase is active.
	CreateRollout(ctx context.Context, r *engine.Rollout, ev engine.Event) error
	// UpdateRollout replaces the stored rollout r.ID and, if ev is not
	// nil, appends it to the event log.
	UpdateRollout(ctx context.Context, r engine.Rollout, ev *engine.Event) error
	// Rollout returns one rollout or ErrNotFound.
	Rollout(ctx context.Context, id int64) (engine.Rollout, error)
	// ListRollouts returns a service's rollouts, newest first; service ""
	// means every service; limit <= 0 means no limit.
	ListRollouts(ctx context.Context, service string, limit int) ([]engine.Rollout, error)
}

// Events reads the event log.
type Events interface {
	// ListEvents returns a service's events, oldest first; service ""
	// means every service; limit <= 0 means all, otherwise the newest limit.
	ListEvents(ctx context.Context, service string, limit int) ([]engine.Event, error)
}

// Routes persists the routing table.
type Routes interface {
	// PutRoute stores a service's route, replacing the previous one.
	PutRoute(ctx context.Context, r router.Route) error
	// ListRoutes returns every stored route, ordered by service.
	ListRoutes(ctx context.Context) ([]router.Route, error)
}

// Retention says which ended rollouts a Pruner deletes, with their events.
type Retention struct {
	// MaxAge deletes rollouts that ended (were last written) longer ago;
	// 0 means no limit by age.
	MaxAge time.Duration
	// MaxRollouts keeps only each service's newest rollouts; 0 means no
	// limit by count.
	MaxRollouts int
}

// Pruner is the optional capability of a store that deletes old history.
// Found by type assertion.
type Pruner interface {
	// Prune deletes the rollouts, and their events, that ret lets go as
	// of now. It never deletes an active rollout nor a service's latest.
	Prune(ctx context.Context, ret Retention, now time.Time) (rollouts, events int64, err error)
}

// RouteWatcher is the optional capability of a store that signals changes
// of the routing table as they happen (etcd's watch), so that proxies
// following the store need not wait for a poll. Found by type assertion.
type RouteWatcher interface {
	// WatchRoutes signals each change (several may share one signal)
	// until ctx ends or the watch breaks, when the channel closes; the
	// caller watches again after a broken watch.
	WatchRoutes(ctx context.Context) <-chan struct{}
}

// RouteChangeWatcher is the optional capability of a store whose watch
// carries the changed routes themselves, so that a proxy following it
// applies each change without reading the whole table again (issue 22).
// Found by type assertion; preferred to RouteWatcher.
type RouteChangeWatcher interface {
	// WatchRouteChanges sends the changes as they happen, several
	// coalesced into one RouteChanges while the reader is busy, until
	// ctx ends or the watch breaks, when the channel closes; the caller
	// watches again after a broken watch. The first is a Resync.
	WatchRouteChanges(ctx context.Context) <-chan RouteChanges
}

// RouteChanges are changes of the routing table, in store order.
type RouteChanges struct {
	// Resync says that changes may have been missed (the watch began or
	// resumed, a route was deleted or could not be decoded): read the
	// whole table. Routes is then empty.
	Resync bool
	// Routes are the changed routes, the latest of each service.
	Routes []router.Route
}
