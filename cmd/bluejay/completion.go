package main

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
)

// completionTimeout bounds a completion's call to the admin API: a shell
// waiting on Tab must not hang on a server that is not there.
const completionTimeout = 2 * time.Second

// completeService completes a command's SERVICE argument with the
// configured services, each described by its stable version and phase.
// It asks the admin API and offers nothing, silently, when it cannot.
func (g *globals) completeService(cmd *cobra.Command, a []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(a) > 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := g.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(completionContext(cmd), completionTimeout)
	defer cancel()
	sts, err := c.Services(ctx)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, s := range sts {
		if strings.HasPrefix(s.Service, toComplete) {
			out = append(out, cobra.CompletionWithDesc(s.Service, orNone(s.Stable)+" "+string(s.Rollout.Phase)))
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp
}

// completeVersion completes a version the service (the first argument)
// ran as its stable version, newest first, from its history.
func (g *globals) completeVersion(cmd *cobra.Command, a []string, toComplete string) ([]cobra.Completion, cobra.ShellCompDirective) {
	if len(a) == 0 {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	c, err := g.client()
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	ctx, cancel := context.WithTimeout(completionContext(cmd), completionTimeout)
	defer cancel()
	rs, err := c.Rollouts(ctx, a[0], 0)
	if err != nil {
		return nil, cobra.ShellCompDirectiveNoFileComp
	}
	var out []cobra.Completion
	for _, r := range rs {
		for _, v := range []string{r.To.Label, r.From.Label} {
			stable := v == r.From.Label || r.Phase.Succeeded()
			if v != "" && stable && strings.HasPrefix(v, toComplete) && !slices.Contains(out, v) {
				out = append(out, v)
			}
		}
	}
	return out, cobra.ShellCompDirectiveNoFileComp | cobra.ShellCompDirectiveKeepOrder
}

func completionContext(cmd *cobra.Command) context.Context {
	if ctx := cmd.Context(); ctx != nil {
		return ctx
	}
	return context.Background()
}
