package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/forward"
)

// exposeOptions are the flags of fwd expose.
type exposeOptions struct {
	conn            forwardOptions // gateway, token, trust, project, output
	ports           []uint16
	name            string
	portName        string
	tcp             bool
	remotePort      uint16
	symmetric       bool
	auth            string
	allowIPs        []string
	rateLimit       float64
	auto            bool
	exposeLocalhost bool
}

func newExposeCmd(s streams, g *globalOptions) *cobra.Command {
	o := &exposeOptions{conn: forwardOptions{kind: forwardAll, global: g, connectWait: 10 * time.Second}}
	cmd := &cobra.Command{
		Use:   "expose [PORT...]",
		Short: "Publish ports of this machine through the gateway, as HTTPS URLs or TCP ports",
		Long: `Publish local ports through the gateway: each HTTPS exposure gets a URL
https://PORTNAME--NAME--LABEL.DOMAIN that stays the same across reconnects and
gateway restarts, and each TCP exposure (--tcp) a public HOST:PORT leased from
the gateway's range. Connections are carried by the same tunnel as forwards,
and this machine only ever connects them to the ports it exposed.

Without arguments, fwd expose reads fwd.yaml (or .fwd.yaml) in the working
directory; with --auto it publishes every port a program here starts listening
on, and withdraws it when it closes.

The token (or SSH user) needs the expose permission on the gateway. An
exposure without --auth or --allow-ip is open to everyone who has the URL.`,
		Example: "  fwd expose 3000\n  fwd expose 3000 --name web --auth demo:s3cret\n  fwd expose 5432 --tcp --symmetric -o env\n  fwd expose --auto",
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := o.complete(cmd, args); err != nil {
				return err
			}
			return runExpose(cmd.Context(), o, s)
		},
	}
	f := cmd.Flags()
	registerConnFlags(cmd, &o.conn)
	f.StringVar(&o.name, "name", "", "the exposure's name, in its URL (default port-PORT)")
	f.StringVar(&o.portName, "port-name", "", "the port's name, the URL's first part (default http)")
	f.BoolVar(&o.tcp, "tcp", false, "publish a public TCP port instead of an HTTPS URL")
	f.Uint16Var(&o.remotePort, "remote-port", 0, "with --tcp, ask for this public port")
	f.BoolVar(&o.symmetric, "symmetric", false, "with --tcp, ask for the public port to equal the local one")
	f.StringVar(&o.auth, "auth", "", "require HTTP basic auth user:password (env FWD_EXPOSE_AUTH)")
	f.StringSliceVar(&o.allowIPs, "allow-ip", nil, "admit only these peer addresses or CIDRs, comma-separated")
	f.Float64Var(&o.rateLimit, "rate-limit", 0, "requests per second each HTTPS exposure serves (0: no limit)")
	f.BoolVar(&o.auto, "auto", false, "publish every port a program here starts listening on, withdraw it when it closes")
	f.BoolVar(&o.exposeLocalhost, "expose-localhost", false, "with --auto, also publish ports bound only to 127.0.0.1 or ::1")
	o.conn.output.register(cmd, "env")
	return cmd
}

func (o *exposeOptions) complete(cmd *cobra.Command, args []string) error {
	for _, a := range args {
		p, err := strconv.ParseUint(a, 10, 16)
		if err != nil || p == 0 {
			return usageErrorf("%q is not a port: give the local port your app listens on, like 3000", a)
		}
		o.ports = append(o.ports, uint16(p))
	}
	o.auth = envOr(o.auth, "FWD_EXPOSE_AUTH")
	switch {
	case o.auto && len(args) > 0:
		return usageErrorf("--auto publishes every port that opens: give no ports with it")
	case o.exposeLocalhost && !o.auto:
		return usageErrorf("--expose-localhost goes with --auto: a port you name is published whatever it is bound to")
	case o.name != "" && len(args) > 1:
		return usageErrorf("--name names one exposure: give one port with it, or none for the defaults")
	case (o.symmetric || o.remotePort != 0) && !o.tcp:
		return usageErrorf("--symmetric and --remote-port choose a TCP port: add --tcp")
	case o.remotePort != 0 && len(args) > 1:
		return usageErrorf("--remote-port asks for one public port: give one local port with it")
	}
	return o.conn.complete()
}

// exposure is one port as the flags that apply to every exposure ask.
func (o *exposeOptions) exposure(port uint16) forward.Exposure {
	return forward.Exposure{LocalPort: port, PortName: o.portName, Project: o.conn.project, TCP: o.tcp,
		Auth: o.auth, AllowIPs: o.allowIPs, RateLimit: o.rateLimit}
}

