package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
)

// globals are the flags every command shares.
type globals struct {
	config string
	output string
	caFile string
}

func newRoot() *cobra.Command {
	g := &globals{}
	root := &cobra.Command{
		Use:   "bluejay",
		Short: "Ship new versions of HTTP services blue-green, canary or rolling, gated and rolled back automatically",
		Long: `bluejay deploys new versions of HTTP services through its own reverse proxy:
it starts the new version beside the old, gates it with readiness probes and
smoke tests, switches traffic atomically, watches it, and flips back on trouble.

Commands that talk to a running server find the admin API and its token in the
config file (-c; with no token configured, the bluejay.token file that serve
generates next to it), or in BLUEJAY_ADMIN and BLUEJAY_TOKEN. An https://
admin address is verified against the system's roots plus --ca-file
(BLUEJAY_CA_FILE, admin.caFile, or admin.tls.cert).

Read commands (status, history, events, routes) print a table, or -o json|yaml.
Shell completion, service names included: see 'bluejay completion --help'.

Exit status: 0 ok, 1 failed (including a deploy that was rolled back), 2 usage
(including an unknown service name).`,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.PersistentFlags().StringVarP(&g.config, "config", "c", "", "config file (default ./bluejay.yaml if present)")
	root.PersistentFlags().StringVar(&g.caFile, "ca-file", "", "PEM certificates to trust for an https:// admin API (default $BLUEJAY_CA_FILE, admin.caFile or admin.tls.cert)")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	root.AddCommand(newServe(g), newValidate(g), newDeploy(g), newStatus(g), newHistory(g), newEvents(g),
		newRoutes(g), newPromote(g), newRetry(g), newPause(g), newResume(g), newContract(g),
		newCommand(g, "abort", "Abort the service's rollout; traffic returns to the stable version"),
		newRollback(g), newReload(g), newDiff(g), newMaintenance(g), newPauseTraffic(g), newResumeTraffic(g), newProxy(g), newLogs(g), newDemo(), newApp())
	return root
}

// args wraps a cobra positional-args check so its failure is a usage error.
func args(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, a []string) error {
		if err := check(cmd, a); err != nil {
			return usageError{fmt.Errorf("%s: %w (usage: %s)", cmd.Name(), err, cmd.UseLine())}
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
