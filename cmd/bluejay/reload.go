package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/server"
)

func newReload(g *globals) *cobra.Command {
	return &cobra.Command{
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
			return g.reload(cmd, false)
		},
	}
}

func newDiff(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "diff -c FILE",
		Short: "Print what a reload of the config file would change, without applying it",
		Args:  args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			return g.reload(cmd, true)
		},
	}
}

func (g *globals) reload(cmd *cobra.Command, dryRun bool) error {
	c, err := g.client()
	if err != nil {
		return err
	}
	ctx, stop := signalContext(cmd)
	defer stop()
	res, err := c.Reload(ctx, api.ReloadRequest{DryRun: dryRun})
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
	case !dryRun:
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
