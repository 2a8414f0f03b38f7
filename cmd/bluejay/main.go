// Command bluejay ships new versions of HTTP services blue-green, canary
// or rolling through its own reverse proxy, gated by health checks,
// smoke tests and analyses, and rolls back on its own. See
// `bluejay --help`.
package main

import (
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"syscall"

	"github.com/bluejay-deploy/bluejay/internal/api"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

// run runs bluejay with args and returns its exit status.
func run(args []string, stdout, stderr io.Writer) int {
	root := newRoot()
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	return report(root.Execute(), stderr)
}

// report prints err for a person and returns the exit status: 0 ok, 1
// failed, 2 a mistake in how bluejay was called (a misspelt service
// name included: the API's message suggests the right one).
func report(err error, stderr io.Writer) int {
	if err == nil {
		return 0
	}
	var ue usageError
	var fe failedError
	var ae *api.Error
	switch {
	case errors.As(err, &ue):
		fmt.Fprintln(stderr, "bluejay:", err)
		fmt.Fprintln(stderr, "Run 'bluejay --help' for usage.")
		return 2
	case errors.As(err, &fe):
		if fe.msg != "" {
			fmt.Fprintln(stderr, "bluejay:", fe.msg)
		}
		return 1
	case errors.As(err, &ae) && ae.Code == api.CodeUnknownService:
		fmt.Fprintln(stderr, "bluejay:", ae.Message)
		return 2
	case errors.As(err, &ae) && ae.Status == http.StatusUnauthorized:
		fmt.Fprintln(stderr, "bluejay: the admin API refused the token (HTTP 401): check admin.token or admin.tokenFile "+
			"in the config (or the bluejay.token file serve generated), or BLUEJAY_TOKEN")
		return 1
	case errors.As(err, &ae) && ae.Status < 500:
		fmt.Fprintln(stderr, "bluejay:", ae.Message) // the status adds nothing a person needs
		return 1
	case errors.Is(err, syscall.ECONNREFUSED):
		fmt.Fprintf(stderr, "bluejay: %v\n(is 'bluejay serve' running, with this admin address?)\n", err)
		return 1
	default:
		fmt.Fprintln(stderr, "bluejay:", err)
		return 1
	}
}

// usageError is a mistake in how bluejay was called: exit status 2.
type usageError struct{ error }

// failedError is a command that ran and failed (a rolled-back deploy, an
// invalid config): exit status 1, with msg printed if set.
type failedError struct{ msg string }

func (e failedError) Error() string { return e.msg }
