package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/router"
)

func newRoutes(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "routes",
		Short: "Show the stored routing table: per service, its match and each version's weight and addresses",
		Long: `routes shows the routing table as the store holds it, which is what the proxy
serves: per service its match (host, path prefix), and per version in pick
order (newest first) its weight and ready addresses, with the sticky key,
header rules and mirror when set.`,
		Args: args(cobra.NoArgs),
		RunE: func(cmd *cobra.Command, _ []string) error {
			format, err := g.format()
			if err != nil {
				return err
			}
			c, err := g.client()
			if err != nil {
				return err
			}
			routes, err := c.Routes(cmd.Context())
			if err != nil {
				return err
			}
			if format != outTable {
				return writeData(cmd.OutOrStdout(), format, routes)
			}
			printRoutes(cmd.OutOrStdout(), routes)
			return nil
		},
	}
	g.addOutput(cmd)
	return cmd
}

func printRoutes(out io.Writer, routes []router.Route) {
	var buf strings.Builder
	defer func() { // a route's later rows leave EXTRAS empty: no trailing blanks
		for line := range strings.Lines(buf.String()) {
			fmt.Fprintln(out, strings.TrimRight(line, " \n"))
		}
	}()
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "SERVICE\tMATCH\tVERSION\tWEIGHT\tADDRS\tEXTRAS")
	for _, r := range routes {
		match := r.Host + orDefault(r.PathPrefix, "/")
		for i, b := range r.Backends {
			extras := ""
			if i == 0 {
				extras = routeExtras(r)
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%s\t%s\n", r.Service, match, b.Version, b.Weight, orDefault(strings.Join(b.Addrs, ","), "-"), extras)
		}
		if len(r.Backends) == 0 {
			fmt.Fprintf(tw, "%s\t%s\t-\t-\t-\t%s\n", r.Service, match, routeExtras(r))
		}
	}
	tw.Flush()
}

// routeExtras names a route's sticky key, rules and mirror.
func routeExtras(r router.Route) string {
	var parts []string
	if s := r.Sticky; s != nil {
		parts = append(parts, "sticky "+strings.TrimSpace(fmt.Sprintf("%s %s", prefixed("header ", s.Header), prefixed("cookie ", s.Cookie))))
	}
	if n := len(r.Rules); n > 0 {
		parts = append(parts, fmt.Sprintf("%d header rules", n))
	}
	if m := r.Mirror; m != nil {
		parts = append(parts, fmt.Sprintf("mirror %d%% to %s", m.Percent, m.Version))
	}
	if r.Shield != nil {
		parts = append(parts, "shield on "+r.Shield.Stable)
	}
	return orDefault(strings.Join(parts, "; "), "-")
}

func prefixed(prefix, s string) string {
	if s == "" {
		return ""
	}
	return prefix + s
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}
