package main

import (
	"context"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
	"github.com/bluejay-deploy/bluejay/internal/engine"
	"github.com/bluejay-deploy/bluejay/internal/metrics"
)

func newStatus(g *globals) *cobra.Command {
	var follow bool
	cmd := &cobra.Command{
		Use:   "status [SERVICE]",
		Short: "Show services: stable version, rollout phase, live weights, analyses, blast radius",
		Long: `status lists every service, or shows one service's rollout in full: phase and
reason, a weight bar per version, the canary's steps, the analyses under way
with the canary's numbers against the baseline's, the blast radius so far, and
the instances.

With -w it follows SERVICE's rollout until it ends: on a terminal the picture
is redrawn in place; otherwise (a pipe, a CI log) a line is printed each time
the phase, step, weights, a verdict or readiness changes. It exits 0 if the
rollout completed, 1 if it ended otherwise (or was interrupted); a rollout that
has already ended is shown once, with the same exit status.`,
		Example: `  bluejay status
  bluejay status web -w
  bluejay status web -o yaml`,
		Args:              args(cobra.MaximumNArgs(1)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			format, err := g.format()
			if err != nil {
				return err
			}
			if follow && (len(a) == 0 || format != outTable) {
				return usageError{fmt.Errorf("status -w follows one service's rollout as a table: pass SERVICE, without -o")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			out := cmd.OutOrStdout()
			if follow {
				ctx, stop := signalContext(cmd)
				defer stop()
				return watch(ctx, c, a[0], out, isTerminal(os.Stdout) && out == io.Writer(os.Stdout))
			}
			var sts []controller.ServiceStatus
			if len(a) == 1 {
				st, err := c.Service(cmd.Context(), a[0])
				if err != nil {
					return err
				}
				sts = append(sts, st)
			} else if sts, err = c.Services(cmd.Context()); err != nil {
				return err
			}
			switch {
			case format != outTable && len(a) == 1:
				return writeData(out, format, sts[0]) // one object for one service
			case format != outTable:
				return writeData(out, format, sts)
			case len(a) == 1:
				renderFrame(out, sts[0], time.Now(), false)
				fmt.Fprintln(out)
				printInstances(out, sts[0])
			default:
				printStatus(out, sts)
			}
			printDrift(cmd.Context(), c, out, sts)
			return nil
		},
	}
	cmd.Flags().BoolVarP(&follow, "watch", "w", false, "follow SERVICE's rollout until it ends, redrawn in place on a terminal")
	g.addOutput(cmd)
	return cmd
}

func printStatus(out io.Writer, sts []controller.ServiceStatus) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTABLE\tROLLOUT\tPHASE\tWEIGHTS\tBLAST RADIUS\tREASON")
	for _, s := range sts {
		r := s.Rollout
		fmt.Fprintf(tw, "%s\t%s\t#%d %s→%s %s\t%s\t%s\t%s\t%s\n", s.Service, orNone(s.Stable), r.ID,
			orNone(r.From.Label), r.To.Label, r.Strategy, phase(r), strings.ReplaceAll(weightText(s), " ", ","), exposure(s.Exposure), r.Reason)
	}
	tw.Flush()
	printEdge(out, sts)
}

func printInstances(out io.Writer, s controller.ServiceStatus) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "INSTANCE\tVERSION\tADDR\tSTATE\tREADY\tDETAIL")
	for _, in := range s.Instances {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", in.ID, in.Version, in.Addr, in.State, in.Ready, firstNonEmpty(in.LastError, in.LastExit))
	}
	tw.Flush()
}

// phase shows a canary's step beside its phase: "Progressing 3/11".
func phase(r engine.Rollout) string {
	inSteps := r.Phase == engine.PhaseProgressing || r.Phase == engine.PhasePaused
	if n := len(r.Params.Steps); r.Strategy == engine.StrategyCanary && n > 0 && inSteps {
		return fmt.Sprintf("%s %d/%d", r.Phase, min(r.Step+1, n), n)
	}
	return string(r.Phase)
}

func newHistory(g *globals) *cobra.Command {
	return listCommand(g, "history SERVICE", "List a service's rollouts with outcome, duration, exposure and reason",
		"rollouts", 20, (*api.Client).Rollouts, printHistory)
}

