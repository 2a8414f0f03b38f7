package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/lockfile"
	"github.com/bluejay-deploy/bluejay/internal/store"

	_ "modernc.org/sqlite" // registers the "sqlite" driver
)

var _ store.Store = (*Store)(nil)

// Store is a store.Store kept in one SQLite file. It is safe for
// concurrent use.
type Store struct {
	path string
	db   *sql.DB
	lock *lockfile.Lock // held from Open to Close; nil for OpenUnlocked
	// group queues this process's writers for one committer goroutine
	// (group.go), which commits the writes queued meanwhile together.
	// SQLite allows one writer at a time anyway; queueing them here is
	// fair and spares them the busy handler's sleeps, which remains for
	// writers in other processes.
	group *committer
	// ungrouped, for tests, gives each write a transaction of its own,
	// serialised by wmu (as before group commit).
	ungrouped bool
	wmu       sync.Mutex
	shares    atomic.Int64 // transactions that committed several writes, for tests
}

// connParams are applied by the driver to every pooled connection.
// busy_timeout comes first so that the others wait for a lock rather
// than fail; synchronous=FULL fsyncs the WAL at every commit.
var connParams = []string{
	"_pragma=busy_timeout(5000)",
	"_pragma=journal_mode(WAL)",
	"_pragma=synchronous(FULL)",
	"_pragma=foreign_keys(on)",
	"_txlock=immediate",
}

// Open opens the database file at path, creating it, its directory and
// the schema if needed, and migrates an older schema. It is OpenAs with
// this process as the holder, without listen addresses.
func Open(path string) (*Store, error) { return OpenAs(path, lockfile.Self()) }

// OpenAs is Open, recording holder in the store's lock file. The store
// is locked until Close: one bluejay at a time writes it, and a second
// Open of the same file, by any process, fails at once, before touching
// the database, with an error wrapping lockfile.ErrHeld that names the
// holder. The lock file is LockPath(path).
func OpenAs(path string, holder lockfile.Holder) (*Store, error) {
	lock, err := lockfile.Acquire(LockPath(path), holder)
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	s, err := OpenUnlocked(path)
	if err != nil {
		lock.Release()
		return nil, err
	}
	s.lock = lock
	return s, nil
}

// LockPath returns the lock file of the store at path: beside it.
func LockPath(path string) string { return path + ".lock" }

// OpenUnlocked opens the database without its lock, beside the
// bluejay that holds it: for a process that only reads it (`bluejay
// proxy` following the routing table). SQLite's own locking keeps the
// file whole; the lock is what keeps two controllers apart.
func OpenUnlocked(path string) (*Store, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o750); err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	// The history holds deploy args and reasons: readable by the owner
	// only. SQLite gives its -wal and -shm files the database's mode.
	if f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600); err == nil {
		f.Close()
	}
	db, err := sql.Open("sqlite", dsn(path))
	if err != nil {
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	if err := migrate(context.Background(), db); err != nil {
		db.Close()
		return nil, fmt.Errorf("opening store %s: %w", path, err)
	}
	s := &Store{path: path, db: db, group: newCommitter()}
	go s.run()
	return s, nil
}

// dsn builds a file: URI for path. SQLite decodes percent escapes in
// URIs, so the characters that would end or alter the path are escaped.
func dsn(path string) string {
	esc := strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
	return "file:" + esc + "?" + strings.Join(connParams, "&")
}

// Path returns the database file's path as given to Open.
func (s *Store) Path() string { return s.path }

// Close closes the database, then releases its lock.
// Writes queued before Close are committed first; later ones fail.
func (s *Store) Close() error {
	s.group.close()
	return errors.Join(s.db.Close(), s.lock.Release())
}

// timeFormat is RFC 3339 with fixed-width nanoseconds, so that the text
// columns sort in time order.
const timeFormat = "2006-01-02T15:04:05.000000000Z07:00"

func formatTime(t time.Time) string { return t.UTC().Format(timeFormat) }

// serviceFilter returns a WHERE clause selecting one service, or every
// service when service is "".
func serviceFilter(service string) (string, []any) {
	if service == "" {
		return "", nil
	}
	return "WHERE service = ?", []any{service}
}

// sqlLimit maps the port's "limit <= 0 means no limit" onto SQLite's
// LIMIT, where a negative limit means none.
func sqlLimit(limit int) int {
	if limit <= 0 {
		return -1
	}
	return limit
}
