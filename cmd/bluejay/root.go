package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// globals are the flags every command shares.
type globals struct {
	config string
	output string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "bluejay",
		Short: "Ship new versions of HTTP services blue-green, gated and rolled back automatically",
		Long: `bluejay deploys new versions of HTTP services through its own reverse proxy:
it starts the new version beside the old, gates it with readiness probes and
smoke tests, switches traffic atomically, watches it, and flips back on trouble.

Commands that talk to a running server find the admin API and its token in the
config file (-c), or in BLUEJAY_ADMIN and BLUEJAY_TOKEN.

Exit status: 0 ok, 1 failed (including a deploy that was rolled back), 2 usage.`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.config, "config", "c", "", "config file (default ./bluejay.yaml if present)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServe(g), newValidate(g), newDeploy(g), newStatus(g), newHistory(g), newEvents(g),
		newPromote(g), newRetry(g),
		newCommand(g, "abort", "Abort the service's rollout; traffic returns to the stable version"),
		newRollback(g), newProxy(g), newDemo(), newApp())
	return root
}

// args wraps a cobra positional-args check so its failure is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{err}
		}
		return nil
	}
}

// configPath returns -c, or ./bluejay.yaml if it exists, or "".
func (g *globals) configPath() string {
	if g.config != "" {
		return g.config
	}
	if _, err := os.Stat("bluejay.yaml"); err == nil {
		return "bluejay.yaml"
	}
	return ""
}

// client builds an admin API client from the environment or the config.
func (g *globals) client() (*api.Client, error) {
	addr, token := os.Getenv("BLUEJAY_ADMIN"), os.Getenv("BLUEJAY_TOKEN")
	if addr != "" && token != "" && g.config == "" {
		return &api.Client{Addr: addr, Token: token}, nil
	}
	path := g.configPath()
	if path == "" {
		return nil, usageError{fmt.Errorf("no admin API: pass -c FILE or set BLUEJAY_ADMIN and BLUEJAY_TOKEN")}
	}
	cfg, err := spec.Load(path)
	if err != nil {
		return nil, failedError{msg: err.Error()}
	}
	c := &api.Client{Addr: cfg.Admin.Listen, Token: cfg.Admin.Token}
	if addr != "" {
		c.Addr = addr
	}
	if token != "" {
		c.Token = token
	}
	return c, nil
}

func (g *globals) addOutput(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&g.output, "output", "o", "table", "output format: table or json")
}

func (g *globals) json() (bool, error) {
	switch g.output {
	case "table", "":
		return false, nil
	case "json":
		return true, nil
	}
	return false, usageError{fmt.Errorf("--output %q: want table or json", g.output)}
}
