package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/store/sqlite"
)

// TestFilesAreOwnerOnly: the database and its -wal and -shm files hold
// the rollout history (deploy args included) and are created 0600,
// whatever the umask lets through.
func TestFilesAreOwnerOnly(t *testing.T) {
	old := syscall.Umask(0o022)
	defer syscall.Umask(old)
	path := filepath.Join(t.TempDir(), "b.db")
	st, err := sqlite.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	r := &engine.Rollout{Service: "web", To: platform.Version{Label: "v1"}}
	if err := st.CreateRollout(context.Background(), r, engine.Event{Service: "web", Reason: "deploy"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("%s: mode %v, want 0600", filepath.Base(p), fi.Mode().Perm())
		}
	}
}
