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

// Batched writes (issue 22). Every rollout created and every event takes
// the next number of a shared counter (rolloutSeq, eventSeq), so writes
// persisted at once by many services each compared a counter, all but one
// lost, and retried: 50 writers at once failed one write in five after
// maxAttempts. Creates and updates are now queued for one committer
// goroutine, which writes those queued while it wrote the previous batch
// in one transaction: one read of their keys, each write checked on its
// own (not found, stale, conflicting: that write fails alone), consecutive
// ids, and one compare of each counter taken. If the transaction fails or
// loses to another writer (another process), each write runs again alone
// (create or update, with their backed-off retries). A lone write runs
// alone at once. Within one service, writes are committed in the order
// they were queued.

// maxBatchUpdates bounds the writes in one transaction: each puts up to
// 5 keys and compares up to 2, and the batch 2 counters, under etcd's
// default --max-txn-ops (128).
const maxBatchUpdates = 20

var errClosed = errors.New("store closed")

// batchTimeout bounds one batch's reads and transaction.
const batchTimeout = 10 * time.Second

// updateReq is one queued write: an update of r, or its creation when
// create is set (ev is then never nil, and id is r's new id once done).
type updateReq struct {
	ctx    context.Context
	create bool
	r      engine.Rollout
	ev     *engine.Event
	id     int64
	err    error
	done   chan struct{}
}

// alone writes u on its own, with create's or update's retries.
func (s *Store) alone(u *updateReq) error {
	if u.create {
		id, err := s.create(u.ctx, u.r, *u.ev)
		u.id = id
		return err
	}
	return s.update(u.ctx, u.r, u.ev)
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

// enqueue queues u and waits for it, or for ctx (like a transaction cut
// short, the write may then have been made or not).
func (s *Store) enqueue(ctx context.Context, u *updateReq) error {
	b := s.batch
	u.ctx, u.done = ctx, make(chan struct{})
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
// Every write it answers was committed, or refused, before the answer.
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
		u.finish(s.alone(u))
		return
	}
	if len(live) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), batchTimeout)
	defer cancel()
	if err := s.updateTogether(ctx, live); err != nil {
		// The batch could not be read, or its transaction failed (the
		// cluster, a --max-txn-ops below the batch's): each write runs
		// alone. Had the transaction been written after all, each update
		// would find its rollout changed since it read it (ErrStale), and
		// its loop would take the stored rollout, its own decision; each
		// create would find its service's rollout active (ErrConflict),
		// as a deploy call retried after a lost answer does.
		for _, u := range live {
			if !u.answered() {
				u.finish(s.alone(u))
			}
		}
	}
}

// updateTogether writes updates (creates among them) in one transaction.
// It answers those it refuses itself (as create or update would) and,
// once the transaction committed, the rest; if it lost to another
// writer, it runs each of the rest alone. An error leaves the rest
// unanswered.
func (s *Store) updateTogether(ctx context.Context, updates []*updateReq) error {
	keys := []string{s.rolloutSeq(), s.eventSeq()}
	for _, u := range updates {
		if !u.create {
			keys = append(keys, s.rolloutKey(u.r.ID))
		}
		keys = append(keys, s.activeKey(u.r.Service))
	}
	kvs, err := s.snapshot(ctx, keys...)
	if err != nil {
		return err
	}
	var seqs [2]counter
	for i, key := range []string{s.rolloutSeq(), s.eventSeq()} {
		if seqs[i], err = readCounter(key, kvs[key]); err != nil {
			return err
		}
	}
	rseq, eseq := &seqs[0], &seqs[1]
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	var taken []*updateReq
	for _, u := range updates {
		var c []clientv3.Cmp
		var o []clientv3.Op
		var err error
		if u.create {
			c, o, err = s.createOps(kvs, u, rseq, eseq)
		} else {
			c, o, err = s.updateOps(kvs, u.r, u.ev, eseq)
		}
		if err != nil {
			u.finish(err)
			continue
		}
		cmps, ops, taken = append(cmps, c...), append(ops, o...), append(taken, u)
	}
	if len(taken) == 0 {
		return nil
	}
	for _, c := range seqs {
		cmps, ops = c.commit(cmps, ops)
	}
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
	if err != nil {
		return fmt.Errorf("writing %d rollouts together: %w", len(taken), err)
	}
	if !resp.Succeeded { // nothing was written
		for _, u := range taken {
			u.finish(s.alone(u))
		}
		return nil
	}
	for _, u := range taken {
		s.remember(s.rolloutKey(u.r.ID), resp.Header.Revision)
		u.finish(nil)
	}
	return nil
}

// counter is a shared id counter as a batch read it and takes from it.
type counter struct {
	key        string
	rev        int64 // mod revision read, 0 if absent
	read, last int64
}

func readCounter(key string, kv *mvccpb.KeyValue) (counter, error) {
	n, err := seqValue(kv)
	return counter{key: key, rev: modRev(kv), read: n, last: n}, err
}

// next takes the next id.
func (c *counter) next() int64 {
	c.last++
	return c.last
}

// commit adds the compare and the write of c, if any id was taken.
func (c counter) commit(cmps []clientv3.Cmp, ops []clientv3.Op) ([]clientv3.Cmp, []clientv3.Op) {
	if c.last == c.read {
		return cmps, ops
	}
	return append(cmps, clientv3.Compare(clientv3.ModRevision(c.key), "=", c.rev)),
		append(ops, clientv3.OpPut(c.key, strconv.FormatInt(c.last, 10)))
}

// createOps are the compares and writes of one create of a batch, read
// from the batch's snapshot kvs, as create makes them; u.r.ID is set to
// the next rollout id. A create refused (an active rollout) returns the
// error create would, and takes no id.
func (s *Store) createOps(kvs map[string]*mvccpb.KeyValue, u *updateReq, rseq, eseq *counter) ([]clientv3.Cmp, []clientv3.Op, error) {
	active := s.activeKey(u.r.Service)
	if kv := kvs[active]; kv != nil {
		return nil, nil, fmt.Errorf("rollout %s is active: %w", kv.Value, store.ErrConflict)
	}
	r := u.r
	r.ID = rseq.last + 1
	ops, err := s.rolloutOps(r)
	if err != nil {
		return nil, nil, err
	}
	evOps, err := s.eventPuts(r, *u.ev, eseq.last+1)
	if err != nil {
		return nil, nil, err
	}
	rseq.next()
	eseq.next()
	if r.Phase.Active() {
		ops = append(ops, clientv3.OpPut(active, strconv.FormatInt(r.ID, 10)))
	}
	u.r, u.id = r, r.ID
	return []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(active), "=", 0)}, append(ops, evOps...), nil
}

// updateOps are the compares and writes of one update of a batch, read
// from the batch's snapshot kvs, as update makes them; its event takes
// the next event id. An update refused (not found, stale, conflicting)
// returns the error update would, and takes no id.
func (s *Store) updateOps(kvs map[string]*mvccpb.KeyValue, r engine.Rollout, ev *engine.Event, eseq *counter) ([]clientv3.Cmp, []clientv3.Op, error) {
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
		evOps, err := s.eventPuts(r, *ev, eseq.last+1)
		if err != nil {
			return nil, nil, err
		}
		eseq.next()
		ops = append(ops, evOps...)
	}
	return cmps, ops, nil
}
