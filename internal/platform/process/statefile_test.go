package process_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bluejay-deploy/bluejay/internal/platform"
	"github.com/bluejay-deploy/bluejay/internal/platform/process"
)

// TestDeployFailsWhenTheStateFileCannotBeWritten pins the bug where a
// failed write of the state file was only a warning while Deploy
// succeeded: the instances then could not be adopted after a crash. The
// error comes through the port.
func TestDeployFailsWhenTheStateFileCannotBeWritten(t *testing.T) {
	p, _ := newPlatform(t, process.Config{})
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	p.SetStateFile(filepath.Join(notDir, "state.json")) // its directory is a file: every write fails
	err := p.Deploy(t.Context(), platform.Version{Service: "web", Label: "v1"})
	if err == nil || !strings.Contains(err.Error(), "could not adopt them") {
		t.Fatalf("Deploy with an unwritable state file: err = %v, want the write's failure", err)
	}
}
