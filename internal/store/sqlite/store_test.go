package sqlite

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/lockfile"
	"github.com/bluejay-deploy/bluejay/internal/store"
	"github.com/bluejay-deploy/bluejay/internal/store/storetest"
)

// openTemp opens a store in a fresh temporary directory.
func openTemp(t *testing.T) *Store {
	t.Helper()
	s, err := Open(filepath.Join(t.TempDir(), "bluejay.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestConformance(t *testing.T) {
	storetest.Run(t, storetest.Harness{
		Open: func(t *testing.T) store.Store { return openTemp(t) },
		// A second Store on the same file stands for another process:
		// only SQLite's locking orders the two. It is opened without the
		// store's lock file, which would refuse it (see
		// TestSecondServeOnOneStoreRefused), as `bluejay proxy` opens it.
		Another: func(t *testing.T, s store.Store) store.Store {
			t.Helper()
			o, err := OpenUnlocked(s.(*Store).Path())
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { o.Close() })
			return o
		},
	})
}

func TestOpenSetsPragmas(t *testing.T) {
	s := openTemp(t)
	ctx := context.Background()
	conn, err := s.db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for pragma, want := range map[string]string{
		"journal_mode": "wal",
		"synchronous":  "2", // FULL
		"busy_timeout": "5000",
		"foreign_keys": "1",
		"user_version": "1",
	} {
		var got string
		if err := conn.QueryRowContext(ctx, "PRAGMA "+pragma).Scan(&got); err != nil {
			t.Fatal(err)
		}
		if got != want {
			t.Errorf("PRAGMA %s = %s, want %s", pragma, got, want)
		}
	}
}

func TestOpenOddPath(t *testing.T) {
	// Characters that a file: URI would otherwise read as query,
	// fragment or escape; and a directory that does not exist yet.
	path := filepath.Join(t.TempDir(), "new dir", "a?b#c%20d.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if s.Path() != path {
		t.Errorf("Path() = %q, want %q", s.Path(), path)
	}
	storetest.Create(t, s, storetest.Rollout("web", engine.PhaseDeploying))
	if m, _ := filepath.Glob(filepath.Join(filepath.Dir(path), "*.db")); len(m) != 1 || m[0] != path {
		t.Errorf("database files = %q, want [%q]", m, path)
	}
}

func TestNewerSchemaRefused(t *testing.T) {
	s := openTemp(t)
	if _, err := s.db.Exec("PRAGMA user_version = 99"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s2, err := Open(s.Path()); err == nil {
		s2.Close()
		t.Fatal("Open of a schema from a newer bluejay succeeded")
	}
}

func TestReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bluejay.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	r := storetest.Create(t, s, storetest.Rollout("web", engine.PhasePreview))
	if err := s.PutRoute(ctx, storetest.Route("web", 10)); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s, err = Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	got, err := s.Rollout(ctx, r.ID)
	if err != nil || !reflect.DeepEqual(got, utcRollout(r)) {
		t.Errorf("Rollout after reopen = %+v, %v; want %+v", got, err, r)
	}
	if evs, err := s.ListEvents(ctx, "web", 0); err != nil || len(evs) != 1 {
		t.Errorf("events after reopen = %+v, %v; want 1", evs, err)
	}
	if routes, err := s.ListRoutes(ctx); err != nil || len(routes) != 1 || !routes[0].Equal(storetest.Route("web", 10)) {
		t.Errorf("routes after reopen = %+v, %v", routes, err)
	}
	// The rollout is still active after the restart.
	r2 := storetest.Rollout("web", engine.PhaseDeploying)
	if err := s.CreateRollout(ctx, &r2, storetest.Event(r2.Phase, storetest.T0)); !errors.Is(err, store.ErrConflict) {
		t.Errorf("create after reopen: err = %v, want ErrConflict", err)
	}
}

// TestCommitSurvivesKill runs a child process that commits a rollout and
// is then killed with SIGKILL, without closing the database: the rollout
// must be there when the file is opened again.
func TestCommitSurvivesKill(t *testing.T) {
	if path := os.Getenv("BLUEJAY_SQLITE_KILL_CHILD"); path != "" {
		killChild(path)
		return
	}
	path := filepath.Join(t.TempDir(), "bluejay.db")
	cmd := exec.Command(os.Args[0], "-test.run=^TestCommitSurvivesKill$")
	cmd.Env = append(os.Environ(), "BLUEJAY_SQLITE_KILL_CHILD="+path)
	cmd.Stderr = os.Stderr
	// The child blocks on its stdin until it is killed; held open here,
	// it closes (and the child exits) if this process dies first.
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var id int64
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if _, err := fmt.Sscanf(sc.Text(), "committed %d", &id); err == nil {
			break
		}
	}
	cmd.Process.Kill()
	cmd.Wait()
	if id == 0 {
		t.Fatal("child did not report a commit")
	}
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if r, err := s.Rollout(context.Background(), id); err != nil || r.Phase != engine.PhaseWatching {
		t.Errorf("rollout %d after kill = %+v, %v; want it in Watching", id, r, err)
	}
}

