package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/server"
	"github.com/bluejay-deploy/bluejay/internal/spec"
)

// logsTimeout bounds reading the logs.
const logsTimeout = time.Minute

func newLogs(g *globals) *cobra.Command {
	var tail int
	cmd := &cobra.Command{
		Use:   "logs SERVICE VERSION",
		Short: "Print the output of a version's instances (docker: its containers', exited ones too; process: its log files)",
		Args:  args(cobra.ExactArgs(2)),
		RunE: func(cmd *cobra.Command, a []string) error {
			cfg, err := g.load(cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			i := slices.IndexFunc(cfg.Services, func(s spec.Service) bool { return s.Name == a[0] })
			if i < 0 {
				return usageError{fmt.Errorf("logs: unknown service %q", a[0])}
			}
			ctx, cancel := context.WithTimeout(cmd.Context(), logsTimeout)
			defer cancel()
			return versionLogs(ctx, cfg, &cfg.Services[i], a[1], tail, cmd.OutOrStdout())
		},
	}
	cmd.Flags().IntVarP(&tail, "tail", "n", 100, "lines per instance, from the end (0: all)")
	return cmd
}

func versionLogs(ctx context.Context, cfg *spec.Config, s *spec.Service, version string, tail int, w io.Writer) error {
	switch {
	case s.Platform.Docker != nil:
		p, err := server.NewDockerLogs(cfg)
		if err != nil {
			return err
		}
		defer p.Close()
		return p.VersionLogs(ctx, s.Name, version, tail, w)
	case s.Platform.Process != nil:
		files, _ := filepath.Glob(filepath.Join(s.Platform.Process.LogDir, s.Name+"-"+version+"-*.log"))
		if len(files) == 0 {
			return fmt.Errorf("no log file of %s %s in %s", s.Name, version, s.Platform.Process.LogDir)
		}
		for _, f := range files {
			b, err := os.ReadFile(f)
			if err != nil {
				return err
			}
			fmt.Fprintf(w, "== %s\n%s", f, lastLines(string(b), tail))
		}
		return nil
	}
	return fmt.Errorf("logs: service %s runs on platform %s, whose instances' output bluejay does not hold", s.Name, s.Platform.Name())
}

// lastLines returns the last n lines of s (all when n is 0).
func lastLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	if n > 0 && len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}
