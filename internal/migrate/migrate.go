// Package migrate runs a service's schema migrations (spec.Migrations)
// against PostgreSQL: a SQL file in one transaction, or any migration
// tool as a command with the database URL in its environment. Expand
// steps go through the destructive-change guard (migrate/guard) first:
// one that would break the old version is refused unless the step says
// allowDestructive, and then what it allowed is said in the result,
// which the controller records in the decision log.
//
// The database URL never appears in a result, a log or the store: it is
// read when a step runs, given to the command in DATABASE_URL, and cut
// from any output quoted in a reason.
package migrate

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/bluejay-deploy/bluejay/internal/migrate/guard"
	"github.com/bluejay-deploy/bluejay/internal/redact"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// Kind says which migration a step is, for the guard.
type Kind string

// Kinds of steps.
const (
	Expand   Kind = "expand"
	Contract Kind = "contract"
)

// Result is a step's outcome, with a reason fit for the decision log.
type Result struct {
	Passed bool
	Reason string
}

// Runner runs migration steps. The zero value works.
type Runner struct {
	// Dir is a command's working directory. Default "": bluejay's.
	Dir string
}

// Run runs step, an expand or a contract, against db.
func (r *Runner) Run(ctx context.Context, kind Kind, step spec.MigrationStep, db spec.Database) Result {
	url, err := db.URL()
	if err != nil {
		return Result{Reason: err.Error()}
	}
	timeout := step.Timeout.D()
	if timeout <= 0 {
		timeout = 5 * time.Minute
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var res Result
	if step.SQL != "" {
		res = r.runSQL(ctx, kind, step, url)
	} else {
		res = r.runCommand(ctx, step, url)
	}
	if ctx.Err() == context.DeadlineExceeded {
		res = Result{Reason: fmt.Sprintf("timed out after %s", timeout)}
	}
	res.Reason = strings.ReplaceAll(res.Reason, url, "(database URL)")
	return res
}

// runSQL checks an expand file with the guard, then runs the file in one
// transaction: all of it or nothing.
func (r *Runner) runSQL(ctx context.Context, kind Kind, step spec.MigrationStep, url string) Result {
	b, err := os.ReadFile(step.SQL)
	if err != nil {
		return Result{Reason: err.Error()}
	}
	var allowed []string
	if kind == Expand {
		for _, f := range guard.Check(string(b)) {
			line := fmt.Sprintf("%s:%d: %s", step.SQL, f.Line, f.String())
			if !step.AllowDestructive {
				return Result{Reason: line + " — refused: an expand must leave the schema usable by the old version " +
					"(move it to contract, or set allowDestructive: true); nothing was run"}
			}
			allowed = append(allowed, line)
		}
	}
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		return Result{Reason: "connecting to the database: " + redact.Err(err).Error()}
	}
	defer conn.Close(context.Background())
	tx, err := conn.Begin(ctx)
	if err != nil {
		return Result{Reason: "beginning a transaction: " + err.Error()}
	}
	defer tx.Rollback(context.Background()) // after Commit, a no-op
	// No arguments: pgx sends the whole file with the simple protocol, so
	// it may hold many statements (and functions with $$ bodies).
	if _, err := tx.Exec(ctx, string(b)); err != nil {
		return Result{Reason: fmt.Sprintf("%s: %v; rolled back, nothing changed", step.SQL, err)}
	}
	if err := tx.Commit(ctx); err != nil {
		return Result{Reason: fmt.Sprintf("%s: committing: %v", step.SQL, err)}
	}
	reason := fmt.Sprintf("%s applied in one transaction", step.SQL)
	if len(allowed) > 0 {
		reason += "; destructive statements allowed by allowDestructive: " + strings.Join(allowed, "; ")
	}
	return Result{Passed: true, Reason: reason}
}

// outputTail is how much of a command's output a reason quotes.
const outputTail = 400

// runCommand runs a migration tool with DATABASE_URL set.
func (r *Runner) runCommand(ctx context.Context, step spec.MigrationStep, url string) Result {
	cmd := exec.CommandContext(ctx, step.Command[0], step.Command[1:]...)
	cmd.Dir = r.Dir
	cmd.Env = append(os.Environ(), "DATABASE_URL="+url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	tail := strings.TrimSpace(out.String())
	if len(tail) > outputTail {
		tail = "…" + tail[len(tail)-outputTail:]
	}
	what := "command " + step.Command[0]
	if err != nil {
		if tail != "" {
			return Result{Reason: fmt.Sprintf("%s: %v: %s", what, err, tail)}
		}
		return Result{Reason: fmt.Sprintf("%s: %v", what, err)}
	}
	return Result{Passed: true, Reason: what + " exited 0"}
}