// killChild commits, reports and blocks on stdin until it is killed.
func killChild(path string) {
	s, err := Open(path)
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	r := storetest.Rollout("web", engine.PhaseDeploying)
	ev := storetest.Event(r.Phase, storetest.T0)
	if err := s.CreateRollout(context.Background(), &r, ev); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	r.Phase = engine.PhaseWatching
	if err := s.UpdateRollout(context.Background(), r, &ev); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	fmt.Printf("committed %d\n", r.ID)
	io.Copy(io.Discard, os.Stdin) // returns only if the parent died first
	os.Exit(1)
}

// TestOpensStoreOfUnversionedFormat: a database written before stored
// forms had a version (the engine's structs as JSON) is read whole by
// this bluejay, and its rollout carries on. The rows are as the
// previous code wrote them: same columns, the version 0 documents.
func TestOpensStoreOfUnversionedFormat(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bluejay.db")
	s, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	rdoc, edoc := storetest.V0Docs()
	r, ev := storetest.V0Want()
	_, err = s.db.Exec(`INSERT INTO rollouts (id, service, phase, started, updated, doc) VALUES (1, ?, ?, ?, ?, ?)`,
		r.Service, string(r.Phase), formatTime(r.Started), formatTime(r.PhaseSince), string(rdoc))
	if err == nil {
		_, err = s.db.Exec(`INSERT INTO events (id, rollout_id, service, time, phase, doc) VALUES (1, 1, ?, ?, ?, ?)`,
			ev.Service, formatTime(ev.Time), string(ev.Phase), string(edoc))
	}
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if s, err = Open(path); err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	storetest.CheckReadsV0(t, s)
}

// TestSecondServeOnOneStoreRefused: a second bluejay on the same SQLite
// file used to be let in, adopt the first one's instances and stop them.
// The store is locked from Open to Close: a second Open fails at once,
// naming the holder (pid and listen addresses), and the first store
// goes on as before; once it is closed, the file opens again.
func TestSecondServeOnOneStoreRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bluejay.db")
	holder := lockfile.Holder{PID: 4242, Listen: map[string]string{"admin": "127.0.0.1:7070", "proxy": "127.0.0.1:8080"}}
	first, err := OpenAs(path, holder)
	if err != nil {
		t.Fatal(err)
	}
	defer first.Close()
	r := storetest.Create(t, first, storetest.Rollout("web", engine.PhaseProgressing))

	second, err := OpenAs(path, lockfile.Self("admin", "127.0.0.1:7071"))
	if err == nil {
		second.Close()
		t.Fatal("a second Open of a locked store succeeded")
	}
	if !errors.Is(err, lockfile.ErrHeld) {
		t.Errorf("second Open: err = %v, want it to wrap lockfile.ErrHeld", err)
	}
	for _, want := range []string{path, "pid 4242", "admin 127.0.0.1:7070", "proxy 127.0.0.1:8080"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("second Open: err = %q, want it to name %q", err, want)
		}
	}
	// The first store is untouched and still writes.
	r.Phase = engine.PhaseCompleted
	if err := first.UpdateRollout(context.Background(), r, nil); err != nil {
		t.Errorf("the first store after a refused second Open: %v", err)
	}
	if err := first.Close(); err != nil {
		t.Fatal(err)
	}
	third, err := Open(path)
	if err != nil {
		t.Fatalf("Open after the holder closed the store: %v", err)
	}
	defer third.Close()
	if got, err := third.Rollout(context.Background(), r.ID); err != nil || got.Phase != engine.PhaseCompleted {
		t.Errorf("rollout after reopening = %+v, %v; want it Completed", got, err)
	}
}
