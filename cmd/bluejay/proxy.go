package main

import (
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/server"
)

func newProxy(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "proxy [-c FILE]",
		Short: "Run the proxy alone, following the routing table in the store",
		Long: `proxy runs only the data plane: it serves users on proxy.listen, routes them by
the table in the store (store.path), follows the store's changes, and serves
its control API on proxy.control. With proxy.control set, 'bluejay serve' runs
no proxy and drives this one, so restarting, upgrading or losing the controller
never touches traffic: the proxy keeps routing as the last decision said, and
the instances keep running (the next serve adopts them).
SIGINT or SIGTERM drains in-flight requests, then exits.

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
			p, err := server.NewProxy(cfg, log)
			if err != nil {
				return err
			}
			ctx, stop := signalContext(cmd)
			defer stop()
			trimStartupPages(log)
			tuneGC(log)
			return p.Run(ctx)
		},
	}
}
