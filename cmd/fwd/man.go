package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"
	"github.com/spf13/cobra/doc"
)

// newManCmd writes man pages for every command, for packagers and the
// release archives.
func newManCmd(root func() *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use:    "man DIR",
		Short:  "Write a man page for every fwd command into DIR",
		Hidden: true,
		Args:   cobra.ExactArgs(1),
		RunE: func(_ *cobra.Command, args []string) error {
			if err := os.MkdirAll(args[0], 0o755); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			r := root()
			r.DisableAutoGenTag = true // the same bytes for the same release
			header := &doc.GenManHeader{Title: "FWD", Section: "1", Source: "fwd " + versionString(), Manual: "fwd manual"}
			if err := doc.GenManTree(r, header, args[0]); err != nil {
				return fmt.Errorf("man pages: %w", err)
			}
			return nil
		},
	}
}
