package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/internal/ui"
)

// version is set by the release build (-ldflags "-X main.version=...").
var version = "dev"

// streams are the command's standard streams; tests pass buffers.
type streams struct {
	In       io.Reader
	Out, Err io.Writer
}

// run executes one command line and returns the process exit code.
func run(ctx context.Context, args []string, s streams) int {
	root := newRootCmd(s)
	started := false
	root.PersistentPreRun = func(*cobra.Command, []string) { started = true }
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	if !started {
		// Cobra refused the command line before any command ran: unknown
		// command, bad argument count, bad flag.
		err = &usageError{err}
	}
	code, msg := explain(err)
	if code == exitUsage && cmd != nil && !errors.As(err, new(*usageError)) {
		msg += fmt.Sprintf(" (see 'fwd %s --help')", cmd.Name())
	}
	fmt.Fprintln(s.Err, "fwd: "+msg)
	return code
}

func newRootCmd(s streams) *cobra.Command {
	root := &cobra.Command{
		Use:   "fwd",
		Short: "Forward a project's private ports to this machine through one TLS tunnel",
		Long: `fwd brings the private services and addons of a project to this machine.
Each gets its own loopback address (127.x.y.z) with its real ports, reached
through one multiplexed TLS tunnel to a gateway inside the private network.
With root, fwd also writes their hostnames to the hosts file and removes them
on exit; --skipHostnames needs no root.

Start with 'fwd demo'.`,
		Version:       version,
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetIn(s.In)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	root.AddCommand(
		newForwardCmd(s, forwardService, nil),
		newForwardCmd(s, forwardAddon, nil),
		newForwardCmd(s, forwardAll, nil),
		newGatewayCmd(s),
		newDemoCmd(s),
		newHostsCmd(s),
	)
	return root
}

// outputFlag is --output, shared by every command.
type outputFlag struct{ format string }

func (o *outputFlag) register(cmd *cobra.Command) {
	cmd.Flags().StringVarP(&o.format, "output", "o", "", "output format: table or json (default: table)")
}

func (o *outputFlag) validate() error {
	switch o.format {
	case "", "table", "json":
		return nil
	}
	return usageErrorf("--output %q: use table or json", o.format)
}

func (o *outputFlag) json() bool { return o.format == "json" }

// newLogger logs to stderr: text for people, JSON lines with --output json.
func newLogger(w io.Writer, jsonOut, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	opts := &slog.HandlerOptions{Level: level}
	if jsonOut {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	if ui.IsTerminal(w) {
		// People at a terminal want the message, not a timestamp per line.
		opts.ReplaceAttr = func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// envOr returns the environment variable's value when the flag is unset.
func envOr(flagValue, env string) string {
	if flagValue != "" {
		return flagValue
	}
	return os.Getenv(env)
}
