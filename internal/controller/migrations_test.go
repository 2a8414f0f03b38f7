package controller_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/pgtest"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// dbBackend is a version that reads the profiles table through column
// col: its / answers 500 when the schema lacks it, as a real version
// whose schema was taken from under it would.
func dbBackend(t *testing.T, db *sql.DB, version, col string) *backend {
	b := &backend{version: version}
	b.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" {
			return // readiness says the process runs; the schema is judged by / (the smoke tests)
		}
		if r.Header.Get("X-Forwarded-For") != "" {
			b.viaProxy.Add(1)
		}
		var n int
		if err := db.QueryRowContext(r.Context(), fmt.Sprintf("SELECT count(%s) FROM profiles", col)).Scan(&n); err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		fmt.Fprintf(w, "version=%s profiles=%d\n", version, n)
	}))
	t.Cleanup(b.Close)
	return b
}

// migrationsRig is a service on v1 whose schema has profiles(name) with
// rows, and whose v2 carries the given expand and contract files.
func migrationsRig(t *testing.T, expand, contract string, allow bool) (*rig, *sql.DB, *backend, *backend) {
	c := pgtest.New(t)
	url := c.NewDatabase(t, "profiles")
	db := pgtest.Open(t, url)
	if _, err := db.Exec(`CREATE TABLE profiles (id serial PRIMARY KEY, name text NOT NULL);
		INSERT INTO profiles (name) VALUES ('Ada Lovelace'), ('Alan Turing'), ('Grace Hopper')`); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name, body string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	v1 := dbBackend(t, db, "v1", "name")
	v2 := dbBackend(t, db, "v2", "first_name")
	svc := service(v1, func(s *spec.Service) {
		s.Smoke = []spec.Smoke{{Method: "GET", Path: "/", ExpectStatus: 200, ExpectBody: "version=", Timeout: spec.Duration(time.Second)}}
		s.BlueGreen.ScaleDownDelay = spec.Duration(300 * time.Millisecond)
		s.Migrations = &spec.Migrations{Database: spec.Database{URLFile: write("db-url", url)},
			Versions: map[string]spec.VersionMigrations{"v2": {
				Expand:   &spec.MigrationStep{SQL: write("v2-expand.sql", expand), AllowDestructive: allow},
				Contract: &spec.MigrationStep{SQL: write("v2-contract.sql", contract)},
			}}}
	})
	r := newRig(t, filepath.Join(t.TempDir(), "b.db"), svc)
	t.Cleanup(r.stop)
	r.waitPhase(1, engine.PhaseCompleted)
	return r, db, v1, v2
}

