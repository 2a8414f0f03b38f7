package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"sync"
)

// Group commit (issue 22). When many services move at once, each
// decision's write waited for its own transaction and its own fsync, one
// after the other. Writes are now queued for one committer goroutine,
// which takes every write queued while it committed the previous batch
// into one transaction, each write in a SAVEPOINT of its own: a write
// that fails is rolled back to its savepoint and fails alone, and the
// others commit. A caller returns only once its write committed (or
// failed): durability before acting holds per write. A lone write is
// not delayed: the committer takes it at once, in a transaction of its
// own.

// maxBatch bounds the writes in one transaction.
const maxBatch = 256

var errClosed = errors.New("store closed")

// writeReq is one caller's write, answered through done.
type writeReq struct {
	ctx  context.Context
	fn   func(ctx context.Context, tx *sql.Tx) error
	err  error
	done chan struct{}
}

func (w *writeReq) finish(err error) {
	w.err = err
	close(w.done)
}

// committer runs the queued writes; Store.Close stops it.
type committer struct {
	mu     sync.Mutex
	queue  []*writeReq
	closed bool
	kick   chan struct{} // a write was queued
	stop   chan struct{} // Close: run what is queued, then return
	exited chan struct{}
}

func newCommitter() *committer {
	return &committer{kick: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{})}
}

// write runs fn in a write transaction, possibly shared with other
// writes (see above), and returns once it committed. fn gets a context
// that carries ctx's values but not its cancellation: a caller that
// gives up must not interrupt the transaction it shares. A write whose
// ctx is done before it runs fails with ctx's error.
func (s *Store) write(ctx context.Context, fn func(ctx context.Context, tx *sql.Tx) error) error {
	if s.ungrouped {
		s.wmu.Lock()
		defer s.wmu.Unlock()
		return s.single(&writeReq{ctx: ctx, fn: fn})
	}
	c := s.group
	w := &writeReq{ctx: ctx, fn: fn, done: make(chan struct{})}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return errClosed
	}
	c.queue = append(c.queue, w)
	c.mu.Unlock()
	select {
	case c.kick <- struct{}{}:
	default:
	}
	<-w.done // not ctx.Done(): the write may commit yet, and the caller must know
	return w.err
}

// run commits batches of queued writes until Close.
func (s *Store) run() {
	c := s.group
	defer close(c.exited)
	for {
		for {
			c.mu.Lock()
			n := min(len(c.queue), maxBatch)
			batch := c.queue[:n:n]
			c.queue = c.queue[n:]
			c.mu.Unlock()
			if n == 0 {
				break
			}
			s.commit(batch)
		}
		select {
		case <-c.kick:
		case <-c.stop:
			c.mu.Lock()
			left := len(c.queue)
			c.mu.Unlock()
			if left == 0 {
				return
			}
		}
	}
}

// close stops taking writes, commits those queued and waits for the
// committer to return.
func (c *committer) close() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.mu.Unlock()
	close(c.stop)
	<-c.exited
}

// commit runs batch in one transaction, each write in its savepoint, and
// answers each. If the transaction itself fails (it cannot begin, a
// savepoint cannot be set or released, the commit fails), nothing of it
// was written: each write is then run again in a transaction of its own,
// so that one write's trouble is never another's.
func (s *Store) commit(batch []*writeReq) {
	live := batch[:0:0]
	for _, w := range batch {
		if err := w.ctx.Err(); err != nil {
			w.finish(err)
			continue
		}
		live = append(live, w)
	}
	switch len(live) {
	case 0:
		return
	case 1:
		live[0].finish(s.single(live[0]))
		return
	}
	errs, err := s.shared(live)
	if err != nil {
		for _, w := range live {
			w.finish(s.single(w))
		}
		return
	}
	s.shares.Add(1)
	for i, w := range live {
		w.finish(errs[i])
	}
}

// shared runs writes in one transaction and returns each one's error;
// err is the transaction's, when it was not committed.
func (s *Store) shared(writes []*writeReq) (errs []error, err error) {
	tx, err := s.db.BeginTx(context.Background(), nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			tx.Rollback()
		}
	}()
	errs = make([]error, len(writes))
	for i, w := range writes {
		if _, err := tx.Exec(`SAVEPOINT w`); err != nil {
			return nil, fmt.Errorf("savepoint: %w", err)
		}
		if errs[i] = w.fn(context.WithoutCancel(w.ctx), tx); errs[i] != nil {
			if _, err := tx.Exec(`ROLLBACK TO w`); err != nil {
				return nil, fmt.Errorf("rolling back to a savepoint: %w", err)
			}
		}
		if _, err := tx.Exec(`RELEASE w`); err != nil {
			return nil, fmt.Errorf("releasing a savepoint: %w", err)
		}
	}
	return errs, tx.Commit()
}

// single runs one write in a transaction of its own (BEGIN IMMEDIATE)
// and commits it, or rolls it back if fn fails.
func (s *Store) single(w *writeReq) error {
	tx, err := s.db.BeginTx(w.ctx, nil)
	if err != nil {
		return err
	}
	if err := w.fn(w.ctx, tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}
