package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/server"
)

func newReload(g *globals) *cobra.Command {
	var restartActive bool
	cmd := &cobra.Command{
		Use:   "reload -c FILE",
		Short: "Make serve read its config file again and apply the difference",
		Long: `reload asks serve (POST /v1/reload) to read and validate its whole config file
again, as kill -HUP does. If the file is invalid, or changes what cannot change
live (listeners, the store, the router, a service's platform kind), nothing
changes, serve keeps serving, and every error is printed. Otherwise the
difference applies at once: services added are deployed, removed ones drained
and stopped, changed settings take effect for the next decision or request
(an active rollout keeps the plan it started with), and a changed version
starts a rollout to it.`,
		Example: `  bluejay reload -c bluejay.yaml
  bluejay status -c bluejay.yaml -w`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.reload(cmd, api.ReloadRequest{RestartActive: restartActive})
		},
	}
	cmd.Flags().BoolVar(&restartActive, "restart-active", false,
		"restart the active rollouts of changed services under the new config (abort, then the same version again)")
	return cmd
}

func newDiff(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "diff -c FILE",
		Short: "Print what a reload of the config file would change, without applying it",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.reload(cmd, api.ReloadRequest{DryRun: true})
		},
	}
}

func (g *globals) reload(cmd *cobra.Command, req api.ReloadRequest) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	res, err := c.Reload(ctx, req)
	if err != nil {
		return err
	}
	out := cmd.OutOrStdout()
	fmt.Fprintln(out, res.Diff.String())
	for _, r := range res.Rollouts {
		fmt.Fprintln(out, r)
	}
	switch {
	case res.Applied:
		fmt.Fprintf(out, "%s: reloaded\n", res.File)
	case !req.DryRun:
		fmt.Fprintf(out, "%s: nothing to reload\n", res.File)
	}
	return nil
}

// reloadOnHUP reloads srv's config on each SIGHUP until ctx ends. A
// refused reload is logged (by Reload); serve keeps serving.
func reloadOnHUP(ctx context.Context, srv *server.Server, log *slog.Logger) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	go func() {
		defer signal.Stop(hup)
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				log.Info("SIGHUP: reloading the config")
				_, _ = srv.Reload(ctx, api.ReloadRequest{})
			}
		}
	}()
}

// printDrift says where the running state differs from the config:
// a service whose stable version is not the one the loaded config names,
// and a config file changed on disk since serve loaded it.
func printDrift(ctx context.Context, c *api.Client, out io.Writer, sts []controller.ServiceStatus) {
	for _, s := range sts {
		if s.KeptPlan != "" {
			fmt.Fprintf(out, "%s: %s\n", s.Service, s.KeptPlan)
		}
		if s.Desired == "" || s.Desired == s.Stable {
			continue
		}
		r := s.Rollout
		state := fmt.Sprintf("rollout #%d %s", r.ID, r.Phase)
		if !r.Phase.Active() || r.To.Label != s.Desired {
			state += fmt.Sprintf(" (to %s; the config's version rolls out when a reload changes it)", r.To.Label)
		}
		fmt.Fprintf(out, "%s: desired %s, stable %s, %s\n", s.Service, s.Desired, orNone(s.Stable), state)
	}
	st, err := c.Config(ctx)
	if err == nil && st.Stale {
		fmt.Fprintf(out, "warning: %s changed on disk at %s, after serve loaded it at %s; see 'bluejay diff', apply with 'bluejay reload'\n",
			st.File, st.Modified.Format(time.RFC3339), st.LoadedAt.Format(time.RFC3339))
	}
}
