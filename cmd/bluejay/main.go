// Command bluejay ships new versions of HTTP services blue-green through
// its own reverse proxy, gated by health checks and smoke tests, and
// rolls back on its own. See `bluejay --help`.
package main

import (
	"errors"
	"fmt"
	"os"
)

func main() {
	err := newRoot().Execute()
	if err == nil {
		return
	}
	var ue usageError
	var fe failedError
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(os.Stderr, "bluejay:", err)
		fmt.Fprintln(os.Stderr, "Run 'bluejay --help' for usage.")
		os.Exit(2)
	case errors.As(err, &fe):
		if fe.msg != "" {
			fmt.Fprintln(os.Stderr, "bluejay:", fe.msg)
		}
		os.Exit(1)
	default:
		fmt.Fprintln(os.Stderr, "bluejay:", err)
		os.Exit(1)
	}
}

// usageError is a mistake in how bluejay was called: exit status 2.
type usageError struct{ error }

// failedError is a command that ran and failed (a rolled-back deploy, an
// invalid config): exit status 1, with msg printed if set.
type failedError struct{ msg string }

func (e failedError) Error() string { return e.msg }
