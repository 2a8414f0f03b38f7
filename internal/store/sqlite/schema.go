package sqlite

import (
	"context"
	"database/sql"
	"fmt"
)

// migrations[i] takes the schema from version i to i+1. Append only:
// a released migration never changes.
var migrations = []string{
	`CREATE TABLE rollouts (
		id      INTEGER PRIMARY KEY,
		service TEXT NOT NULL,
		phase   TEXT NOT NULL,
		started TEXT NOT NULL,
		updated TEXT NOT NULL, -- when the row was last written
		doc     TEXT NOT NULL CHECK (json_valid(doc)) -- store.EncodeRollout (engine.Rollout until format version 1)
	);
	CREATE INDEX rollouts_service ON rollouts (service, phase);

	CREATE TABLE events (
		id         INTEGER PRIMARY KEY,
		rollout_id INTEGER NOT NULL REFERENCES rollouts (id),
		service    TEXT NOT NULL,
		time       TEXT NOT NULL,
		phase      TEXT NOT NULL,
		doc        TEXT NOT NULL CHECK (json_valid(doc)) -- store.EncodeEvent (engine.Event until format version 1)
	);
	CREATE INDEX events_service ON events (service, id);
	CREATE INDEX events_rollout ON events (rollout_id);

	CREATE TABLE routes (
		service TEXT PRIMARY KEY,
		doc     TEXT NOT NULL CHECK (json_valid(doc)) -- router.Route
	);`,
}

// migrate brings the schema to the newest version in one transaction.
func migrate(ctx context.Context, db *sql.DB) error {
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("migrating schema: %w", err)
	}
	defer tx.Rollback()
	var version int
	if err := tx.QueryRowContext(ctx, "PRAGMA user_version").Scan(&version); err != nil {
		return fmt.Errorf("reading schema version: %w", err)
	}
	if version > len(migrations) {
		return fmt.Errorf("schema version %d is newer than this bluejay knows (%d)", version, len(migrations))
	}
	for i := version; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("migrating schema to version %d: %w", i+1, err)
		}
	}
	// PRAGMA takes no bound parameters; the value is an int of ours.
	if _, err := tx.ExecContext(ctx, fmt.Sprintf("PRAGMA user_version = %d", len(migrations))); err != nil {
		return fmt.Errorf("writing schema version: %w", err)
	}
	return tx.Commit()
}
