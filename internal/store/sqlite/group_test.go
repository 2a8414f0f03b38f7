package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/storetest"
)

// TestSharedTransactionIsolatesFailures: in one shared transaction, a
// write that fails after writing part of its rows leaves none of them,
// and the writes around it commit.
func TestSharedTransactionIsolatesFailures(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	a := storetest.Create(t, s, storetest.Rollout("a", engine.PhaseDeploying))
	b := storetest.Create(t, s, storetest.Rollout("b", engine.PhaseDeploying))
	update := func(r engine.Rollout, reason string) func(context.Context, *sql.Tx) error {
		r.Reason = reason
		return func(ctx context.Context, tx *sql.Tx) error { return updateRollout(ctx, tx, r) }
	}
	boom := errors.New("boom")
	half := func(ctx context.Context, tx *sql.Tx) error {
		r := a
		r.Reason = "half-written"
		if err := updateRollout(ctx, tx, r); err != nil {
			return err
		}
		return boom
	}
	missing := a
	missing.ID = 999
	reqs := []*writeReq{
		{ctx: ctx, fn: update(a, "first")},
		{ctx: ctx, fn: half},
		{ctx: ctx, fn: update(missing, "no such row")},
		{ctx: ctx, fn: update(b, "second")},
	}
	for _, w := range reqs {
		w.done = make(chan struct{})
	}
	s.commit(reqs)
	for i, want := range []error{nil, boom, store.ErrNotFound, nil} {
		if err := reqs[i].err; !errors.Is(err, want) || (want == nil) != (err == nil) {
			t.Errorf("write %d: %v, want %v", i, err, want)
		}
	}
	if s.shares.Load() != 1 {
		t.Fatalf("%d shared transactions, want 1", s.shares.Load())
	}
	for r, want := range map[int64]string{a.ID: "first", b.ID: "second"} {
		got, err := s.Rollout(ctx, r)
		if err != nil || got.Reason != want {
			t.Errorf("rollout %d: reason %q (%v), want %q", r, got.Reason, err, want)
		}
	}
}

// TestConcurrentWritesShareTransactions: 50 writers at once all commit,
// each returning after its own write is stored, in fewer transactions
// than writes; conflicting creates still conflict inside a batch.
func TestConcurrentWritesShareTransactions(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	const writers, each = 50, 10
	var wg sync.WaitGroup
	var conflicts atomic.Int64
	for i := range writers {
		wg.Go(func() {
			service := fmt.Sprintf("s%02d", i)
			r := storetest.Rollout(service, engine.PhaseDeploying)
			if err := s.CreateRollout(ctx, &r, storetest.Event(r.Phase, storetest.T0)); err != nil {
				t.Errorf("create %s: %v", service, err)
				return
			}
			for j := range each {
				r.Reason = fmt.Sprintf("update %d", j)
				if err := s.UpdateRollout(ctx, r, nil); err != nil {
					t.Errorf("update %s: %v", service, err)
					return
				}
				if got, err := s.Rollout(ctx, r.ID); err != nil || got.Reason != r.Reason {
					t.Errorf("%s after update %d returned: %q, %v", service, j, got.Reason, err)
				}
			}
			again := storetest.Rollout(service, engine.PhaseDeploying)
			if err := s.CreateRollout(ctx, &again, storetest.Event(again.Phase, storetest.T0)); errors.Is(err, store.ErrConflict) {
				conflicts.Add(1)
			}
		})
	}
	wg.Wait()
	if conflicts.Load() != writers {
		t.Errorf("%d second creates conflicted, want %d", conflicts.Load(), writers)
	}
	all, err := s.ListRollouts(ctx, "", 0)
	if err != nil || len(all) != writers {
		t.Fatalf("%d rollouts stored (%v), want %d", len(all), err, writers)
	}
	if s.shares.Load() == 0 {
		t.Error("no transaction was shared by 50 concurrent writers")
	}
	t.Logf("%d shared transactions", s.shares.Load())
}

// TestWriteAfterCanceledContext: a write whose context ended before it
// ran fails with the context's error and writes nothing.
func TestWriteAfterCanceledContext(t *testing.T) {
	s := openTemp(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := storetest.Rollout("web", engine.PhaseDeploying)
	if err := s.CreateRollout(ctx, &r, storetest.Event(r.Phase, storetest.T0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("create with a canceled context: %v", err)
	}
	if all, _ := s.ListRollouts(context.Background(), "", 0); len(all) != 0 {
		t.Fatalf("%d rollouts stored, want none", len(all))
	}
}

// TestWriteAfterClose fails, rather than blocking.
func TestWriteAfterClose(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "b.db"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	r := storetest.Rollout("web", engine.PhaseDeploying)
	if err := s.CreateRollout(context.Background(), &r, storetest.Event(r.Phase, storetest.T0)); !errors.Is(err, errClosed) {
		t.Fatalf("create after Close: %v", err)
	}
}

// BenchmarkParallelWrites: 50 writers, each updating its rollout with an
// event (a decision), grouped into shared transactions or each in its
// own (as before group commit).
//
//	go test ./internal/store/sqlite -run '^$' -bench ParallelWrites -benchtime 2000x
func BenchmarkParallelWrites(b *testing.B) {
	for _, grouped := range []bool{false, true} {
		b.Run(map[bool]string{false: "own-transaction", true: "grouped"}[grouped], func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "b.db"))
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			s.ungrouped = !grouped
			ctx := context.Background()
			const writers = 50
			rs := make([]engine.Rollout, writers)
			for i := range rs {
				rs[i] = storetest.Rollout(fmt.Sprintf("s%02d", i), engine.PhaseDeploying)
				if err := s.CreateRollout(ctx, &rs[i], storetest.Event(rs[i].Phase, storetest.T0)); err != nil {
					b.Fatal(err)
				}
			}
			var next atomic.Int64
			b.SetParallelism((writers + 1) / 2) // GOMAXPROCS 2: 50 goroutines
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				r := rs[int(next.Add(1)-1)%writers]
				ev := storetest.Event(engine.PhaseProgressing, storetest.T0)
				for pb.Next() {
					if err := s.UpdateRollout(ctx, r, &ev); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(s.shares.Load()), "shared-txs")
		})
	}
}
