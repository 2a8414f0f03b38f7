package pgtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	_ "github.com/jackc/pgx/v5/stdlib" // the "pgx" database/sql driver

	"github.com/bluejay-deploy/bluejay/internal/enginetest"
)

// RequireEnv names the environment variable that turns a missing
// PostgreSQL into a test failure instead of a skip (CI sets it to 1).
const RequireEnv = enginetest.RequireEnv

// startTimeout bounds how long a new cluster may take to accept
// connections.
const startTimeout = 60 * time.Second

// ErrNotInstalled is the error of Bindir and Start when PostgreSQL is not
// installed (or, as root, there is no postgres user to run it as).
var ErrNotInstalled = errors.New("PostgreSQL not installed")

// Bindir returns the directory holding initdb and postgres:
// `pg_config --bindir`, else the newest /usr/lib/postgresql/*/bin, else
// the directory of initdb in PATH.
func Bindir() (string, error) {
	has := func(dir string) bool {
		for _, b := range []string{"initdb", "postgres"} {
			if _, err := os.Stat(filepath.Join(dir, b)); err != nil {
				return false
			}
		}
		return true
	}
	if out, err := exec.Command("pg_config", "--bindir").Output(); err == nil {
		if dir := strings.TrimSpace(string(out)); has(dir) {
			return dir, nil
		}
	}
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	sort.Slice(dirs, func(i, j int) bool { return majorOf(dirs[i]) > majorOf(dirs[j]) })
	for _, dir := range dirs {
		if has(dir) {
			return dir, nil
		}
	}
	if p, err := exec.LookPath("initdb"); err == nil {
		if dir := filepath.Dir(p); has(dir) {
			return dir, nil
		}
	}
	return "", fmt.Errorf("%w: no initdb and postgres in `pg_config --bindir`, /usr/lib/postgresql/*/bin or PATH (Debian: apt-get install postgresql)", ErrNotInstalled)
}

// majorOf is the version number in /usr/lib/postgresql/N/bin, 0 if none.
func majorOf(dir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(dir)))
	return n
}

// Cluster is a running PostgreSQL cluster on 127.0.0.1.
type Cluster struct {
	// Dir holds the data directory (Dir/data), the socket and the log
	// (Dir/postgres.log).
	Dir  string
	port int
	cmd  *exec.Cmd
	done chan struct{} // closed when postgres exited
	err  error         // postgres's exit, read after done

	admin *sql.DB // the postgres database, for CREATE/DROP DATABASE
	seq   atomic.Int64
	once  sync.Once
}

// Start initialises a cluster in a new temporary directory and starts
// it; it returns once the cluster accepts connections. Stop it with Stop.
func Start() (*Cluster, error) {
	bindir, err := Bindir()
	if err != nil {
		return nil, err
	}
	cred, err := credential()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "bluejay-pgtest-")
	if err != nil {
		return nil, err
	}
	if cred != nil {
		// MkdirTemp made it 0700 for root: the postgres user needs it.
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			os.RemoveAll(dir)
			return nil, fmt.Errorf("handing %s to the postgres user: %w", dir, err)
		}
	}
	initdb := exec.Command(filepath.Join(bindir, "initdb"), "-D", filepath.Join(dir, "data"),
		"-A", "trust", "-U", "postgres", "--no-sync", "-E", "UTF8", "--locale=C")
	initdb.Dir = dir
	initdb.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := initdb.CombinedOutput(); err != nil {
		os.RemoveAll(dir)
		return nil, fmt.Errorf("initdb: %v\n%s", err, out)
	}
	// The port is free when picked, but another process may take it
	// before postgres binds it: try a few.
	for attempt := 0; ; attempt++ {
		c, err := start(bindir, dir, cred)
		if err == nil {
			return c, nil
		}
		if attempt == 2 {
			os.RemoveAll(dir)
			return nil, err
		}
	}
}

// credential is the postgres system user's when running as root, nil
// otherwise (run as ourselves).
func credential() (*syscall.Credential, error) {
	if os.Geteuid() != 0 {
		return nil, nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		return nil, fmt.Errorf("%w: running as root, and initdb and postgres refuse root: no postgres user to run them as: %v", ErrNotInstalled, err)
	}
	uid, err := strconv.ParseUint(u.Uid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres uid %q: %w", u.Uid, err)
	}
	gid, err := strconv.ParseUint(u.Gid, 10, 32)
	if err != nil {
		return nil, fmt.Errorf("postgres gid %q: %w", u.Gid, err)
	}
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}, nil
}

// start runs postgres on a free port over the initialised dir and waits
// until it accepts connections.
func start(bindir, dir string, cred *syscall.Credential) (*Cluster, error) {
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	logPath := filepath.Join(dir, "postgres.log")
	logf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, err
	}
	defer logf.Close()
	c := &Cluster{Dir: dir, port: port, done: make(chan struct{})}
	c.cmd = exec.Command(filepath.Join(bindir, "postgres"), "-D", filepath.Join(dir, "data"), "-k", dir,
		"-c", "listen_addresses=127.0.0.1", "-p", strconv.Itoa(port),
		"-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off")
	c.cmd.Dir = dir
	c.cmd.Stdout, c.cmd.Stderr = logf, logf
	// If the test binary dies, postgres shuts down (SIGTERM: smart
	// shutdown, and its clients died with the binary).
	c.cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred, Pdeathsig: syscall.SIGTERM}
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting postgres: %w", err)
	}
	go func() {
		c.err = c.cmd.Wait()
		close(c.done)
	}()
	if err := c.waitReady(); err != nil {
		c.kill()
		log, _ := os.ReadFile(logPath)
		return nil, fmt.Errorf("%w\n%s", err, log)
	}
	c.admin, err = sql.Open("pgx", c.URL())
	if err != nil {
		c.kill()
		return nil, err
	}
	return c, nil
}

