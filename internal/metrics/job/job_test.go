package job_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/bluejay-deploy/bluejay/internal/metrics/job"
)

func TestJobExitStatusAndOutput(t *testing.T) {
	for _, tc := range []struct {
		name, script, wantErr, wantOut string
		code                           int
	}{
		{"exit 0 passes", `echo "all $N checks passed"`, "", "all 7 checks passed", 0},
		{"non-zero fails", `echo "2 of $N failed" >&2; exit 4`, "exit status 4", "2 of 7 failed", 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := &job.Provider{Command: []string{"sh", "-c", tc.script}, Env: map[string]string{"N": "7"}, Timeout: 10 * time.Second}
			o, err := p.Run(context.Background())
			if (err == nil) != (tc.wantErr == "") || err != nil && !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("err %v, want %q", err, tc.wantErr)
			}
			if o.ExitCode != tc.code || o.Output != tc.wantOut {
				t.Fatalf("exit %d output %q, want %d %q", o.ExitCode, o.Output, tc.code, tc.wantOut)
			}
		})
	}
}

func TestJobTimeoutFails(t *testing.T) {
	p := &job.Provider{Command: []string{"sleep", "30"}, Timeout: 100 * time.Millisecond}
	start := time.Now()
	o, err := p.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "timed out") || o.ExitCode == 0 {
		t.Fatalf("exit %d err %v, want a timeout", o.ExitCode, err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("the run took %s: the timeout did not kill it", d)
	}
}

func TestJobOutputIsTrimmedToItsEnd(t *testing.T) {
	p := &job.Provider{Command: []string{"sh", "-c", `i=0; while [ $i -lt 200 ]; do echo "line $i"; i=$((i+1)); done; exit 1`}}
	o, err := p.Run(context.Background())
	if err == nil || len(o.Output) > job.MaxOutput+3 || !strings.HasSuffix(o.Output, "line 199") || !strings.HasPrefix(o.Output, "...") {
		t.Fatalf("output %d bytes %q..., want the last %d bytes ending with line 199", len(o.Output), o.Output[:min(40, len(o.Output))], job.MaxOutput)
	}
}

func TestJobThatCannotStartFails(t *testing.T) {
	p := &job.Provider{Command: []string{"/nonexistent/check"}}
	if _, err := p.Run(context.Background()); err == nil {
		t.Fatal("no error for a command that does not exist")
	}
}
