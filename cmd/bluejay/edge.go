package main

import (
	"fmt"
	"io"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/api"
	"github.com/bluejay-deploy/bluejay/internal/controller"
)

func newMaintenance(g *globals) *cobra.Command {
	var message, page string
	var retryAfter time.Duration
	cmd := &cobra.Command{
		Use:   "maintenance SERVICE on|off",
		Short: "Answer the service's requests 503 with a page of your choosing, or serve them again",
		Long: `maintenance on makes the proxy answer every request of SERVICE with 503, the
--message (plain text) or the --page (an HTML file), and Retry-After when
--retry-after is given, without touching its instances. maintenance off serves
the stored split again. The state is persisted with the route (it survives
restarts), shown by 'bluejay status' and recorded in the service's event log.`,
		Args:              args(cobra.ExactArgs(2)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			b := api.MaintenanceBody{}
			switch a[1] {
			case "on":
				b.On, b.Message = true, message
				if page != "" {
					data, err := os.ReadFile(page)
					if err != nil {
						return usageError{fmt.Errorf("maintenance: --page: %w", err)}
					}
					b.Page = string(data)
				}
				if retryAfter > 0 {
					b.RetryAfter = retryAfter.String()
				}
			case "off":
				if message != "" || page != "" || retryAfter != 0 {
					return usageError{fmt.Errorf("maintenance: --message, --page and --retry-after go with on")}
				}
			default:
				return usageError{fmt.Errorf("maintenance: %q: want on or off (usage: %s)", a[1], cmd.UseLine())}
			}
			if message != "" && page != "" {
				return usageError{fmt.Errorf("maintenance: give --message or --page, not both")}
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.Maintenance(cmd.Context(), a[0], b)
			if err != nil {
				return err
			}
			printEdge(cmd.OutOrStdout(), []controller.ServiceStatus{st})
			if st.Route.Maintenance == nil {
				fmt.Fprintf(cmd.OutOrStdout(), "%s: serving\n", st.Service)
			}
			return nil
		},
	}
	cmd.Flags().StringVar(&message, "message", "", "plain-text answer (default: SERVICE is down for maintenance)")
	cmd.Flags().StringVar(&page, "page", "", "HTML file to answer with instead of --message")
	cmd.Flags().DurationVar(&retryAfter, "retry-after", 0, "Retry-After to send, in whole seconds (default none)")
	return cmd
}

func newPauseTraffic(g *globals) *cobra.Command {
	var timeout time.Duration
	cmd := &cobra.Command{
		Use:   "pause-traffic SERVICE",
		Short: "Hold the service's new requests (not fail them) for a short intervention",
		Long: `pause-traffic holds every new request of SERVICE in the proxy, unanswered,
until 'bluejay resume-traffic SERVICE' or --timeout passes; the held requests
are then released in the order they arrived. Requests in flight finish as usual.
Keep it short: clients have timeouts of their own.`,
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.PauseTraffic(cmd.Context(), a[0], timeout)
			if err != nil {
				return err
			}
			printEdge(cmd.OutOrStdout(), []controller.ServiceStatus{st})
			return nil
		},
	}
	cmd.Flags().DurationVar(&timeout, "timeout", 30*time.Second, "longest a request is held (at most 5m)")
	return cmd
}

func newResumeTraffic(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:               "resume-traffic SERVICE",
		Short:             "Release the requests held by pause-traffic, in order",
		Args:              args(cobra.ExactArgs(1)),
		ValidArgsFunction: g.completeService,
		RunE: func(cmd *cobra.Command, a []string) error {
			c, err := g.client()
			if err != nil {
				return err
			}
			st, err := c.ResumeTraffic(cmd.Context(), a[0])
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "%s: traffic flows\n", st.Service)
			return nil
		},
	}
}

// printEdge prints a line for each service in maintenance or holding
// its traffic.
func printEdge(out io.Writer, sts []controller.ServiceStatus) {
	for _, s := range sts {
		if m := s.Route.Maintenance; m != nil {
			retry := ""
			if m.RetryAfter > 0 {
				retry = fmt.Sprintf(", Retry-After %ds", m.RetryAfter)
			}
			fmt.Fprintf(out, "%s: in maintenance since %s (503%s)\n", s.Service, m.Since.Local().Format(time.DateTime), retry)
		}
		if h := s.Route.Hold; h != nil && time.Now().Before(h.Until) {
			fmt.Fprintf(out, "%s: traffic paused until %s\n", s.Service, h.Until.Local().Format(time.DateTime))
		}
	}
}
