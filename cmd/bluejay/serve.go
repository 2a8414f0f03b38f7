package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

func newServe(g *globals) *cobra.Command {
	var watchConfig bool
	cmd := &cobra.Command{
		Use:   "serve [-c FILE]",
		Short: "Run the proxy, the rollout controller and the admin API",
		Long: `serve runs everything in one process: the reverse proxy on proxy.listen, the
rollout controller, and the admin API on admin.listen. On the first start each
service's configured version is deployed; on later starts routes are re-applied
from the store and rollouts resume from their persisted phase.
With proxy.control set it runs no proxy and drives a separate 'bluejay proxy';
with router.nginx, router.haproxy or router.gatewayAPI it drives that router
(an HTTPRoute for a Kubernetes Gateway); with platform.kubernetes versions run
as Deployments in the cluster of kubernetes.kubeconfig; with store.etcd
several serves elect one leader and the others stand by.
An invalid config is refused whole, with every error, and nothing starts.
SIGHUP (or 'bluejay reload') reads the config again and applies the
difference without a restart; an invalid file changes nothing.
SIGINT or SIGTERM drains the proxy, then stops the instances — unless another
proxy or controller may still route to them (separate proxy, external router,
etcd), in which case they keep serving and the next leader adopts them.
Kubernetes Deployments always keep running: they are the cluster's.

Environment:
  BLUEJAY_HTTP1=net  serve plain HTTP/1.1 on net/http instead of the fast path
  BLUEJAY_TRIM=0     keep the executable's startup pages mapped (see ARCHITECTURE.md)
  GOGC               the garbage collector's target (default here 50, not Go's 100)`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			log := slog.New(slog.NewTextHandler(os.Stderr, nil))
			srv, err := server.New(cfg, log)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			srv.SetConfigPath(g.configPath())
			reloadOnHUP(ctx, srv, log)
			trimStartupPages(log)
			tuneGC(log)
			if watchConfig {
				if err := srv.WatchConfig(ctx, 0, nil); err != nil {
					return err
				}
			}
			return srv.Run(ctx)
		},
	}
	cmd.Flags().BoolVar(&watchConfig, "watch-config", false,
		"reload the config when its file changes (debounced; follows a Kubernetes ConfigMap volume's ..data symlink swap)")
	return cmd
}

func newValidate(g *globals) *cobra.Command {
	var strict bool
	cmd := &cobra.Command{
		Use:   "validate [-c FILE]",
		Short: "Check a config file and report every error with file:line:col",
		Long: `validate checks the config (-c, default ./bluejay.yaml) and reports every error
as FILE:LINE:COL: field: message, exiting 1. Warnings (valid, but probably not
meant: an admin token shorter than 16 characters, canary weights that go down
or never reach 100) are printed too; with --strict they fail the check.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.load(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			if n := len(cfg.Warnings()); strict && n > 0 {
				return failedError{msg: fmt.Sprintf("%s has %d warning(s) and --strict refuses them", g.configPath(), n)}
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: ok (%d services)\n", g.configPath(), len(cfg.Services))
			return nil
		},
	}
	cmd.Flags().BoolVar(&strict, "strict", false, "fail on warnings too")
	return cmd
}

// load reads and validates the config named by -c; every error is
// printed to stderr and the command fails with status 1. Warnings are
// printed to stderr, each line starting "warning: ".
func (g *globals) load(stderr io.Writer) (*spec.Config, error) {
	path := g.configPath()
	if path == "" {
		return nil, usageError{fmt.Errorf("no config: pass -c FILE, or run where bluejay.yaml is")}
	}
	cfg, err := spec.Load(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil, failedError{msg: fmt.Sprintf("%s is invalid; nothing was changed", path)}
	}
	for _, w := range cfg.Warnings() {
		fmt.Fprintln(stderr, "warning:", w)
	}
	return cfg, nil
}

// signalContext is cmd's context, cancelled by SIGINT or SIGTERM.
func signalContext(cmd *cobra.Command) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(cmd.Context(), os.Interrupt, syscall.SIGTERM)
}
