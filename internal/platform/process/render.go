package process

import (
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"

	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// templateData is what the command and env templates see.
type templateData struct {
	// Port is the instance's loopback port.
	Port int
	// Version is the build the instance runs (the version label, or a
	// dedicated baseline's stable version).
	Version string
	// Service is the service name.
	Service string
	// Instance is the replica index, from 0.
	Instance int
}

var errNoCommand = errors.New("no command configured")

// render executes the command and env templates. It returns the argv and
// the KEY=VALUE pairs, sorted by key.
func render(cfg Config, d templateData) (argv, env []string, err error) {
	if len(cfg.Command) == 0 {
		return nil, nil, errNoCommand
	}
	for i, s := range cfg.Command {
		out, err := spec.Render(s, d)
		if err != nil {
			return nil, nil, fmt.Errorf("command[%d] %q: %w", i, s, err)
		}
		argv = append(argv, out)
	}
	for _, k := range slices.Sorted(maps.Keys(cfg.Env)) {
		out, err := spec.Render(cfg.Env[k], d)
		if err != nil {
			return nil, nil, fmt.Errorf("env %s %q: %w", k, cfg.Env[k], err)
		}
		env = append(env, k+"="+out)
	}
	return argv, env, nil
}

// maxLogTail bounds how much of an instance's log is read for its exit
// reason, and maxLastLine how much of the last line is kept.
const (
	maxLogTail  = 4096
	maxLastLine = 300
)

// exitReason describes a process exit: "exit status 1", "signal: killed",
// followed by the last line the process wrote to its log, if any.
func exitReason(waitErr error, logPath string, logStart int64) string {
	reason := "exit status 0"
	if waitErr != nil {
		reason = waitErr.Error()
	}
	if line := lastLine(logPath, logStart); line != "" {
		reason += ": " + line
	}
	return reason
}

// lastLine returns the last non-empty line written to the file after
// offset from, or "" if there is none or the file cannot be read.
func lastLine(path string, from int64) string {
	if path == "" {
		return ""
	}
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return ""
	}
	start := max(from, st.Size()-maxLogTail)
	buf, err := io.ReadAll(io.NewSectionReader(f, start, st.Size()-start))
	if err != nil {
		return ""
	}
	text := strings.TrimRight(string(buf), " \t\r\n")
	line := text[strings.LastIndexByte(text, '\n')+1:]
	if len(line) > maxLastLine {
		line = strings.ToValidUTF8(line[:maxLastLine], "") + "…"
	}
	return line
}
