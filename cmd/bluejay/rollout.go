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
		Args: args(cobra.ExactArgs(2)),
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
		Use:   name + " SERVICE",
		Short: short,
		Args:  args(cobra.ExactArgs(1)),
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
		Use:   "promote SERVICE",
		Short: "Move the service's rollout past its current gate (a pause, an analysis, a preview, the watch)",
		Args:  args(cobra.ExactArgs(1)),
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
		Use:   "retry SERVICE",
		Short: "Start the service's last rolled-back, failed or aborted rollout again",
		Args:  args(cobra.ExactArgs(1)),
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

func newRollback(g *globals) *cobra.Command {
	cmd := newCommand(g, "rollback", "Return the service to its previous version")
	cmd.Long = `rollback returns SERVICE to its previous version. During a rollout, or after one
completed while the old version is still warm (scaleDownDelay), it is an
instant traffic flip. After that, it deploys the previous version again
through the same gates.`
	return cmd
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