func profiles(t *testing.T, db *sql.DB, col string) []string {
	t.Helper()
	rows, err := db.Query(fmt.Sprintf("SELECT %s FROM profiles ORDER BY id", col))
	if err != nil {
		t.Fatalf("reading profiles.%s: %v", col, err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		out = append(out, s)
	}
	return out
}

func eventReasons(t *testing.T, r *rig, id int64) string {
	evs, err := r.store.ListEvents(context.Background(), "web", 0)
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, e := range evs {
		if e.RolloutID == id {
			fmt.Fprintf(&b, "%s: %s\n", e.Phase, e.Reason)
		}
	}
	return b.String()
}

const (
	expandAdd = `ALTER TABLE profiles ADD COLUMN first_name text;
UPDATE profiles SET first_name = split_part(name, ' ', 1);`
	contractDrop = `ALTER TABLE profiles DROP COLUMN name;`
)

// TestMigrationsOrderedWithTheRollout: expand runs before v2 is deployed,
// the rollback is rehearsed on v1, contract is refused while v1 is warm
// and runs once it was stopped; no row is lost.
func TestMigrationsOrderedWithTheRollout(t *testing.T) {
	r, db, _, v2 := migrationsRig(t, expandAdd, contractDrop, false)
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhaseWatching)
	log := eventReasons(t, r, ro.ID)
	iExpand, iRehearsal, iReady := strings.Index(log, "expand hook passed"), strings.Index(log, "rehearsal hook passed"), strings.Index(log, "v2 ready")
	if iExpand < 0 || iRehearsal < iExpand || iReady < iRehearsal {
		t.Errorf("want expand, then the rehearsal, then v2 ready, in the decision log:\n%s", log)
	}
	if got := profiles(t, db, "first_name"); strings.Join(got, ",") != "Ada,Alan,Grace" {
		t.Errorf("after expand first_name = %v", got)
	}

	_, err := r.ctrl.Command(context.Background(), "web", engine.CmdContract)
	if !errors.Is(err, controller.ErrConflict) || !strings.Contains(err.Error(), "still possible") {
		t.Errorf("contract while v1 can take traffic back: %v, want a conflict saying a rollback is still possible", err)
	}
	if got := profiles(t, db, "name"); len(got) != 3 {
		t.Fatalf("a refused contract changed the schema: name = %v", got)
	}

	r.waitPhase(ro.ID, engine.PhaseCompleted)
	deadline := time.Now().Add(10 * time.Second)
	for {
		_, err = r.ctrl.Command(context.Background(), "web", engine.CmdContract)
		if err == nil || !strings.Contains(err.Error(), "still possible") || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // until v1 was stopped after its scale-down delay
	}
	if err != nil {
		t.Fatalf("contract once v1 was stopped: %v", err)
	}
	for time.Now().Before(deadline) && !strings.Contains(eventReasons(t, r, ro.ID), "contract hook") {
		time.Sleep(20 * time.Millisecond)
	}
	if log := eventReasons(t, r, ro.ID); !strings.Contains(log, "contract hook passed") {
		t.Fatalf("contract did not pass:\n%s", log)
	}
	if _, err := db.Exec("SELECT name FROM profiles"); err == nil {
		t.Error("contract ran, yet profiles.name still exists")
	}
	if got := profiles(t, db, "first_name"); strings.Join(got, ",") != "Ada,Alan,Grace" {
		t.Errorf("after contract first_name = %v: rows lost", got)
	}
}

// TestRehearsalCatchesAnIncompatibleExpand: an expand that renames v1's
// column (allowed past the guard) breaks v1's smoke tests on the expanded
// schema, and v2 never runs nor takes traffic.
func TestRehearsalCatchesAnIncompatibleExpand(t *testing.T) {
	r, db, _, v2 := migrationsRig(t, `ALTER TABLE profiles RENAME COLUMN name TO first_name;`, contractDrop, true)
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhaseFailed)
	if !strings.Contains(ro.Reason, "rollback rehearsal failed") || !strings.Contains(ro.Reason, "v1") {
		t.Errorf("reason %q, want the failed rehearsal of v1", ro.Reason)
	}
	if log := eventReasons(t, r, ro.ID); !strings.Contains(log, "allowDestructive") {
		t.Errorf("the allowed destructive statement is not in the decision log:\n%s", log)
	}
	if st, _ := r.ctrl.Status("web"); st.Weights["v2"] != 0 || v2.viaProxy.Load() != 0 {
		t.Errorf("v2 took traffic (weights %v, %d requests) though its expand broke v1", st.Weights, v2.viaProxy.Load())
	}
	if got := profiles(t, db, "first_name"); len(got) != 3 {
		t.Errorf("rows lost: %v", got)
	}
}

// TestGuardRefusesADestructiveExpand: dropping v1's column in an expand is
// refused with the statement and its line; nothing runs, nothing changes.
func TestGuardRefusesADestructiveExpand(t *testing.T) {
	r, db, _, v2 := migrationsRig(t, "ALTER TABLE profiles ADD COLUMN first_name text;\nALTER TABLE profiles DROP COLUMN name;", contractDrop, false)
	ro := r.waitPhase(r.deploy(v2).ID, engine.PhaseFailed)
	for _, want := range []string{"v2-expand.sql:2", "drop column", "DROP COLUMN name", "allowDestructive"} {
		if !strings.Contains(ro.Reason, want) {
			t.Errorf("reason %q lacks %q", ro.Reason, want)
		}
	}
	if got := profiles(t, db, "name"); len(got) != 3 {
		t.Errorf("a refused expand changed the data: %v", got)
	}
	if _, err := db.Exec("SELECT first_name FROM profiles"); err == nil {
		t.Error("a refused expand ran its first statement")
	}
}
