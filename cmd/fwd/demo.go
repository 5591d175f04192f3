package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/ui"
	"github.com/fwd-dev/fwd/tunnel"
)

// demoOptions are the flags of fwd demo.
type demoOptions struct {
	global *globalOptions
	output outputFlag
}

func newDemoCmd(s streams, g *globalOptions) *cobra.Command {
	opts := &demoOptions{global: g}
	cmd := &cobra.Command{
		Use:   "demo",
		Short: "Try fwd: an embedded gateway with demo services, forwarded at once",
		Long: `Starts a gateway on loopback with a built-in project "demo" (an HTTP service
"web" and a TCP echo addon "echo"), and forwards the whole project through a
real TLS tunnel without touching the hosts file. Nothing leaves this machine.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.output.validate(); err != nil {
				return err
			}
			return runDemo(cmd.Context(), opts, s)
		},
	}
	opts.output.register(cmd)
	return cmd
}

func runDemo(ctx context.Context, o *demoOptions, s streams) error {
	log := newLogger(s.Err, o.output.json(), o.global.verbose)
	gwLog := log
	if !o.global.verbose {
		// The embedded gateway's session lines would only clutter a first look.
		gwLog = slog.New(quietHandler{log.Handler()})
	}
	env, err := startDemo(gwLog.With("side", "gateway"))
	if err != nil {
		return err
	}
	defer env.Close()
	client, err := forward.New(forward.Options{
		Gateway:       env.Gateway,
		Token:         env.Token,
		Trust:         tunnel.Trust{Fingerprint: env.Fingerprint},
		SkipHostnames: true,
		Logger:        log.With("side", "client"),
	})
	if err != nil {
		return err
	}
	results, err := client.ForwardProject(ctx, demoProject)
	if err != nil {
		stopErr := client.Stop()
		if ctx.Err() != nil {
			return stopErr // interrupted while starting: not a failure
		}
		return errors.Join(err, stopErr)
	}
	if o.output.json() {
		err = writeJSONLine(s.Out, results)
	} else {
		err = demoIntro(s, env, results)
	}
	if err != nil {
		client.Stop()
		return err
	}
	<-ctx.Done()
	return shutdown(client, log, false)
}

func demoIntro(s streams, env *demoEnv, results []forward.Result) error {
	styled := ui.Styled(s.Out)
	ui.Status(s.Out, styled, ui.OK, fmt.Sprintf("demo gateway on %s (%s)", env.Gateway, env.Fingerprint))
	if err := resultTable(s.Out, styled, results); err != nil {
		return err
	}
	for _, r := range results {
		if r.Data == nil {
			continue
		}
		switch r.Data.Protocol {
		case "HTTP":
			ui.Status(s.Out, styled, ui.Hint, "Try: curl "+httpURL(r.Data.Address, r.Data.Port))
		default:
			ui.Status(s.Out, styled, ui.Hint, fmt.Sprintf("Try: echo hello | nc -q1 %s %d", r.Data.Address, r.Data.Port))
		}
	}
	ui.Status(s.Out, styled, ui.OK, "forwarding; press Ctrl-C to stop")
	return nil
}

// quietHandler passes on only warnings and errors.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

func (h quietHandler) WithAttrs(a []slog.Attr) slog.Handler {
	return quietHandler{h.Handler.WithAttrs(a)}
}
func (h quietHandler) WithGroup(g string) slog.Handler { return quietHandler{h.Handler.WithGroup(g)} }
