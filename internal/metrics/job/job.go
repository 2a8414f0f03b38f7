// Package job is the job metric provider: it runs a command (a check
// script, a load test, a query tool) and judges it by its exit status,
// Argo Rollouts' job metric on one machine. Exit 0 passes, any other
// exit fails; the output goes to the decision log, trimmed.
package job

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"
)

// MaxOutput is how much of a job's output, its end, is kept for the
// decision log.
const MaxOutput = 512

// Provider runs one job metric's command. It is safe for concurrent use.
type Provider struct {
	// Command is the program and its arguments. Required.
	Command []string
	// Env is added to bluejay's environment.
	Env map[string]string
	// Dir is the working directory; "" means bluejay's.
	Dir string
	// Timeout bounds a run (the command is killed past it, a failure);
	// 0 means 1m.
	Timeout time.Duration
}

// Outcome is one run of the job.
type Outcome struct {
	// ExitCode is the command's exit status; -1 when it was killed (the
	// timeout) or could not start.
	ExitCode int
	// Output is the end of its stdout and stderr, trimmed, at most
	// MaxOutput bytes.
	Output string
}

// Run runs the command once. The error says why a run that did not exit
// 0 failed; an Outcome is returned either way.
func (p *Provider) Run(ctx context.Context) (Outcome, error) {
	if len(p.Command) == 0 {
		return Outcome{ExitCode: -1}, errors.New("job: no command")
	}
	timeout := p.Timeout
	if timeout <= 0 {
		timeout = time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, p.Command[0], p.Command[1:]...)
	cmd.Dir = p.Dir
	cmd.Env = os.Environ()
	for k, v := range p.Env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.WaitDelay = time.Second // a child holding the pipes open does not hold the run
	err := cmd.Run()
	o := Outcome{ExitCode: cmd.ProcessState.ExitCode(), Output: tail(out.String())}
	if cmd.ProcessState == nil {
		o.ExitCode = -1
	}
	switch {
	case ctx.Err() == context.DeadlineExceeded:
		return o, fmt.Errorf("job %s: timed out after %s", p.Command[0], timeout)
	case err != nil && o.ExitCode > 0:
		return o, fmt.Errorf("job %s: exit status %d", p.Command[0], o.ExitCode)
	case err != nil:
		return o, fmt.Errorf("job %s: %w", p.Command[0], err)
	}
	return o, nil
}

// tail keeps the end of s, where a failing command says why.
func tail(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > MaxOutput {
		s = "..." + s[len(s)-MaxOutput:]
	}
	return s
}