// exposures are the ports named on the command line.
func (o *exposeOptions) exposures() ([]forward.Exposure, error) {
	var out []forward.Exposure
	for _, p := range o.ports {
		x := o.exposure(p)
		x.Name, x.RemotePort, x.Symmetric = o.name, o.remotePort, o.symmetric
		if err := x.Check(); err != nil {
			return nil, usageErrorf("port %d: %s", p, err)
		}
		out = append(out, x)
	}
	return out, nil
}

func runExpose(ctx context.Context, o *exposeOptions, s streams) error {
	log := newLogger(s.Err, o.conn.output.machine(), o.conn.global.verbose)
	defer o.conn.ssh.Close()
	var printer *exposePrinter
	opts, err := o.conn.clientOptions(s, log, func(e forward.Event) {
		if e.Exposed != nil && printer != nil {
			printer.print(e.Exposed)
		}
	})
	if err != nil {
		return err
	}
	opts.SkipHostnames = true // exposing writes no names here
	client, err := forward.New(opts)
	if err != nil {
		return err
	}
	printer = &exposePrinter{out: s.Out, errw: s.Err, format: o.conn.output.format}
	if o.auto {
		return errors.Join(runAutoExpose(ctx, o, client, printer, log), client.Stop())
	}
	exps, err := o.exposures()
	if err == nil && len(exps) == 0 {
		exps, err = projectFileExposures(o)
	}
	if err != nil {
		client.Stop()
		return err
	}
	results, err := client.Expose(ctx, exps...)
	if err != nil {
		stopErr := client.Stop()
		if ctx.Err() != nil {
			return stopErr
		}
		return errors.Join(err, stopErr)
	}
	if err := allRefused(results); err != nil {
		if o.conn.output.json() {
			printer.print(results)
		}
		client.Stop()
		return err
	}
	printer.print(results)
	select {
	case <-ctx.Done():
		log.Info("stopping: withdrawing the exposures")
		return client.Stop()
	case <-client.Done():
		return client.Err()
	}
}

// exposeRefused is every exposure refused: the first refusal says why,
// code is the gateway's for it.
type exposeRefused struct{ first, code string }

func (e *exposeRefused) Error() string { return e.first }

func allRefused(results []forward.ExposeResult) error {
	for _, r := range results {
		if r.Error == nil {
			return nil
		}
	}
	if len(results) == 0 {
		return nil
	}
	return &exposeRefused{code: results[0].Code, first: fmt.Sprintf("gateway refused to expose port %d: %s", results[0].LocalPort, results[0].Error.Message)}
}

// exposePrinter prints results as the output format says: a line per
// exposure for people (with a warning for each open one), one JSON line,
// or FWD_TCP_PORT_LOCAL=PUBLIC lines for env.
type exposePrinter struct {
	out, errw io.Writer
	format    string
	warned    map[string]bool
}

func (p *exposePrinter) print(results []forward.ExposeResult) {
	switch p.format {
	case "json":
		writeJSONLine(p.out, results)
		return
	case "env":
		for _, r := range results {
			switch {
			case r.RemotePort != 0:
				fmt.Fprintf(p.out, "FWD_TCP_PORT_%d=%d\n", r.LocalPort, r.RemotePort)
			case r.URL != "":
				fmt.Fprintf(p.out, "FWD_URL_%d=%s\n", r.LocalPort, r.URL)
			}
		}
	default:
		for _, r := range results {
			switch {
			case r.Error != nil:
				fmt.Fprintf(p.out, "port %d  not exposed: %s\n", r.LocalPort, r.Error.Message)
			case r.URL != "":
				fmt.Fprintf(p.out, "%s -> localhost:%d\n", r.URL, r.LocalPort)
			default:
				fmt.Fprintf(p.out, "tcp://%s -> localhost:%d\n", r.TCPAddr, r.LocalPort)
			}
		}
	}
	p.warnOpen(results)
}

// warnOpen says once per exposure that it is open to everyone.
func (p *exposePrinter) warnOpen(results []forward.ExposeResult) {
	if p.warned == nil {
		p.warned = map[string]bool{}
	}
	for _, r := range results {
		where := r.URL + r.TCPAddr
		if r.Error != nil || !r.Open || p.warned[where] {
			continue
		}
		p.warned[where] = true
		fix := "add --auth user:password or --allow-ip CIDR to restrict it"
		if r.TCPAddr != "" {
			fix = "add --allow-ip CIDR to restrict it"
		}
		fmt.Fprintf(p.errw, "warning: %s is open to everyone who has the address: %s\n", strings.TrimSpace(where), fix)
	}
}