// waitReady polls until postgres accepts a connection, exits, or
// startTimeout passes.
func (c *Cluster) waitReady() error {
	return enginetest.WaitReady("postgres", c.done, func() error { return c.err }, startTimeout, 20*time.Millisecond, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		conn, err := pgx.Connect(ctx, c.URL())
		if err != nil {
			return err
		}
		return conn.Close(context.Background())
	})
}

// freePort returns a loopback port that was free a moment ago.
func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("finding a free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Port is the TCP port the cluster listens on, on 127.0.0.1.
func (c *Cluster) Port() int { return c.port }

// URL is the connection URL of the cluster's postgres database, as the
// superuser postgres.
func (c *Cluster) URL() string { return c.DatabaseURL("postgres") }

// DatabaseURL is the connection URL of database name on the cluster, as
// the superuser postgres: postgres://postgres@127.0.0.1:PORT/NAME?sslmode=disable.
func (c *Cluster) DatabaseURL(name string) string {
	u := url.URL{Scheme: "postgres", User: url.User("postgres"), Host: net.JoinHostPort("127.0.0.1", strconv.Itoa(c.port)),
		Path: "/" + name, RawQuery: "sslmode=disable"}
	return u.String()
}

// CreateDatabase creates a database whose name starts with prefix (made
// of lower-case letters, digits and underscores, and unique in the
// cluster) and returns its name.
func (c *Cluster) CreateDatabase(ctx context.Context, prefix string) (string, error) {
	name := fmt.Sprintf("%s_%d", sanitize(prefix), c.seq.Add(1))
	if _, err := c.admin.ExecContext(ctx, "CREATE DATABASE "+pgx.Identifier{name}.Sanitize()); err != nil {
		return "", fmt.Errorf("creating database %s: %w", name, err)
	}
	return name, nil
}

// DropDatabase drops database name, closing its open connections.
func (c *Cluster) DropDatabase(ctx context.Context, name string) error {
	if _, err := c.admin.ExecContext(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)"); err != nil {
		return fmt.Errorf("dropping database %s: %w", name, err)
	}
	return nil
}

var notIdent = regexp.MustCompile(`[^a-z0-9_]+`)

// sanitize makes s a short lower-case identifier that starts with a letter.
func sanitize(s string) string {
	s = notIdent.ReplaceAllString(strings.ToLower(s), "_")
	s = strings.Trim(s, "_")
	if len(s) > 40 {
		s = s[len(s)-40:]
	}
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		s = "db_" + s
	}
	return s
}

// NewDatabase creates a fresh database named after name for the test,
// drops it at t's cleanup, and returns its URL.
func (c *Cluster) NewDatabase(t testing.TB, name string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	db, err := c.CreateDatabase(ctx, name)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.DropDatabase(ctx, db); err != nil {
			t.Errorf("pgtest: %v", err)
		}
	})
	return c.DatabaseURL(db)
}

// DB creates a fresh database for the test (named after it) and returns
// it open; both are closed and dropped at t's cleanup.
func (c *Cluster) DB(t testing.TB) *sql.DB {
	t.Helper()
	return Open(t, c.NewDatabase(t, t.Name()))
}

// Open opens the database at url through pgx's database/sql driver,
// checks that it answers, and closes it at t's cleanup (registered after
// NewDatabase's, so it runs before the drop).
func Open(t testing.TB, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := db.PingContext(ctx); err != nil {
		t.Fatalf("pgtest: connecting to %s: %v", url, err)
	}
	return db
}

// Stop shuts the cluster down (fast shutdown: open connections are
// closed) and removes its directory. It is safe to call more than once.
func (c *Cluster) Stop() error {
	var err error
	c.once.Do(func() {
		if c.admin != nil {
			c.admin.Close()
		}
		c.kill()
		err = os.RemoveAll(c.Dir)
	})
	return err
}

// kill stops postgres: SIGINT (fast shutdown), SIGKILL after 10s.
func (c *Cluster) kill() {
	_ = c.cmd.Process.Signal(syscall.SIGINT)
	select {
	case <-c.done:
	case <-time.After(10 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.done
	}
}

var shared = &enginetest.Shared[*Cluster]{Engine: "PostgreSQL", Start: Start, Stop: (*Cluster).Stop,
	NotInstalled: []error{ErrNotInstalled}}

// Main runs the tests of m with one cluster shared by every New, and
// stops it when they end; use it in TestMain:
//
//	func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }
//
// The cluster is started only if a test asks for one.
func Main(m *testing.M) int { return shared.Main(m) }

// New returns a running cluster for the test: the binary's shared one
// under Main, else one of its own stopped at t's cleanup. Without
// PostgreSQL it skips the test, or fails it when BLUEJAY_REQUIRE_ENGINES=1.
func New(t testing.TB) *Cluster {
	t.Helper()
	return shared.New(t)
}
