package pgtest

import (
	"context"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestMain(m *testing.M) { os.Exit(Main(m)) }

func TestDatabasesAreSeparate(t *testing.T) {
	c := New(t)
	a, b := c.NewDatabase(t, "Some Test/A"), c.NewDatabase(t, "some test/a")
	if a == b {
		t.Fatalf("two databases share the URL %s", a)
	}
	if !strings.HasPrefix(a, "postgres://postgres@127.0.0.1:") || !strings.HasSuffix(a, "?sslmode=disable") {
		t.Fatalf("URL = %s, want postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable", a)
	}
	dbA, dbB := Open(t, a), Open(t, b)
	ctx := context.Background()
	if _, err := dbA.ExecContext(ctx, `CREATE TABLE t (id int primary key, v text not null)`); err != nil {
		t.Fatal(err)
	}
	if _, err := dbA.ExecContext(ctx, `INSERT INTO t VALUES (1, 'one'), (2, 'two')`); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := dbA.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err != nil || n != 2 {
		t.Fatalf("rows in a: %d, %v; want 2", n, err)
	}
	var v string
	if err := dbA.QueryRowContext(ctx, `SELECT v FROM t WHERE id = 2`).Scan(&v); err != nil || v != "two" {
		t.Fatalf("row 2 in a: %q, %v; want two", v, err)
	}
	if err := dbB.QueryRowContext(ctx, `SELECT count(*) FROM t`).Scan(&n); err == nil {
		t.Fatal("table t of database a is visible in database b")
	}
}

func TestSharedUnderMain(t *testing.T) {
	if New(t) != New(t) {
		t.Fatal("under Main, New started a second cluster")
	}
}

func TestDBIsDroppedAtCleanup(t *testing.T) {
	c := New(t)
	var name string
	t.Run("inner", func(t *testing.T) {
		db := c.DB(t)
		if err := db.QueryRow(`SELECT current_database()`).Scan(&name); err != nil {
			t.Fatal(err)
		}
	})
	var n int
	if err := c.admin.QueryRow(`SELECT count(*) FROM pg_database WHERE datname = $1`, name).Scan(&n); err != nil || n != 0 {
		t.Fatalf("database %s still exists after its test (%d, %v)", name, n, err)
	}
}

// A cluster of its own (as without Main) runs as a separate postgres
// process that Stop ends, removing its directory.
func TestStartStop(t *testing.T) {
	c, err := Start()
	if err != nil {
		shared.Unavailable(t, err)
	}
	if os.Geteuid() == 0 {
		// Refused as root: it must run as the postgres user.
		st, err := os.Stat(c.Dir + "/data")
		if err != nil {
			t.Fatal(err)
		}
		if st.Sys().(*syscall.Stat_t).Uid == 0 {
			t.Fatalf("data directory owned by root")
		}
	}
	db := Open(t, c.URL())
	var one int
	if err := db.QueryRow(`SELECT 1`).Scan(&one); err != nil || one != 1 {
		t.Fatalf("SELECT 1 = %d, %v", one, err)
	}
	pid := c.cmd.Process.Pid
	if err := c.Stop(); err != nil {
		t.Fatal(err)
	}
	select {
	case <-c.done:
	case <-time.After(time.Second):
		t.Fatalf("postgres (pid %d) still running after Stop", pid)
	}
	if _, err := os.Stat(c.Dir); !os.IsNotExist(err) {
		t.Fatalf("%s left behind after Stop: %v", c.Dir, err)
	}
	if err := c.Stop(); err != nil {
		t.Fatalf("second Stop: %v", err)
	}
}

func TestSanitize(t *testing.T) {
	for in, want := range map[string]string{
		"TestX/sub case": "testx_sub_case",
		"9lives":         "db_9lives",
		"":               "db_",
		"__a__":          "a",
	} {
		if got := sanitize(in); got != want {
			t.Errorf("sanitize(%q) = %q, want %q", in, got, want)
		}
	}
}
