package main

import (
	"fmt"
	"strconv"
	"strings"

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
	list := &hostsOptions{}
	cmd := &cobra.Command{
		Use:   "hosts",
		Short: "List and clean fwd's entries in the hosts file",
		Long: `Lists the blocks fwd processes wrote to the hosts file: whose they are
(pid, and whether it still runs) and their entries. 'fwd hosts clean'
removes the blocks of processes that are gone.`,
		Args: cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := list.output.validate(); err != nil {
				return err
			}
			return runHostsList(list, s)
		},
	}
	cmd.Flags().StringVar(&list.hostsFile, "hosts-file", "", "hosts file to read (default: the system's)")
	list.output.register(cmd)
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
	if err != nil {
		return &hostsFileError{path: f.Path(), err: err}
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

// hostsBlock is one fwd block as fwd hosts -o json prints it.
type hostsBlock struct {
	PID     int          `json:"pid"`
	Session string       `json:"session"`
	Alive   bool         `json:"alive"`
	Entries []hostsEntry `json:"entries"`
}

type hostsEntry struct {
	Address   string   `json:"address"`
	Hostnames []string `json:"hostnames"`
}

func runHostsList(o *hostsOptions, s streams) error {
	f := hosts.New(o.hostsFile)
	blocks, err := f.Blocks()
	if err != nil {
		return &hostsFileError{path: f.Path(), err: err}
	}
	out := []hostsBlock{}
	for _, b := range blocks {
		hb := hostsBlock{PID: b.Owner.PID, Session: b.Owner.Session, Alive: b.Owner.Alive(), Entries: []hostsEntry{}}
		for _, e := range b.Entries {
			hb.Entries = append(hb.Entries, hostsEntry{e.Address, e.Hostnames})
		}
		out = append(out, hb)
	}
	if o.output.json() {
		return writeJSONLine(s.Out, map[string]any{"file": f.Path(), "blocks": out})
	}
	styled := ui.Styled(s.Out)
	if len(out) == 0 {
		ui.Status(s.Out, styled, ui.OK, "no fwd entries in "+f.Path())
		return nil
	}
	var rows [][]string
	for _, b := range out {
		state := "running"
		if !b.Alive {
			state = "gone (fwd hosts clean removes it)"
		}
		for _, e := range b.Entries {
			rows = append(rows, []string{strconv.Itoa(b.PID), state, e.Address, strings.Join(e.Hostnames, " ")})
		}
	}
	return ui.Table(s.Out, styled, []string{"pid", "process", "address", "hostnames"}, rows)
}

// hostsFileError is a hosts-file command's failure; exit.go says what to do.
type hostsFileError struct {
	path string
	err  error
}

func (e *hostsFileError) Error() string { return e.err.Error() + " (" + e.path + ")" }
func (e *hostsFileError) Unwrap() error { return e.err }
