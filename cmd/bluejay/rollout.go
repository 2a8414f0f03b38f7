package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/api"
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
			return follow(ctx, c, r, out)
		},
	}
	cmd.Flags().StringVar(&b.Strategy, "strategy", "", "strategy (default: the service's)")
	cmd.Flags().StringArrayVar(&b.Targets, "target", nil, "an instance address of the new version (static platform; repeatable)")
	cmd.Flags().StringArrayVar(&b.Args, "arg", nil, "an argument appended to the process command for this version (repeatable)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow the rollout; exit 0 if it completed, 1 otherwise")
	cmd.Flags().DurationVar(&timeout, "timeout", 0, "with --wait, give up after this long (default: no limit)")
	return cmd
}

// follow prints each phase the rollout enters until it ends.
func follow(ctx context.Context, c *api.Client, r engine.Rollout, out io.Writer) error {
	seen := engine.Phase("")
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if r.Phase != seen {
			fmt.Fprintf(out, "%s  %-10s %s\n", time.Now().Format("15:04:05"), r.Phase, r.Reason)
			seen = r.Phase
		}
		if r.Phase.Terminal() {
			return outcome(r)
		}
		select {
		case <-ctx.Done():
			return failedError{msg: fmt.Sprintf("stopped waiting for rollout #%d (%s): %v", r.ID, r.Phase, ctx.Err())}
		case <-t.C:
		}
		next, err := c.Rollout(ctx, r.ID)
		if err != nil {
			return err
		}
		r = next
	}
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
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "rollout #%d: %s: %s\n", r.ID, r.Phase, r.Reason)
			return nil
		},
	}
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
				return err
			}
			out := cmd.OutOrStdout()
			fmt.Fprintf(out, "rollout #%d: %s: %s\n", r.ID, r.Phase, r.Reason)
			if !wait || r.Phase == engine.PhaseRolledBack {
				return nil // a flip is done when it is answered
			}
			return follow(ctx, c, r, out)
		},
	}
	cmd.Flags().StringVar(&to, "to", "", "the version to return to: one the service ran before (default: the previous one)")
	cmd.Flags().BoolVar(&wait, "wait", false, "follow a redeploy until it ends; exit 0 if it completed (a flip is done at once)")
	_ = cmd.RegisterFlagCompletionFunc("to", g.completeVersion)
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