// listCommand builds a command that lists a service's records, newest N,
// as a table, JSON or YAML.
func listCommand[T any](g *globals, use, short, what string, limit int,
	fetch func(*api.Client, context.Context, string, int) ([]T, error), print func(io.Writer, []T)) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:               use,
		Short:             short,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			format, err := g.format()
			if err != nil {
				return err
			}
			if n < 0 {
				return usageError{fmt.Errorf("--limit %d: want a number >= 0 (0: all)", n)}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			items, err := fetch(c, cmd.Context(), a[0], n)
			if err != nil {
				return err
			}
			if format != outTable {
				return writeData(cmd.OutOrStdout(), format, items)
			}
			print(cmd.OutOrStdout(), items)
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "limit", "n", limit, fmt.Sprintf("show the newest N %s (0: all)", what))
	g.addOutput(cmd)
	return cmd
}

func printHistory(out io.Writer, rs []engine.Rollout) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tFROM\tTO\tSTRATEGY\tPHASE\tSTARTED\tDURATION\tEXPOSED\tREASON")
	for _, r := range rs {
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, orNone(r.From.Label), r.To.Label, r.Strategy, r.Phase,
			r.Started.Local().Format("2006-01-02 15:04:05"), duration(r), exposure(r.Exposure), r.Reason)
	}
	tw.Flush()
}

// exposure is the blast radius: "44 req/12 users, 6 failed/3 users".
func exposure(e metrics.Counts) string {
	return fmt.Sprintf("%d req/%d users, %d failed/%d users", e.Requests, e.Users, e.Errors, e.FailedUsers)
}

func duration(r engine.Rollout) string {
	if r.Ended.IsZero() {
		return "running"
	}
	return r.Ended.Sub(r.Started).Round(100 * time.Millisecond).String()
}

func newEvents(g *globals) *cobra.Command {
	var numbers bool
	cmd := listCommand(g, "events SERVICE", "Show a service's decision log: every transition with its reason and numbers",
		"events", 50, (*api.Client).Events, func(out io.Writer, evs []engine.Event) {
			if numbers {
				printEventNumbers(out, evs)
				return
			}
			printEvents(out, evs)
		})
	cmd.Flags().BoolVar(&numbers, "numbers", false, "show each event's numbers (canary vs baseline values, samples, thresholds, blast radius) under it")
	return cmd
}

// printEventNumbers prints each event as a block: its line, its reason,
// and every number behind it, sorted by name.
func printEventNumbers(out io.Writer, evs []engine.Event) {
	for i, e := range evs {
		if i > 0 {
			fmt.Fprintln(out)
		}
		fmt.Fprintf(out, "%s  #%d  %s  %s\n", e.Time.Local().Format("15:04:05.000"), e.RolloutID, eventPhase(e), eventExposure(e))
		fmt.Fprintf(out, "  reason:  %s\n", e.Reason)
		for _, k := range slices.Sorted(maps.Keys(e.Numbers)) {
			fmt.Fprintf(out, "  %s = %s\n", k, strconv.FormatFloat(e.Numbers[k], 'g', 6, 64))
		}
	}
}

// eventPhase is "From→Phase" for a transition, the phase otherwise.
func eventPhase(e engine.Event) string {
	if e.From != "" && e.From != e.Phase {
		return fmt.Sprintf("%s→%s", e.From, e.Phase)
	}
	return string(e.Phase)
}

func printEvents(out io.Writer, evs []engine.Event) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tROLLOUT\tPHASE\tBLAST RADIUS\tREASON")
	for _, e := range evs {
		fmt.Fprintf(tw, "%s\t#%d\t%s\t%s\t%s\n", e.Time.Local().Format("15:04:05.000"), e.RolloutID, eventPhase(e), eventExposure(e), e.Reason)
	}
	tw.Flush()
}

// eventExposure is the blast radius an event recorded, "-" if none (an
// action's note).
func eventExposure(e engine.Event) string {
	n := e.Numbers
	if _, ok := n["exposedRequests"]; !ok {
		return "-"
	}
	return exposure(metrics.Counts{Requests: int64(n["exposedRequests"]), Errors: int64(n["exposedErrors"]),
		Users: int64(n["exposedUsers"]), FailedUsers: int64(n["failedUsers"])})
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
