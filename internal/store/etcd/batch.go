package etcd

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// Batched updates (issue 22). Every event takes the next number of one
// counter (eventSeq), so decisions persisted at once by many services
// each compared the counter, all but one lost, and retried: 50 writers
// at once failed one write in five after maxAttempts. Updates are now
// queued for one committer goroutine, which writes the updates queued
// while it wrote the previous batch in one transaction: one read of
// their keys, each update checked on its own (not found, stale,
// conflicting: that update fails alone), consecutive event numbers, and
// one compare of the counter. If the transaction fails or loses to another
// writer, each update runs again alone (update, with its retries). A
// lone update runs alone at once.

// maxBatchUpdates bounds the updates in one transaction: each puts
// up to 5 keys and compares 2, under etcd's default --max-txn-ops (128).
const maxBatchUpdates = 20

var errClosed = errors.New("store closed")

// batchTimeout bounds one batch's reads and transaction.
const batchTimeout = 10 * time.Second

type updateReq struct {
	ctx  context.Context
	r    engine.Rollout
	ev   *engine.Event
	err  error
	done chan struct{}
}

func (u *updateReq) finish(err error) {
	u.err = err
	close(u.done)
}

// answered reports whether finish was called (only the committer calls
// it, so only it may ask).
func (u *updateReq) answered() bool {
	select {
	case <-u.done:
		return true
	default:
		return false
	}
}

// batcher queues updates for the committer goroutine (run).
type batcher struct {
	mu     sync.Mutex
	queue  []*updateReq
	closed bool
	kick   chan struct{}
	stop   chan struct{}
	exited chan struct{}
}

func newBatcher() *batcher {
	return &batcher{kick: make(chan struct{}, 1), stop: make(chan struct{}), exited: make(chan struct{})}
}

// enqueue queues r's update and waits for it, or for ctx (like a
// transaction cut short, the update may then have been written or not).
func (s *Store) enqueue(ctx context.Context, r engine.Rollout, ev *engine.Event) error {
	b := s.batch
	u := &updateReq{ctx: ctx, r: r, ev: ev, done: make(chan struct{})}
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return errClosed
	}
	b.queue = append(b.queue, u)
	b.mu.Unlock()
	select {
	case b.kick <- struct{}{}:
	default:
	}
	select {
	case <-u.done:
		return u.err
	case <-ctx.Done():
		return ctx.Err()
	}
}

// run writes batches of queued updates until Close.
func (s *Store) run() {
	b := s.batch
	defer close(b.exited)
	for {
		select {
		case <-b.kick:
		case <-b.stop:
			b.mu.Lock()
			left := b.queue
			b.queue, b.closed = nil, true
			b.mu.Unlock()
			for _, u := range left {
				u.finish(errClosed)
			}
			return
		}
		for {
			batch := b.take()
			if len(batch) == 0 {
				break
			}
			s.commitUpdates(batch)
		}
	}
}

// take dequeues up to maxBatchUpdates updates of distinct services (a
// service's second update waits for the next batch, after its first).
func (b *batcher) take() []*updateReq {
	b.mu.Lock()
	defer b.mu.Unlock()
	var batch, rest []*updateReq
	services := map[string]bool{}
	for _, u := range b.queue {
		if len(batch) == maxBatchUpdates || services[u.r.Service] {
			rest = append(rest, u)
			continue
		}
		services[u.r.Service] = true
		batch = append(batch, u)
	}
	b.queue = rest
	return batch
}

func (b *batcher) close() {
	b.mu.Lock()
	if b.closed {
		b.mu.Unlock()
		return
	}
	b.mu.Unlock()
	close(b.stop)
	<-b.exited
}

