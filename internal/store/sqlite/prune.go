package sqlite

import (
	"context"
	"database/sql"
	"fmt"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

var _ store.Pruner = (*Store)(nil)

// Prune deletes, in one transaction, the ended rollouts that are older
// than ret.MaxAge or beyond a service's ret.MaxRollouts newest, with
// their events. A service's newest rollout and active rollouts stay.
func (s *Store) Prune(ctx context.Context, ret store.Retention, now time.Time) (rollouts, events int64, err error) {
	if ret.MaxAge <= 0 && ret.MaxRollouts <= 0 {
		return 0, 0, nil
	}
	// A cutoff of "" matches no row: no limit by age.
	cutoff := ""
	if ret.MaxAge > 0 {
		cutoff = formatTime(now.Add(-ret.MaxAge))
	}
	keep := ret.MaxRollouts
	if keep <= 0 {
		keep = -1
	}
	terminal := []any{engine.PhaseCompleted, engine.PhaseRolledBack, engine.PhaseFailed, engine.PhaseAborted}
	// rank 1 is the service's newest rollout, never deleted.
	const doomed = `SELECT id FROM (
			SELECT id, phase, updated, ROW_NUMBER() OVER (PARTITION BY service ORDER BY id DESC) AS rank
			FROM rollouts)
		WHERE rank > 1 AND phase IN (?, ?, ?, ?) AND (updated < ? OR (? > 0 AND rank > ?))`
	args := append(terminal, cutoff, keep, keep)
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		res, err := tx.ExecContext(ctx, `DELETE FROM events WHERE rollout_id IN (`+doomed+`)`, args...)
		if err != nil {
			return err
		}
		if events, err = res.RowsAffected(); err != nil {
			return err
		}
		res, err = tx.ExecContext(ctx, `DELETE FROM rollouts WHERE id IN (`+doomed+`)`, args...)
		if err != nil {
			return err
		}
		rollouts, err = res.RowsAffected()
		return err
	})
	if err != nil {
		return 0, 0, fmt.Errorf("pruning history: %w", err)
	}
	return rollouts, events, nil
}
