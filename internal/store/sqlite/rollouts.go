package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

var errNoService = errors.New("no service")

// CreateRollout inserts r and ev in one transaction, unless the service
// already has an active rollout (store.ErrConflict). It sets r.ID only
// once the transaction has committed.
func (s *Store) CreateRollout(ctx context.Context, r *engine.Rollout, ev engine.Event) error {
	if r.Service == "" {
		return fmt.Errorf("creating rollout: %w", errNoService)
	}
	row := utcRollout(*r)
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := checkNoActive(ctx, tx, row.Service); err != nil {
			return err
		}
		if err := insertRollout(ctx, tx, &row); err != nil {
			return err
		}
		return appendEvent(ctx, tx, row, ev)
	})
	if err != nil {
		return fmt.Errorf("creating rollout of %s: %w", r.Service, err)
	}
	r.ID = row.ID
	return nil
}

// checkNoActive fails with store.ErrConflict if the service has a
// rollout in an active phase. It reads the distinct phases (a handful of
// rows, from the index) so that engine.Phase.Active stays the one
// definition of "active".
func checkNoActive(ctx context.Context, tx *sql.Tx, service string) error {
	rows, err := tx.QueryContext(ctx,
		`SELECT phase, MAX(id) FROM rollouts WHERE service = ? GROUP BY phase`, service)
	if err != nil {
		return err
	}
	defer rows.Close()
	for rows.Next() {
		var phase engine.Phase
		var id int64
		if err := rows.Scan(&phase, &id); err != nil {
			return err
		}
		if phase.Active() {
			return fmt.Errorf("rollout %d is %s: %w", id, phase, store.ErrConflict)
		}
	}
	return rows.Err()
}

// insertRollout inserts r and sets r.ID. The row is inserted first to
// learn its id, so that the stored document carries it too.
func insertRollout(ctx context.Context, tx *sql.Tx, r *engine.Rollout) error {
	res, err := tx.ExecContext(ctx,
		`INSERT INTO rollouts (service, phase, started, updated, doc) VALUES (?, '', '', '', '{}')`, r.Service)
	if err != nil {
		return err
	}
	if r.ID, err = res.LastInsertId(); err != nil {
		return err
	}
	return updateRollout(ctx, tx, *r)
}

// updateRollout replaces the row r.ID, or fails with store.ErrNotFound.
func updateRollout(ctx context.Context, tx *sql.Tx, r engine.Rollout) error {
	doc, err := store.EncodeRollout(r)
	if err != nil {
		return err
	}
	res, err := tx.ExecContext(ctx,
		`UPDATE rollouts SET service = ?, phase = ?, started = ?, updated = ?, doc = ? WHERE id = ?`,
		r.Service, string(r.Phase), formatTime(r.Started), formatTime(time.Now()), string(doc), r.ID)
	if err != nil {
		return err
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

// UpdateRollout replaces the stored rollout r.ID and appends ev, if not
// nil, in one transaction. ev's RolloutID is set to r.ID, and its Service
// to r.Service when empty; the caller's ev is not modified.
func (s *Store) UpdateRollout(ctx context.Context, r engine.Rollout, ev *engine.Event) error {
	r = utcRollout(r)
	err := s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		if err := updateRollout(ctx, tx, r); err != nil {
			return err
		}
		if ev == nil {
			return nil
		}
		return appendEvent(ctx, tx, r, *ev)
	})
	if err != nil {
		return fmt.Errorf("updating rollout %d: %w", r.ID, err)
	}
	return nil
}

// Rollout returns the rollout id, or an error wrapping store.ErrNotFound.
func (s *Store) Rollout(ctx context.Context, id int64) (engine.Rollout, error) {
	row := s.db.QueryRowContext(ctx, `SELECT id, doc FROM rollouts WHERE id = ?`, id)
	r, err := scanRollout(row)
	if errors.Is(err, sql.ErrNoRows) {
		err = store.ErrNotFound
	}
	if err != nil {
		return engine.Rollout{}, fmt.Errorf("reading rollout %d: %w", id, err)
	}
	return r, nil
}

// ListRollouts returns a service's rollouts, newest first; service ""
// means every service; limit <= 0 means no limit.
func (s *Store) ListRollouts(ctx context.Context, service string, limit int) ([]engine.Rollout, error) {
	where, args := serviceFilter(service)
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, doc FROM rollouts `+where+` ORDER BY id DESC LIMIT ?`,
		append(args, sqlLimit(limit))...)
	if err != nil {
		return nil, fmt.Errorf("listing rollouts: %w", err)
	}
	list, err := collect(rows, scanRollout)
	if err != nil {
		return nil, fmt.Errorf("listing rollouts: %w", err)
	}
	return list, nil
}

// scanRollout decodes an (id, doc) row. The id column wins over the
// document's.
func scanRollout(row scanner) (engine.Rollout, error) {
	var id int64
	var doc string
	if err := row.Scan(&id, &doc); err != nil {
		return engine.Rollout{}, err
	}
	r, err := store.DecodeRollout([]byte(doc))
	if err != nil {
		return r, fmt.Errorf("row %d: %w", id, err)
	}
	r.ID = id
	return r, nil
}

// utcRollout returns r with its times in UTC, so that the stored form of
// an instant is the same whatever zone it was made in.
func utcRollout(r engine.Rollout) engine.Rollout {
	r.Started = r.Started.UTC()
	r.PhaseSince = r.PhaseSince.UTC()
	r.Ended = r.Ended.UTC()
	return r
}

// scanner is a *sql.Row or *sql.Rows.
type scanner interface {
	Scan(dest ...any) error
}

// collect scans every row with scan and closes rows. It returns an empty,
// non-nil slice when there are none.
func collect[T any](rows *sql.Rows, scan func(scanner) (T, error)) ([]T, error) {
	defer rows.Close()
	list := []T{}
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, rows.Err()
}
