package main

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/hosts"
	"github.com/fwd-dev/fwd/internal/ui"
)

// hostsOptions are the flags of fwd hosts clean.
type hostsOptions struct {
	hostsFile string
	output    outputFlag
}

func newHostsCmd(s streams) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "Inspect and clean fwd's entries in the hosts file",
	}
	opts := &hostsOptions{}
	clean := &cobra.Command{
		Use:   "clean",
		Short: "Remove hosts entries left by fwd processes that are gone",
		Long: `fwd removes its hostnames when it exits, and reclaims those of crashed or
killed fwd processes when it starts. This does the reclaiming on demand. The
entries of fwd processes that are still running are kept.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := opts.output.validate(); err != nil {
				return err
			}
			return runHostsClean(opts, s)
		},
	}
	clean.Flags().StringVar(&opts.hostsFile, "hosts-file", "", "hosts file to clean (default: the system's)")
	opts.output.register(clean)
	cmd.AddCommand(clean)
	return cmd
}

func runHostsClean(o *hostsOptions, s streams) error {
	f := hosts.New(o.hostsFile)
	removed, err := f.Clean()
	if errors.Is(err, hosts.ErrLockBusy) {
		return err // it names the lock's holder to look for; sudo would not help
	}
	if err != nil {
		return fmt.Errorf("%w: run with sudo to edit %s", err, f.Path())
	}
	if o.output.json() {
		type block struct {
			PID     int    `json:"pid"`
			Session string `json:"session"`
			Entries int    `json:"entries"`
		}
		out := []block{}
		for _, b := range removed {
			out = append(out, block{b.Owner.PID, b.Owner.Session, len(b.Entries)})
		}
		return writeJSONLine(s.Out, map[string]any{"file": f.Path(), "removed": out})
	}
	styled := ui.Styled(s.Out)
	if len(removed) == 0 {
		ui.Status(s.Out, styled, ui.OK, "no stale fwd entries in "+f.Path())
		return nil
	}
	for _, b := range removed {
		ui.Status(s.Out, styled, ui.OK, fmt.Sprintf("removed %d entries of fwd pid %d from %s", len(b.Entries), b.Owner.PID, f.Path()))
	}
	return nil
}
