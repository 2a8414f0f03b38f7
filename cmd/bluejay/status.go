package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"slices"
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
	cmd := &cobra.Command{
		Use:   "status [SERVICE]",
		Short: "Show services: stable version, rollout phase, live weights, instances",
		Args:  args(cobra.MaximumNArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			asJSON, err := g.json()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
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
			out := cmd.OutOrStdout()
			if asJSON {
				return writeJSON(out, sts)
			}
			printStatus(out, sts, len(a) == 1)
			return nil
		},
	}
	g.addOutput(cmd)
	return cmd
}

func printStatus(out io.Writer, sts []controller.ServiceStatus, detail bool) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tSTABLE\tROLLOUT\tPHASE\tWEIGHTS\tBLAST RADIUS\tREASON")
	for _, s := range sts {
		r := s.Rollout
		fmt.Fprintf(tw, "%s\t%s\t#%d %s→%s %s\t%s\t%s\t%s\t%s\n", s.Service, orNone(s.Stable), r.ID,
			orNone(r.From.Label), r.To.Label, r.Strategy, phase(r), weights(s.Weights), exposure(r.Exposure), r.Reason)
	}
	tw.Flush()
	if !detail {
		return
	}
	for _, s := range sts {
		fmt.Fprintln(out)
		tw = tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "INSTANCE\tVERSION\tADDR\tSTATE\tREADY\tDETAIL")
		for _, in := range s.Instances {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%v\t%s\n", in.ID, in.Version, in.Addr, in.State, in.Ready, firstNonEmpty(in.LastError, in.LastExit))
		}
		tw.Flush()
	}
}

// phase shows a canary's step beside its phase: "Progressing 3/11".
func phase(r engine.Rollout) string {
	inSteps := r.Phase == engine.PhaseProgressing || r.Phase == engine.PhasePaused
	if n := len(r.Params.Steps); r.Strategy == engine.StrategyCanary && n > 0 && inSteps {
		return fmt.Sprintf("%s %d/%d", r.Phase, min(r.Step+1, n), n)
	}
	return string(r.Phase)
}

func weights(w map[string]int) string {
	if len(w) == 0 {
		return "-"
	}
	var parts []string
	for _, v := range slices.Sorted(maps.Keys(w)) {
		parts = append(parts, fmt.Sprintf("%s=%d", v, w[v]))
	}
	return strings.Join(parts, ",")
}

func newHistory(g *globals) *cobra.Command {
	return listCommand(g, "history SERVICE", "List a service's rollouts with outcome, duration, exposure and reason",
		"rollouts", 20, (*api.Client).Rollouts, printHistory)
}

// listCommand builds a command that lists a service's records, newest N,
// as a table or JSON.
func listCommand[T any](g *globals, use, short, what string, limit int,
	fetch func(*api.Client, context.Context, string, int) ([]T, error), print func(io.Writer, []T)) *cobra.Command {
	var n int
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  args(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, a []string) error {
			asJSON, err := g.json()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			items, err := fetch(c, cmd.Context(), a[0], n)
			if err != nil {
				return err
			}
			if asJSON {
				return writeJSON(cmd.OutOrStdout(), items)
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
	return listCommand(g, "events SERVICE", "Show a service's decision log: every transition with its reason and numbers",
		"events", 50, (*api.Client).Events, printEvents)
}

func printEvents(out io.Writer, evs []engine.Event) {
	tw := tabwriter.NewWriter(out, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tROLLOUT\tPHASE\tREASON")
	for _, e := range evs {
		phase := string(e.Phase)
		if e.From != "" && e.From != e.Phase {
			phase = fmt.Sprintf("%s→%s", e.From, e.Phase)
		}
		fmt.Fprintf(tw, "%s\t#%d\t%s\t%s\n", e.Time.Local().Format("15:04:05.000"), e.RolloutID, phase, e.Reason)
	}
	tw.Flush()
}

func writeJSON(out io.Writer, v any) error {
	enc := json.NewEncoder(out)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func firstNonEmpty(s ...string) string {
	for _, x := range s {
		if x != "" {
			return x
		}
	}
	return ""
}
