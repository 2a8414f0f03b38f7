package sqlite

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// appendEvent inserts ev as an event of rollout r. Like insertRollout it
// inserts first to learn the id the stored document carries.
func appendEvent(ctx context.Context, tx *sql.Tx, r engine.Rollout, ev engine.Event) error {
	ev.RolloutID = r.ID
	if ev.Service == "" {
		ev.Service = r.Service
	}
	ev.Time = ev.Time.UTC()
	res, err := tx.ExecContext(ctx,
		`INSERT INTO events (rollout_id, service, time, phase, doc) VALUES (?, ?, ?, ?, '{}')`,
		ev.RolloutID, ev.Service, formatTime(ev.Time), string(ev.Phase))
	if err != nil {
		return fmt.Errorf("appending event: %w", err)
	}
	if ev.ID, err = res.LastInsertId(); err != nil {
		return fmt.Errorf("appending event: %w", err)
	}
	doc, err := store.EncodeEvent(ev)
	if err != nil {
		return err
	}
	if _, err := tx.ExecContext(ctx, `UPDATE events SET doc = ? WHERE id = ?`, string(doc), ev.ID); err != nil {
		return fmt.Errorf("appending event: %w", err)
	}
	return nil
}

// ListEvents returns a service's events, oldest first; service "" means
// every service; limit <= 0 means all, otherwise the newest limit.
func (s *Store) ListEvents(ctx context.Context, service string, limit int) ([]engine.Event, error) {
	where, args := serviceFilter(service)
	rows, err := s.db.QueryContext(ctx,
		`SELECT id, rollout_id, doc FROM (
			SELECT id, rollout_id, doc FROM events `+where+` ORDER BY id DESC LIMIT ?
		) ORDER BY id`,
		append(args, sqlLimit(limit))...)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	list, err := collect(rows, scanEvent)
	if err != nil {
		return nil, fmt.Errorf("listing events: %w", err)
	}
	return list, nil
}

// scanEvent decodes an (id, rollout_id, doc) row; the columns win over
// the document.
func scanEvent(row scanner) (engine.Event, error) {
	var id, rolloutID int64
	var doc string
	if err := row.Scan(&id, &rolloutID, &doc); err != nil {
		return engine.Event{}, err
	}
	ev, err := store.DecodeEvent([]byte(doc))
	if err != nil {
		return ev, fmt.Errorf("row %d: %w", id, err)
	}
	ev.ID, ev.RolloutID = id, rolloutID
	return ev, nil
}
