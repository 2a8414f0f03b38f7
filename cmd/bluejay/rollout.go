package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
)

func newDeploy(g *globals) *cobra.Command {
	var b api.DeployBody
	var wait bool
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "deploy SERVICE VERSION",
		Short: "Start a rollout of a new version",
		Long: `deploy starts a rollout of VERSION of SERVICE under the service's strategy.
With --wait it follows the rollout and exits 0 if it completed, 1 if it was
rolled back, failed or was aborted — what a CI pipeline needs.`,
		Example: `  bluejay deploy web v2 --wait
  bluejay deploy api 1.4.0 --target 10.0.0.5:8080 --target 10.0.0.6:8080
  bluejay deploy web v3 --arg=--fail-health`,
		Args:              args(cobra.ExactArgs(2)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			b.Version = a[1]
			r, err := c.Deploy(ctx, a[0], b)
			var ae *api.Error
			if errors.As(err, &ae) && ae.Code == api.CodeBadRequest {
				// The arguments were refused (version, --strategy, --target).
				return usageError{errors.New(ae.Message)}
			}
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "rollout #%d: %s %s → %s (%s)\n", r.ID, r.Service, orNone(r.From.Label), r.To.Label, r.Strategy)
			if !wait {
				return nil
			}
			if timeout > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, timeout)
				defer cancel()
			}
			return follow(ctx, c, r, out, timeout)
		},
	}
	cmd.Flags().StringVar(&b.Strategy, "strategy", "", "strategy (default: the service's)")
	cmd.Flags().StringArrayVar(&b.Targets, "target", nil, "an instance address of the new version (static platform; repeatable)")
	cmd.Flags().StringArrayVar(&b.Args, "arg", nil, "an argument appended to the process command for this version (repeatable)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the rollout; exit 0 if it completed, 1 otherwise")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --wait, give up after this long (default: no limit)")
	return cmd
}

// follow prints each phase the rollout enters until it ends and, while
// the new version's instances start, their readiness as it changes (and
// every progressEvery). timeout is --timeout, for the message when ctx
// ends first; 0 means none was given.
func follow(ctx context.Context, c *api.Client, r engine.Rollout, out io.Writer, timeout time.Duration) error {
	seen := engine.Phase("")
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	var progress string
	var progressAt time.Time
	for {
		if r.Phase != seen {
			fmt.Fprintf(out, "%s  %-10s %s\n", time.Now().Format("15:04:05"), r.Phase, r.Reason)
			seen, progress = r.Phase, ""
		}
		if r.Phase.Terminal() {
			return outcome(r)
		}
		if r.Phase == engine.PhaseDeploying {
			if st, err := c.Service(ctx, r.Service); err == nil && st.Rollout.ID == r.ID {
				if p := deployProgress(st); p != progress || time.Since(progressAt) >= progressEvery {
					fmt.Fprintf(out, "%s  %-10s %s\n", time.Now().Format("15:04:05"), "", p)
					progress, progressAt = p, time.Now()
				}
			}
		}
		select {
		case <-ctx.Done():
			return gaveUp(ctx, r, timeout)
		case <-t.C:
		}
		next, err := c.Rollout(ctx, r.ID)
		if err != nil {
			if ctx.Err() != nil {
				return gaveUp(ctx, r, timeout)
			}
			return err
		}
		r = next
	}
}

// progressEvery is how often follow repeats an unchanged readiness line.
const progressEvery = 15 * time.Second

// deployProgress sums up the new version's instances: "v3: 0/2 ready;
// last probe error: ...".
func deployProgress(st controller.ServiceStatus) string {
	v := st.Rollout.To.Label
	last := ""
	for _, in := range st.Instances {
		if in.Version == v {
			last = cmp.Or(in.LastError, last)
		}
	}
	p := fmt.Sprintf("instances of %s: %s", v, readiness(st, v))
	if last != "" {
		p += "; last probe error: " + last
	}
	return p
}

// gaveUp is the error of a --wait that ended before the rollout: the
// rollout goes on, and the message says so.
func gaveUp(ctx context.Context, r engine.Rollout, timeout time.Duration) error {
	why := "stopped waiting (interrupted)"
	if errors.Is(ctx.Err(), context.DeadlineExceeded) && timeout > 0 {
		why = fmt.Sprintf("gave up waiting after %s", timeout)
	}
	return failedError{msg: fmt.Sprintf("%s; rollout #%d is still %s (not aborted): 'bluejay status %s -w' follows it, "+
		"'bluejay abort %s' stops it", why, r.ID, r.Phase, r.Service, r.Service)}
}

func outcome(r engine.Rollout) error {
	if r.Phase.Succeeded() {
		return nil
	}
	return failedError{msg: fmt.Sprintf("rollout #%d ended %s: %s", r.ID, r.Phase, r.Reason)}
}

func newCommand(g *globals, name, short string) *cobra.Command {
	return &cobra.Command{
		Use:               name + " SERVICE",
		Short:             short,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			r, err := c.Command(cmd.Context(), a[0], engine.Command(name))
			if err != nil {
				if note := alreadyDone(cmd.Context(), c, a[0], engine.Command(name), err); note != "" {
					fmt.Fprintln(cmd.OutOrStdout(), note)
					return nil
				}
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout #%d: %s: %s\n", r.ID, r.Phase, r.Reason)
			return nil
		},
	}
}

