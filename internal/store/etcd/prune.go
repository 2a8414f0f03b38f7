package etcd

import (
	"context"
	"fmt"
	"slices"
	"time"

	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
)

var _ store.Pruner = (*Store)(nil)

// maxOps bounds the operations of one transaction below etcd's default
// --max-txn-ops (128).
const maxOps = 120

// Prune deletes the ended rollouts that ended longer than ret.MaxAge ago
// (their Ended time, else when their last phase began) or that are
// beyond a service's ret.MaxRollouts newest, with their events. A
// service's newest rollout and active rollouts stay.
//
// Rollouts and events are read at one revision. Each doomed rollout is
// deleted in a transaction that requires it unchanged since that read
// (one being written meanwhile is left for the next prune), and its
// events after it, in transactions of at most maxOps keys. Events whose
// rollout is gone (a prune cut short) are deleted too.
func (s *Store) Prune(ctx context.Context, ret store.Retention, now time.Time) (rollouts, events int64, err error) {
	if ret.MaxAge <= 0 && ret.MaxRollouts <= 0 {
		return 0, 0, nil
	}
	rresp, err := s.cli.Get(ctx, s.rolloutsAll(), clientv3.WithPrefix())
	if err != nil {
		return 0, 0, fmt.Errorf("pruning history: %w", err)
	}
	eresp, err := s.cli.Get(ctx, s.eventsAll(), clientv3.WithPrefix(), clientv3.WithRev(rresp.Header.Revision))
	if err != nil {
		return 0, 0, fmt.Errorf("pruning history: %w", err)
	}
	doomed, exists, err := s.doomed(rresp.Kvs, ret, now)
	if err != nil {
		return 0, 0, fmt.Errorf("pruning history: %w", err)
	}
	byRollout := map[int64][]engine.Event{}
	for _, kv := range eresp.Kvs {
		ev, err := store.DecodeEvent(kv.Value)
		if err != nil {
			return 0, 0, fmt.Errorf("pruning history: decoding %s: %w", kv.Key, err)
		}
		byRollout[ev.RolloutID] = append(byRollout[ev.RolloutID], ev)
	}
	for _, d := range doomed {
		resp, err := s.cli.Txn(ctx).
			If(clientv3.Compare(clientv3.ModRevision(string(d.kv.Key)), "=", d.kv.ModRevision)).
			Then(clientv3.OpDelete(string(d.kv.Key)), clientv3.OpDelete(s.rolloutsOf(d.r.Service)+pad(d.r.ID))).
			Commit()
		if err != nil {
			return rollouts, events, fmt.Errorf("pruning rollout %d: %w", d.r.ID, err)
		}
		if resp.Succeeded {
			rollouts++
			delete(exists, d.r.ID)
		}
	}
	var orphans []engine.Event
	for id, evs := range byRollout {
		if !exists[id] {
			orphans = append(orphans, evs...)
		}
	}
	events, err = s.deleteEvents(ctx, orphans)
	return rollouts, events, err
}

// doomedRollout is a rollout Prune deletes, with the key read.
type doomedRollout struct {
	r  engine.Rollout
	kv *mvccpb.KeyValue
}

// doomed picks the rollouts ret lets go, and the ids of all the stored
// rollouts.
func (s *Store) doomed(kvs []*mvccpb.KeyValue, ret store.Retention, now time.Time) ([]doomedRollout, map[int64]bool, error) {
	bySvc := map[string][]doomedRollout{}
	exists := map[int64]bool{}
	for _, kv := range kvs {
		r, err := store.DecodeRollout(kv.Value)
		if err != nil {
			return nil, nil, fmt.Errorf("decoding %s: %w", kv.Key, err)
		}
		exists[r.ID] = true
		bySvc[r.Service] = append(bySvc[r.Service], doomedRollout{r, kv})
	}
	var out []doomedRollout
	for _, rs := range bySvc {
		slices.SortFunc(rs, func(a, b doomedRollout) int { return int(b.r.ID - a.r.ID) }) // newest first
		for rank, d := range rs {
			ended := d.r.Ended
			if ended.IsZero() {
				ended = d.r.PhaseSince
			}
			old := ret.MaxAge > 0 && now.Sub(ended) > ret.MaxAge
			beyond := ret.MaxRollouts > 0 && rank >= ret.MaxRollouts
			if rank > 0 && d.r.Phase.Terminal() && (old || beyond) {
				out = append(out, d)
			}
		}
	}
	slices.SortFunc(out, func(a, b doomedRollout) int { return int(a.r.ID - b.r.ID) })
	return out, exists, nil
}

// deleteEvents deletes both copies of each event, maxOps keys a
// transaction, and returns how many events it deleted.
func (s *Store) deleteEvents(ctx context.Context, evs []engine.Event) (int64, error) {
	var n int64
	for chunk := range slices.Chunk(evs, maxOps/2) {
		var ops []clientv3.Op
		for _, ev := range chunk {
			ops = append(ops, clientv3.OpDelete(s.eventsAll()+pad(ev.ID)), clientv3.OpDelete(s.eventsOf(ev.Service)+pad(ev.ID)))
		}
		if _, err := s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
			return n, fmt.Errorf("pruning events: %w", err)
		}
		n += int64(len(chunk))
	}
	return n, nil
}
