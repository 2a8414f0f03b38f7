package main

import (
	"os"

	"github.com/spf13/cobra"

	"github.com/bluejay-deploy/bluejay/internal/sampleapp"
)

// newApp runs the sample app (examples/app) from the bluejay binary, so
// that the demo needs nothing else. Hidden: it is a test fixture.
func newApp() *cobra.Command {
	return &cobra.Command{
		Use:                "app --port N [--version V] [fault flags]",
		Short:              "Run the sample app (examples/app) used by the demo",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(_ *cobra.Command, a []string) error {
			if code := sampleapp.Main(a); code != 0 {
				os.Exit(code)
			}
			return nil
		},
	}
}
