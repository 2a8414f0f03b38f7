package etcd

import (
	"context"
	"fmt"
	"strconv"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

// CreateRollout stores r and ev in one transaction, unless the service
// already has an active rollout (store.ErrConflict). It sets r.ID only
// once the transaction has committed. Creates are queued with updates
// and written in batches (batch.go).
func (s *Store) CreateRollout(ctx context.Context, r *engine.Rollout, ev engine.Event) error {
	if r.Service == "" {
		return fmt.Errorf("creating rollout: %w", errNoService)
	}
	u := &updateReq{create: true, r: utcRollout(*r), ev: &ev}
	if err := s.enqueue(ctx, u); err != nil {
		return fmt.Errorf("creating rollout of %s: %w", r.Service, err)
	}
	r.ID = u.id
	return nil
}

func (s *Store) create(ctx context.Context, row engine.Rollout, ev engine.Event) (int64, error) {
	active := s.activeKey(row.Service)
	b := newBackoff()
	for attempt := range maxAttempts {
		if err := pause(ctx, &b, attempt); err != nil {
			return 0, err
		}
		kvs, err := s.snapshot(ctx, active, s.rolloutSeq(), s.eventSeq())
		if err != nil {
			return 0, err
		}
		if kv := kvs[active]; kv != nil {
			return 0, fmt.Errorf("rollout %s is active: %w", kv.Value, store.ErrConflict)
		}
		last, err := seqValue(kvs[s.rolloutSeq()])
		if err != nil {
			return 0, err
		}
		row.ID = last + 1
		cmps := []clientv3.Cmp{
			clientv3.Compare(clientv3.ModRevision(active), "=", 0),
			clientv3.Compare(clientv3.ModRevision(s.rolloutSeq()), "=", modRev(kvs[s.rolloutSeq()])),
		}
		ops, err := s.rolloutOps(row)
		if err != nil {
			return 0, err
		}
		ops = append(ops, clientv3.OpPut(s.rolloutSeq(), strconv.FormatInt(row.ID, 10)))
		if row.Phase.Active() {
			ops = append(ops, clientv3.OpPut(active, strconv.FormatInt(row.ID, 10)))
		}
		evCmp, evOps, err := s.eventOps(kvs[s.eventSeq()], row, ev)
		if err != nil {
			return 0, err
		}
		resp, err := s.cli.Txn(ctx).If(append(cmps, evCmp)...).Then(append(ops, evOps...)...).Commit()
		if err != nil {
			return 0, err
		}
		if resp.Succeeded {
			s.remember(s.rolloutKey(row.ID), resp.Header.Revision)
			return row.ID, nil
		}
	}
	return 0, errContention
}

// rolloutOps writes both copies of r.
func (s *Store) rolloutOps(r engine.Rollout) ([]clientv3.Op, error) {
	doc, err := store.EncodeRollout(r)
	if err != nil {
		return nil, err
	}
	return []clientv3.Op{
		clientv3.OpPut(s.rolloutKey(r.ID), string(doc)),
		clientv3.OpPut(s.rolloutsOf(r.Service)+pad(r.ID), string(doc)),
	}, nil
}

func (s *Store) rolloutKey(id int64) string { return s.rolloutsAll() + pad(id) }

// UpdateRollout replaces the stored rollout r.ID and appends ev, if not
// nil, in one transaction, provided the stored rollout is still the one
// this handle last read or wrote (store.ErrStale otherwise; see the
// package doc). ev's RolloutID is set to r.ID, and its Service to
// r.Service when empty; the caller's ev is not modified.
func (s *Store) UpdateRollout(ctx context.Context, r engine.Rollout, ev *engine.Event) error {
	if err := s.enqueue(ctx, &updateReq{r: utcRollout(r), ev: ev}); err != nil {
		return fmt.Errorf("updating rollout %d: %w", r.ID, err)
	}
	return nil
}

func (s *Store) update(ctx context.Context, r engine.Rollout, ev *engine.Event) error {
	key, active, id := s.rolloutKey(r.ID), s.activeKey(r.Service), strconv.FormatInt(r.ID, 10)
	want, known := s.seen(key)
	b := newBackoff()
	for attempt := range maxAttempts {
		if err := pause(ctx, &b, attempt); err != nil {
			return err
		}
		kvs, err := s.snapshot(ctx, key, active, s.eventSeq())
		if err != nil {
			return err
		}
		cur := kvs[key]
		if cur == nil {
			return store.ErrNotFound
		}
		if !known {
			want, known = cur.ModRevision, true
		}
		if cur.ModRevision != want {
			return fmt.Errorf("written by another writer since this one read it (revision %d, now %d): %w",
				want, cur.ModRevision, store.ErrStale)
		}
		cmps := []clientv3.Cmp{
			clientv3.Compare(clientv3.ModRevision(key), "=", want),
			clientv3.Compare(clientv3.ModRevision(active), "=", modRev(kvs[active])),
		}
		ops, err := s.rolloutOps(r)
		if err != nil {
			return err
		}
		act := kvs[active]
		switch {
		case r.Phase.Active() && act == nil:
			ops = append(ops, clientv3.OpPut(active, id))
		case r.Phase.Active() && string(act.Value) != id:
			return fmt.Errorf("rollout %s of %s is active: %w", act.Value, r.Service, store.ErrConflict)
		case !r.Phase.Active() && act != nil && string(act.Value) == id:
			ops = append(ops, clientv3.OpDelete(active))
		}
		if ev != nil {
			evCmp, evOps, err := s.eventOps(kvs[s.eventSeq()], r, *ev)
			if err != nil {
				return err
			}
			cmps, ops = append(cmps, evCmp), append(ops, evOps...)
		}
		resp, err := s.cli.Txn(ctx).If(cmps...).Then(ops...).Commit()
		if err != nil {
			return err
		}
		if resp.Succeeded {
			s.remember(key, resp.Header.Revision)
			return nil
		}
	}
	return errContention
}

// Rollout returns the rollout id, or an error wrapping store.ErrNotFound.
func (s *Store) Rollout(ctx context.Context, id int64) (engine.Rollout, error) {
	resp, err := s.cli.Get(ctx, s.rolloutKey(id))
	if err != nil {
		return engine.Rollout{}, fmt.Errorf("reading rollout %d: %w", id, err)
	}
	if len(resp.Kvs) == 0 {
		return engine.Rollout{}, fmt.Errorf("reading rollout %d: %w", id, store.ErrNotFound)
	}
	r, err := s.decodeRollout(resp.Kvs[0])
	if err != nil {
		return engine.Rollout{}, fmt.Errorf("reading rollout %d: %w", id, err)
	}
	return r, nil
}

// ListRollouts returns a service's rollouts, newest first; service ""
// means every service; limit <= 0 means no limit.
func (s *Store) ListRollouts(ctx context.Context, service string, limit int) ([]engine.Rollout, error) {
	prefix := s.rolloutsAll()
	if service != "" {
		prefix = s.rolloutsOf(service)
	}
	kvs, err := s.rangeDocs(ctx, prefix, true, limit)
	if err != nil {
		return nil, fmt.Errorf("listing rollouts: %w", err)
	}
	list := make([]engine.Rollout, 0, len(kvs))
	for _, kv := range kvs {
		r, err := s.decodeRollout(kv)
		if err != nil {
			return nil, fmt.Errorf("listing rollouts: %w", err)
		}
		list = append(list, r)
	}
	return list, nil
}

// decodeRollout decodes a stored rollout and remembers its revision: both
// copies are always written in one transaction, so they share it.
func (s *Store) decodeRollout(kv *mvccpb.KeyValue) (engine.Rollout, error) {
	r, err := store.DecodeRollout(kv.Value)
	if err != nil {
		return r, fmt.Errorf("decoding %s: %w", kv.Key, err)
	}
	s.remember(s.rolloutKey(r.ID), kv.ModRevision)
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
