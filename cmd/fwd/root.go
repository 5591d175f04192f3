package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"runtime/debug"
	"slices"
	"strings"

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

// globalOptions are the flags every command takes from the root.
type globalOptions struct {
	verbose bool
	context string // --context: a saved gateway other than the current one
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
	if msg != "" {
		fmt.Fprintln(s.Err, "fwd: "+msg)
	}
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
		Version:       versionString(),
		SilenceUsage:  true,
		SilenceErrors: true,
	}
	root.SetOut(s.Out)
	root.SetErr(s.Err)
	root.SetIn(s.In)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err} })
	g := &globalOptions{}
	// -v is --verbose on every command; --version has no short form, so
	// that -v means one thing everywhere.
	root.PersistentFlags().BoolVarP(&g.verbose, "verbose", "v", false, "log debug detail")
	root.PersistentFlags().StringVar(&g.context, "context", "", "use this saved gateway instead of the current one (env FWD_CONTEXT; see fwd context list)")
	root.RegisterFlagCompletionFunc("context", completeContexts)
	root.Flags().Bool("version", false, "print fwd's version")
	root.AddCommand(
		newForwardCmd(s, g, forwardService, nil),
		newForwardCmd(s, g, forwardAddon, nil),
		newForwardCmd(s, g, forwardAll, nil),
		newGatewayCmd(s, g),
		newExposeCmd(s, g),
		newDemoCmd(s, g),
		newHostsCmd(s),
		newStatusCmd(s),
		newStopCmd(s),
		newExecCmd(s, g),
		newLoginCmd(s),
		newLogoutCmd(s, g),
		newContextCmd(s),
		newLsCmd(s, g),
		newPortsCmd(s),
		newDoctorCmd(s, g),
		newManCmd(func() *cobra.Command { return newRootCmd(s) }),
	)
	return root
}

// versionString is the release's version, or for a binary built with go
// install or go build, what its build info says it was built from.
func versionString() string {
	if version != "dev" {
		return version
	}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return version
	}
	return buildVersion(bi)
}

// buildVersion is the module version go install stamps (v1.2.3, or a
// pseudo-version that names the commit), else "dev" with the VCS revision
// a go build in a checkout stamps.
func buildVersion(bi *debug.BuildInfo) string {
	if v := bi.Main.Version; v != "" && v != "(devel)" {
		return v
	}
	var details []string
	for _, kv := range bi.Settings {
		switch {
		case kv.Key == "vcs.revision":
			details = append(details, kv.Value[:min(12, len(kv.Value))])
		case kv.Key == "vcs.modified" && kv.Value == "true":
			details = append(details, "modified")
		}
	}
	if len(details) == 0 {
		return "dev"
	}
	return "dev (" + strings.Join(details, ", ") + ")"
}

// outputFlag is --output, shared by every command: table or json, and for
// the forward commands env and dotenv too.
type outputFlag struct {
	format string
	allow  []string
}

func (o *outputFlag) register(cmd *cobra.Command, extra ...string) {
	o.allow = append([]string{"table", "json"}, extra...)
	cmd.Flags().StringVarP(&o.format, "output", "o", "", "output format: "+strings.Join(o.allow, ", ")+" (default: table)")
}

func (o *outputFlag) validate() error {
	if o.format == "" || slices.Contains(o.allow, o.format) {
		return nil
	}
	last := len(o.allow) - 1
	return usageErrorf("--output %q: use %s or %s", o.format, strings.Join(o.allow[:last], ", "), o.allow[last])
}

func (o *outputFlag) json() bool { return o.format == "json" }

// machine reports whether the output is for a program: logs then go out
// as JSON lines.
func (o *outputFlag) machine() bool { return o.format != "" && o.format != "table" }

// newLogger logs to stderr: text for people, JSON lines with --output json.
// Durations print as "10s" in both, not as nanoseconds.
func newLogger(w io.Writer, jsonOut, verbose bool) *slog.Logger {
	level := slog.LevelInfo
	if verbose {
		level = slog.LevelDebug
	}
	terminal := !jsonOut && ui.IsTerminal(w)
	opts := &slog.HandlerOptions{Level: level, ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
		if terminal && len(groups) == 0 && a.Key == slog.TimeKey {
			return slog.Attr{} // people at a terminal want the message, not a timestamp per line
		}
		if a.Value.Kind() == slog.KindDuration {
			return slog.String(a.Key, a.Value.Duration().String())
		}
		return a
	}}
	if jsonOut {
		return slog.New(slog.NewJSONHandler(w, opts))
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