// alreadyDone is the note for a pause, resume or abort refused because
// it is already done — a pause of a paused rollout, a resume of one that
// is not paused, an abort of one that ended without completing — which
// is a no-op (exit 0), as in Argo Rollouts; "" for any other error.
func alreadyDone(ctx context.Context, c *api.Client, service string, command engine.Command, err error) string {
	var ae *api.Error
	if !errors.As(err, &ae) || ae.Code != api.CodeConflict {
		return ""
	}
	st, serr := c.Service(ctx, service)
	if serr != nil {
		return ""
	}
	r := st.Rollout
	done := false
	switch command {
	case engine.CmdPause:
		done = r.Phase == engine.PhasePaused
	case engine.CmdResume:
		done = r.Phase != engine.PhasePaused
	case engine.CmdAbort:
		done = r.Phase.Terminal() && !r.Phase.Succeeded()
	}
	if !done {
		return ""
	}
	return fmt.Sprintf("rollout #%d is already %s; nothing to %s (%s)", r.ID, r.Phase, command, r.Reason)
}

func newPromote(g *globals) *cobra.Command {
	var full bool
	cmd := &cobra.Command{
		Use:               "promote SERVICE",
		Short:             "Move the service's rollout past its current gate (a pause, an analysis, a preview, the watch)",
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			r, err := c.Promote(cmd.Context(), a[0], full)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout #%d: %s: %s\n", r.ID, r.Phase, r.Reason)
			return nil
		},
	}
	cmd.Flags().BoolVar(&full, "full", false, "skip a canary's remaining steps and analyses: all traffic to the new version")
	return cmd
}

func newRetry(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "retry SERVICE",
		Short:             "Start the service's last rolled-back, failed or aborted rollout again",
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			r, err := c.Retry(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout #%d: %s %s → %s (%s)\n", r.ID, r.Service, orNone(r.From.Label), r.To.Label, r.Strategy)
			return nil
		},
	}
}

func newPause(g *globals) *cobra.Command {
	cmd := newCommand(g, string(engine.CmdPause), "Hold the service's rollout where it stands until resume")
	cmd.Long = `pause holds SERVICE's active rollout where it stands: the traffic split stays
as it is, no step, batch or switch happens, and the rollout waits in Paused
(the analyses keep measuring; automatic rollback on failure still applies).
'bluejay resume' carries on from there; promote and abort work as ever.`
	return cmd
}

func newResume(g *globals) *cobra.Command {
	cmd := newCommand(g, string(engine.CmdResume), "Continue the service's paused rollout from where it stood")
	cmd.Long = `resume continues SERVICE's Paused rollout from where it stood, without skipping
anything (promote skips the current gate).`
	return cmd
}

func newContract(g *globals) *cobra.Command {
	cmd := newCommand(g, string(engine.CmdContract), "Run the new version's contract migration once no rollback needs the old schema")
	cmd.Long = `contract runs the contract migration of SERVICE's latest rollout (migrations:
versions.VERSION.contract): what only the old version needed is removed. It is
refused while any rollback is still a traffic flip — until the rollout
completed and the old version was stopped after its scale-down delay — since
contracting then would break the version a rollback returns to. With
migrations.autoContract it runs by itself at that moment. The outcome is in
'bluejay events SERVICE'.`
	return cmd
}

func newRollback(g *globals) *cobra.Command {
	var to string
	var wait bool
	cmd := &cobra.Command{
		Use:   "rollback SERVICE [--to VERSION]",
		Short: "Return the service to its previous version, or to a version it ran before",
		Long: `rollback returns SERVICE to its previous version. During a rollout, or after one
completed while the old version is still warm (scaleDownDelay), it is an
instant traffic flip. After that, it deploys the previous version again
through the same gates, as a new rollout.

With --to VERSION it returns to any version the service ran as its stable
version (see 'bluejay history'): deployed again as it ran then (its args or
targets), through the gates, as a new rollout whose reason says it is a
rollback. A version the service never ran is refused.`,
		Example: `  bluejay rollback web
  bluejay rollback web --to v1 --wait`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			r, err := c.Rollback(ctx, a[0], to)
			if err != nil {
				return rollbackHint(ctx, c, a[0], to, err)
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "rollout #%d: %s: %s\n", r.ID, r.Phase, r.Reason)
			if !wait || r.Phase == engine.PhaseRolledBack {
				return nil // a flip is done when it is answered
			}
			return follow(ctx, c, r, out, 0)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the version to return to: one the service ran before (default: the previous one)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow a redeploy until it ends; exit 0 if it completed (a flip is done at once)")
	_ = cmd.RegisterFlagCompletionFunc("to", g.completeVersion)
	return cmd
}

// rollbackHint adds to a refused rollback of an ended rollout (one that
// failed, was rolled back or aborted: the service is already on its
// stable version) how to return to the version before that.
func rollbackHint(ctx context.Context, c *api.Client, service, to string, err error) error {
	var ae *api.Error
	if to != "" || !errors.As(err, &ae) || ae.Code != api.CodeConflict {
		return err
	}
	st, serr := c.Service(ctx, service)
	if serr != nil || !st.Rollout.Phase.Terminal() || st.Rollout.Phase.Succeeded() {
		return err
	}
	hint := fmt.Sprintf("'bluejay history %s' lists the versions it ran, and 'bluejay rollback %s --to VERSION' returns to one", service, service)
	if rs, herr := c.Rollouts(ctx, service, 0); herr == nil {
		for _, r := range rs {
			if r.Phase.Succeeded() && r.To.Label == st.Stable && r.From.Label != "" {
				hint = fmt.Sprintf("to return to the version before %s, run: bluejay rollback %s --to %s", st.Stable, service, r.From.Label)
				break
			}
		}
	}
	return failedError{msg: fmt.Sprintf("%s\n%s is already on its stable version %s (rollout #%d %s); %s",
		ae.Message, service, st.Stable, st.Rollout.ID, st.Rollout.Phase, hint)}
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
