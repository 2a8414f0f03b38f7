package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

// PutRoute stores the service's route, replacing the previous one.
func (s *Store) PutRoute(ctx context.Context, r router.Route) error {
	if r.Service == "" {
		return fmt.Errorf("storing route: %w", errNoService)
	}
	doc, err := json.Marshal(r)
	if err != nil {
		return fmt.Errorf("encoding route of %s: %w", r.Service, err)
	}
	err = s.write(ctx, func(ctx context.Context, tx *sql.Tx) error {
		_, err := tx.ExecContext(ctx,
			`INSERT INTO routes (service, doc) VALUES (?, ?)
			ON CONFLICT (service) DO UPDATE SET doc = excluded.doc`,
			r.Service, string(doc))
		return err
	})
	if err != nil {
		return fmt.Errorf("storing route of %s: %w", r.Service, err)
	}
	return nil
}

// ListRoutes returns every stored route, ordered by service.
func (s *Store) ListRoutes(ctx context.Context) ([]router.Route, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT service, doc FROM routes ORDER BY service`)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	list, err := collect(rows, scanRoute)
	if err != nil {
		return nil, fmt.Errorf("listing routes: %w", err)
	}
	return list, nil
}

// scanRoute decodes a (service, doc) row.
func scanRoute(row scanner) (router.Route, error) {
	var r router.Route
	var service, doc string
	if err := row.Scan(&service, &doc); err != nil {
		return r, err
	}
	if err := json.Unmarshal([]byte(doc), &r); err != nil {
		return r, fmt.Errorf("decoding route of %s: %w", service, err)
	}
	return r, nil
}