// commitUpdates writes batch in one transaction where it can (see above).
func (s *Store) commitUpdates(batch []*updateReq) {
	live := batch[:0:0]
	for _, u := range batch {
		if err := u.ctx.Err(); err != nil {
			u.finish(err)
			continue
		}
		live = append(live, u)
	}
	if len(live) == 1 {
		u := live[0]
		u.finish(s.update(u.ctx, u.r, u.ev))
		return
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if err := s.updateTogether(ctx, live); err != nil {
		// The batch could not be read, or its transaction failed (the
		// cluster, a --max-txn-ops below the batch's): each update runs
		// alone. Had the transaction been written after all, each would
		// find its rollout changed since it read it (ErrStale), and its
		// loop would take the stored rollout, its own decision.
		for _, u := range live {
			if !u.answered() {
				u.finish(s.update(u.ctx, u.r, u.ev))
			}
		}
	}
}

// updateTogether writes updates in one transaction. It answers those it
// refuses itself (as update would) and, once the transaction committed,
// the rest; if it lost to another writer, it runs each of the rest
// alone. An error leaves the rest unanswered.
func (s *Store) updateTogether(ctx context.Context, updates []*updateReq) error {
	keys := []string{s.eventSeq()}
	for _, u := range updates {
		keys = append(keys, s.rolloutKey(u.r.ID), s.activeKey(u.r.Service))
	}
	kvs, err := s.snapshot(ctx, keys...)
	if err != nil {
		return err
	}
	seq := kvs[s.eventSeq()]
	last, err := seqValue(seq)
	if err != nil {
		return err
	}
	cmps := []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(s.eventSeq()), "=", modRev(seq))}
	var ops []clientv3.Op
	var taken []*updateReq
	events := false
	for _, u := range updates {
		c, o, err := s.updateOps(kvs, u.r, u.ev, &last)
		if err != nil {
			u.finish(err)
			continue
		}
		cmps, ops, taken = append(cmps, c...), append(ops, o...), append(taken, u)
		events = events || u.ev != nil
	}
	if len(taken) == 0 {
		return nil
	}
	if events {
		ops = append(ops, clientv3.OpPut(s.eventSeq(), strconv.FormatInt(last, 10)))
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("updating %d rollouts together: %w", len(taken), err)
	}
	if !resp.Succeeded { // nothing was written
		for _, u := range taken {
			u.finish(s.update(u.ctx, u.r, u.ev))
		}
		return nil
	}
	for _, u := range taken {
		s.remember(s.rolloutKey(u.r.ID), resp.Header.Revision)
		u.finish(nil)
	}
	return nil
}

// updateOps are the compares and writes of one update of a batch, read
// from the batch's snapshot kvs, as update makes them; its event takes
// number *last+1. An update refused (not found, stale, conflicting)
// returns the error update would.
func (s *Store) updateOps(kvs map[string]*mvccpb.KeyValue, r engine.Rollout, ev *engine.Event, last *int64) ([]clientv3.Cmp, []clientv3.Op, error) {
	key, active, id := s.rolloutKey(r.ID), s.activeKey(r.Service), strconv.FormatInt(r.ID, 10)
	cur := kvs[key]
	if cur == nil {
		return nil, nil, store.ErrNotFound
	}
	want, known := s.seen(key)
	if !known {
		want = cur.ModRevision
	}
	if cur.ModRevision != want {
		return nil, nil, fmt.Errorf("written by another writer since this one read it (revision %d, now %d): %w",
			want, cur.ModRevision, store.ErrStale)
	}
	cmps := []clientv3.Cmp{
		clientv3.Compare(clientv3.ModRevision(key), "=", want),
		clientv3.Compare(clientv3.ModRevision(active), "=", modRev(kvs[active])),
	}
	ops, err := s.rolloutOps(r)
	if err != nil {
		return nil, nil, err
	}
	act := kvs[active]
	switch {
	case r.Phase.Active() && act == nil:
		ops = append(ops, clientv3.OpPut(active, id))
	case r.Phase.Active() && string(act.Value) != id:
		return nil, nil, fmt.Errorf("rollout %s of %s is active: %w", act.Value, r.Service, store.ErrConflict)
	case !r.Phase.Active() && act != nil && string(act.Value) == id:
		ops = append(ops, clientv3.OpDelete(active))
	}
	if ev != nil {
		*last++
		e := *ev
		e.ID, e.RolloutID = *last, r.ID
		if e.Service == "" {
			e.Service = r.Service
		}
		e.Time = e.Time.UTC()
		doc, err := store.EncodeEvent(e)
		if err != nil {
			*last--
			return nil, nil, err
		}
		ops = append(ops, clientv3.OpPut(s.eventsAll()+pad(e.ID), string(doc)),
			clientv3.OpPut(s.eventsOf(e.Service)+pad(e.ID), string(doc)))
	}
	return cmps, ops, nil
}
