package scenario

import (
	"context"
	"database/sql"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/migrate/guard"
	"github.com/bluejay-deploy/bluejay/internal/pgtest"
	"github.com/bluejay-deploy/bluejay/internal/sampleapp"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// dir is the example's SQL.
var dir = filepath.Join("..", "..", "..", "examples", "migrations", "profiles")

func read(t *testing.T, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(dir, name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// apply runs the file in one transaction, as the migration runner does.
func apply(t *testing.T, db *sql.DB, name string) {
	t.Helper()
	if err := applyErr(db, read(t, name)); err != nil {
		t.Fatalf("applying %s: %v", name, err)
	}
}

func applyErr(db *sql.DB, script string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, script); err != nil {
		return err
	}
	return tx.Commit()
}

// The guard passes the example's expand and flags the contract and the
// breaking expand, at the lines where the offending clauses are.
func TestGuardVerdicts(t *testing.T) {
	type want struct {
		line int
		kind guard.Kind
	}
	for _, tc := range []struct {
		file string
		want []want
	}{
		{"v1.sql", nil},
		{"v2-expand.sql", nil},
		{"v2-expand-breaking.sql", []want{{8, guard.RenameColumn}}},
		{"v2-contract.sql", []want{{16, guard.SetNotNull}, {17, guard.SetNotNull}, {19, guard.DropColumn}}},
	} {
		var got []want
		for _, f := range guard.Check(read(t, tc.file)) {
			got = append(got, want{f.Line, f.Kind})
		}
		if !reflect.DeepEqual(got, tc.want) {
			t.Errorf("%s: guard found %v, want %v", tc.file, got, tc.want)
		}
	}
}

// names is what a version reads: id → name.
func names(t *testing.T, p sampleapp.Profiles) map[int64]string {
	t.Helper()
	prs, err := p.List(context.Background())
	if err != nil {
		t.Fatalf("schema %s: listing: %v", p.Schema, err)
	}
	out := map[int64]string{}
	for _, pr := range prs {
		out[pr.ID] = pr.Name
	}
	return out
}

func mustCreate(t *testing.T, p sampleapp.Profiles, name string) int64 {
	t.Helper()
	pr, err := p.Create(context.Background(), name)
	if err != nil {
		t.Fatalf("schema %s: creating %q: %v", p.Schema, name, err)
	}
	return pr.ID
}

func count(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM profiles`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func hasColumn(t *testing.T, db *sql.DB, col string) bool {
	t.Helper()
	var n int
	if err := db.QueryRow(`SELECT count(*) FROM information_schema.columns WHERE table_name = 'profiles' AND column_name = $1`, col).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n == 1
}

// The seed's scenario in SQL: v1 → expand → both shapes serve and see
// each other's writes → contract; no row is lost or changed on the way.
func TestExpandContract(t *testing.T) {
	db := pgtest.New(t).DB(t)
	ctx := context.Background()
	v1 := sampleapp.Profiles{DB: db, Schema: sampleapp.SchemaV1}
	v2 := sampleapp.Profiles{DB: db, Schema: sampleapp.SchemaV2}

	apply(t, db, "v1.sql")
	want := map[int64]string{}
	for _, n := range []string{"Ada Lovelace", "Edsger Wybe Dijkstra", "Cher"} {
		want[mustCreate(t, v1, n)] = n
	}
	if err := v2.Check(ctx); err == nil {
		t.Fatal("v2 finds its columns in schema v1")
	}

	apply(t, db, "v2-expand.sql")
	if err := v1.Check(ctx); err != nil {
		t.Fatalf("v1 after the expand: %v", err)
	}
	if err := v2.Check(ctx); err != nil {
		t.Fatalf("v2 after the expand: %v", err)
	}
	// The backfill: v2 reads the rows v1 wrote before the expand.
	if got := names(t, v2); !reflect.DeepEqual(got, want) {
		t.Fatalf("v2 reads %v after the expand, want %v", got, want)
	}
	// Writes from both shapes, and renames across them.
	byV1 := mustCreate(t, v1, "Alan Turing")
	byV2 := mustCreate(t, v2, "Barbara Liskov")
	want[byV1], want[byV2] = "Alan Mathison Turing", "Barbara Jane Liskov"
	if _, err := v2.Update(ctx, byV1, "Alan Mathison Turing"); err != nil {
		t.Fatal(err)
	}
	if _, err := v1.Update(ctx, byV2, "Barbara Jane Liskov"); err != nil {
		t.Fatal(err)
	}
	for _, p := range []sampleapp.Profiles{v1, v2} {
		if got := names(t, p); !reflect.DeepEqual(got, want) {
			t.Fatalf("schema %s reads %v during the rollout, want %v", p.Schema, got, want)
		}
	}
	// The new shape of a row v1 wrote, read by v2 field by field.
	pr, err := v2.Get(ctx, byV1)
	if err != nil || *pr.FirstName != "Alan" || *pr.LastName != "Mathison Turing" {
		t.Fatalf("v2 reads %+v, %v; want Alan / Mathison Turing", pr, err)
	}

	apply(t, db, "v2-contract.sql")
	if hasColumn(t, db, "name") {
		t.Fatal("name survived the contract")
	}
	if err := v1.Check(ctx); err == nil {
		t.Fatal("v1 still finds name after the contract")
	}
	if n := count(t, db); n != len(want) {
		t.Fatalf("%d rows after the contract, want %d", n, len(want))
	}
	if got := names(t, v2); !reflect.DeepEqual(got, want) {
		t.Fatalf("v2 reads %v after the contract, want %v", got, want)
	}
	// The new columns are NOT NULL now, and v2 still writes.
	if _, err := db.Exec(`INSERT INTO profiles (first_name) VALUES ('x')`); err == nil {
		t.Fatal("a row without last_name was accepted after the contract")
	}
	id := mustCreate(t, v2, "Grace Hopper")
	if got := names(t, v2)[id]; got != "Grace Hopper" {
		t.Fatalf("v2 wrote %q after the contract, want Grace Hopper", got)
	}
}

// v1 keeps writing while the expand runs: the expand's transaction holds
// its lock until the trigger and the backfill are both in, so no row
// written around it is left without the new shape.
func TestExpandUnderConcurrentWrites(t *testing.T) {
	db := pgtest.New(t).DB(t)
	v1 := sampleapp.Profiles{DB: db, Schema: sampleapp.SchemaV1}
	v2 := sampleapp.Profiles{DB: db, Schema: sampleapp.SchemaV2}
	apply(t, db, "v1.sql")

	var (
		mu      sync.Mutex
		written = map[int64]string{}
		stop    = make(chan struct{})
		done    = make(chan error, 1)
	)
	go func() {
		for i := 0; ; i++ {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			name := "Writer " + string(rune('A'+i%26)) + " Number " + strconv.Itoa(i)
			pr, err := v1.Create(context.Background(), name)
			if err != nil {
				done <- err
				return
			}
			mu.Lock()
			written[pr.ID] = name
			mu.Unlock()
		}
	}()
	// Let some rows in first, bounded by a deadline.
	deadline := time.Now().Add(10 * time.Second)
	for count(t, db) < 20 {
		if time.Now().After(deadline) {
			t.Fatal("the writer wrote fewer than 20 rows in 10s")
		}
		time.Sleep(5 * time.Millisecond)
	}
	apply(t, db, "v2-expand.sql")
	after := count(t, db)
	deadline = time.Now().Add(10 * time.Second)
	for count(t, db) < after+20 {
		if time.Now().After(deadline) {
			t.Fatal("the writer wrote fewer than 20 rows in 10s after the expand")
		}
		time.Sleep(5 * time.Millisecond)
	}
	close(stop)
	if err := <-done; err != nil {
		t.Fatalf("v1 write failed around the expand: %v", err)
	}
	var missing int
	if err := db.QueryRow(`SELECT count(*) FROM profiles WHERE first_name IS NULL OR last_name IS NULL`).Scan(&missing); err != nil {
		t.Fatal(err)
	}
	if missing != 0 {
		t.Fatalf("%d rows without the new shape", missing)
	}
	got := names(t, v2)
	if !reflect.DeepEqual(got, written) {
		t.Fatalf("v2 reads %d rows, v1 wrote %d; they differ", len(got), len(written))
	}
}

// The breaking expand, were it forced through (allowDestructive), leaves
// v1 unable to read: what the rehearsal must catch. The data is still
// there, under the new column name.
func TestBreakingExpandBreaksV1(t *testing.T) {
	db := pgtest.New(t).DB(t)
	ctx := context.Background()
	v1 := sampleapp.Profiles{DB: db, Schema: sampleapp.SchemaV1}
	apply(t, db, "v1.sql")
	want := map[int64]string{}
	for _, n := range []string{"Ada Lovelace", "Cher"} {
		want[mustCreate(t, v1, n)] = n
	}
	apply(t, db, "v2-expand-breaking.sql")
	if err := v1.Check(ctx); err == nil {
		t.Fatal("v1's check passes over the renamed column")
	}
	if _, err := v1.List(ctx); err == nil {
		t.Fatal("v1 lists profiles over the renamed column")
	}
	if _, err := v1.Create(ctx, "Someone New"); err == nil {
		t.Fatal("v1 writes a profile over the renamed column")
	}
	rows, err := db.Query(`SELECT id, full_name FROM profiles`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	got := map[int64]string{}
	for rows.Next() {
		var id int64
		var n string
		if err := rows.Scan(&id, &n); err != nil {
			t.Fatal(err)
		}
		got[id] = n
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("rows under full_name %v, want %v", got, want)
	}
}

// A failing statement in a file leaves nothing of it behind: the runner
// applies a file in one transaction, and the example's expand relies on
// it (the trigger and the backfill go in together).
func TestFailedExpandChangesNothing(t *testing.T) {
	db := pgtest.New(t).DB(t)
	v1 := sampleapp.Profiles{DB: db, Schema: sampleapp.SchemaV1}
	apply(t, db, "v1.sql")
	id := mustCreate(t, v1, "Ada Lovelace")
	if err := applyErr(db, read(t, "v2-expand.sql")+"\nSELECT 1/0;"); err == nil {
		t.Fatal("the expand with a division by zero succeeded")
	}
	if hasColumn(t, db, "first_name") {
		t.Fatal("first_name exists after the failed expand")
	}
	if n := count(t, db); n != 1 {
		t.Fatalf("%d rows, want 1", n)
	}
	if got := names(t, v1); got[id] != "Ada Lovelace" {
		t.Fatalf("v1 reads %v", got)
	}
}
