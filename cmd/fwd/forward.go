package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/ui"
	"github.com/fwd-dev/fwd/tunnel"
)

// forwardKind is which of the three forward commands this is.
type forwardKind int

const (
	forwardService forwardKind = iota
	forwardAddon
	forwardAll
)

// forwardOptions are the flags of fwd service, fwd addon and fwd all.
type forwardOptions struct {
	kind          forwardKind
	project       string
	name          string
	gateway       string
	token         string
	caFile        string
	fingerprint   string
	skipHostnames bool
	hostsFile     string
	connectWait   time.Duration
	verbose       bool
	output        outputFlag
}

// newForwardCmd builds fwd service, addon or all. runF replaces the run step
// in tests of flag handling; nil runs the forward.
func newForwardCmd(s streams, kind forwardKind, runF func(context.Context, *forwardOptions) error) *cobra.Command {
	opts := &forwardOptions{kind: kind}
	if runF == nil {
		runF = func(ctx context.Context, o *forwardOptions) error { return runForward(ctx, o, s) }
	}
	cmd := &cobra.Command{Args: cobra.NoArgs}
	switch kind {
	case forwardService:
		cmd.Use, cmd.Short = "service", "Forward every port of one service"
		cmd.Example = "  sudo fwd service --project shop --service api\n  fwd service --project shop --service api --skipHostnames"
		cmd.Flags().StringVar(&opts.name, "service", "", "the service to forward (required)")
	case forwardAddon:
		cmd.Use, cmd.Short = "addon", "Forward every port of one addon (a database, a cache)"
		cmd.Example = "  sudo fwd addon --project shop --addon db"
		cmd.Flags().StringVar(&opts.name, "addon", "", "the addon to forward (required)")
	case forwardAll:
		cmd.Use, cmd.Short = "all", "Forward every service and addon of a project, or of every project the token sees"
		cmd.Example = "  sudo fwd all --project shop\n  fwd all --skipHostnames --output json"
	}
	f := cmd.Flags()
	f.StringVarP(&opts.project, "project", "p", "", "the project (env FWD_PROJECT)")
	f.StringVarP(&opts.gateway, "gateway", "g", "", "gateway address host:port (env FWD_GATEWAY)")
	f.StringVar(&opts.token, "token", "", "access token (env FWD_TOKEN; prefer the env, flags show up in ps)")
	f.StringVar(&opts.caFile, "ca", "", "trust the gateway through this CA certificate file (env FWD_CA)")
	f.StringVar(&opts.fingerprint, "fingerprint", "", "trust the gateway by its certificate fingerprint sha256:HEX (env FWD_FINGERPRINT)")
	f.BoolVar(&opts.skipHostnames, "skipHostnames", false, "do not write hostnames to the hosts file (no root needed)")
	f.BoolVar(&opts.skipHostnames, "skip-hostnames", false, "same as --skipHostnames")
	f.StringVar(&opts.hostsFile, "hosts-file", "", "hosts file to edit (default: the system's)")
	f.DurationVar(&opts.connectWait, "connect-wait", 10*time.Second, "how long a new connection waits for a tunnel that is down")
	f.BoolVarP(&opts.verbose, "verbose", "v", false, "log debug detail")
	opts.output.register(cmd)
	cmd.RunE = func(cmd *cobra.Command, _ []string) error {
		if err := opts.complete(); err != nil {
			return err
		}
		return runF(cmd.Context(), opts)
	}
	return cmd
}

// complete fills flags from the environment and checks them.
func (o *forwardOptions) complete() error {
	o.project = envOr(o.project, "FWD_PROJECT")
	o.gateway = envOr(o.gateway, "FWD_GATEWAY")
	o.token = envOr(o.token, "FWD_TOKEN")
	o.caFile = envOr(o.caFile, "FWD_CA")
	o.fingerprint = envOr(o.fingerprint, "FWD_FINGERPRINT")
	if err := o.output.validate(); err != nil {
		return err
	}
	switch {
	case o.gateway == "":
		return usageErrorf("no gateway: pass --gateway host:port or set FWD_GATEWAY")
	case o.kind != forwardAll && o.project == "":
		return usageErrorf("no project: pass --project NAME or set FWD_PROJECT")
	case o.kind == forwardService && o.name == "":
		return usageErrorf("no service: pass --service NAME")
	case o.kind == forwardAddon && o.name == "":
		return usageErrorf("no addon: pass --addon NAME")
	case o.token == "":
		return usageErrorf("no token: set FWD_TOKEN (or pass --token); a gateway admin makes one with 'fwd gateway token'")
	case o.caFile != "" && o.fingerprint != "":
		return usageErrorf("--ca and --fingerprint both set: choose one way to trust the gateway")
	}
	if err := checkHostPort(o.gateway); err != nil {
		return err
	}
	if o.fingerprint != "" {
		if _, err := tunnel.ParseFingerprint(o.fingerprint); err != nil {
			return &usageError{err}
		}
	}
	return nil
}

// checkHostPort validates a host:port flag value.
func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("--gateway %q is not host:port", addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return usageErrorf("--gateway %q: port out of range: use 1-65535", addr)
	}
	return nil
}

func (o *forwardOptions) clientOptions(log *slog.Logger, onEvent func(forward.Event)) (forward.Options, error) {
	trust := tunnel.Trust{Fingerprint: o.fingerprint}
	if o.caFile != "" {
		pool, err := tunnel.LoadCAFile(o.caFile)
		if err != nil {
			return forward.Options{}, &usageError{err}
		}
		trust.CAs = pool
	}
	return forward.Options{
		Gateway:       o.gateway,
		Token:         o.token,
		Trust:         trust,
		SkipHostnames: o.skipHostnames,
		HostsFile:     o.hostsFile,
		ConnectWait:   o.connectWait,
		Logger:        log,
		OnEvent:       onEvent,
	}, nil
}

func runForward(ctx context.Context, o *forwardOptions, s streams) error {
	log := newLogger(s.Err, o.output.json(), o.verbose)
	view := newForwardView(s.Out, o.output.json())
	opts, err := o.clientOptions(log, view.event)
	if err != nil {
		return err
	}
	client, err := forward.New(opts)
	if err != nil {
		return err
	}
	var results []forward.Result
	switch {
	case o.kind == forwardService:
		results, err = client.ForwardService(ctx, o.project, o.name)
	case o.kind == forwardAddon:
		results, err = client.ForwardAddon(ctx, o.project, o.name)
	case o.project != "":
		results, err = client.ForwardProject(ctx, o.project)
	default:
		results, err = client.ForwardAll(ctx)
	}
	if err != nil {
		stopErr := client.Stop()
		if ctx.Err() != nil {
			return stopErr // interrupted while connecting: not a failure
		}
		return errors.Join(err, stopErr)
	}
	if err := view.start(results); err != nil {
		client.Stop()
		return err
	}
	<-ctx.Done()
	return shutdown(client, log, s.Err)
}

// shutdownGrace is how long open connections may finish after Ctrl-C.
const shutdownGrace = 3 * time.Second

// shutdown stops forwarding after the first signal. A second signal while it
// runs exits at once, after removing the hostnames.
func shutdown(client *forward.Client, log *slog.Logger, stderr io.Writer) error {
	log.Info("stopping: closing listeners and removing hostnames; open connections get a few seconds (press Ctrl-C again to exit at once)")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		done <- client.Shutdown(ctx)
	}()
	again := notifySignals()
	defer stopSignals(again)
	select {
	case err := <-done:
		return err
	case <-again:
		if err := client.RemoveHostnames(); err != nil {
			fmt.Fprintln(stderr, "fwd: "+err.Error())
		}
		os.Exit(exitInterrupted)
		return nil
	}
}

// forwardView shows results: once as JSON for scripts, or as a table that is
// shown again whenever the forwards or the tunnel's state change.
type forwardView struct {
	out    io.Writer
	json   bool
	styled bool

	mu      sync.Mutex // start runs on the command's goroutine, event on fwd's
	started bool
	last    forward.State
}

func newForwardView(out io.Writer, jsonOut bool) *forwardView {
	return &forwardView{out: out, json: jsonOut, styled: ui.Styled(out)}
}

// start prints the first view: for JSON, the one line scripts wait for.
func (v *forwardView) start(results []forward.Result) error {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.started = true
	v.last = forward.StateConnected
	if v.json {
		return writeJSONLine(v.out, results)
	}
	return v.table(results)
}

func (v *forwardView) table(results []forward.Result) error {
	err := resultTable(v.out, v.styled, results)
	for _, r := range results {
		if r.Data != nil && (r.Data.Protocol == "HTTP" || r.Data.Protocol == "HTTP2") {
			host := r.Data.Address
			if len(r.Data.Hostnames) > 0 {
				host = r.Data.Hostnames[0]
			}
			ui.Status(v.out, v.styled, ui.Hint, "Try: curl "+httpURL(host, r.Data.Port))
			break
		}
	}
	ui.Status(v.out, v.styled, ui.OK, "forwarding; press Ctrl-C to stop")
	return err
}

// event runs on fwd's goroutines; the table view reprints on changes. JSON
// output stays one line: changes go to the log on stderr.
func (v *forwardView) event(e forward.Event) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if !v.started || v.json {
		return
	}
	switch {
	case e.State == forward.StateReconnecting && v.last != forward.StateReconnecting:
		ui.Status(v.out, v.styled, ui.Warn, "tunnel down: reconnecting; local ports stay open")
	case e.State == forward.StateConnected && v.last == forward.StateReconnecting:
		ui.Status(v.out, v.styled, ui.OK, "tunnel up again")
		v.table(e.Results)
	}
	v.last = e.State
}

func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// resultTable lists forwards: type, project, name, port name, protocol, local
// address:port and hostnames.
func resultTable(w io.Writer, styled bool, results []forward.Result) error {
	var rows [][]string
	for _, r := range results {
		if r.Error != nil {
			rows = append(rows, []string{"error", "", "", "", "", r.Error.Message, ""})
			continue
		}
		d := r.Data
		local := net.JoinHostPort(d.Address, strconv.Itoa(d.Port))
		if d.Note != "" {
			local += fmt.Sprintf(" (not %d)", d.RemotePort)
		}
		rows = append(rows, []string{d.Type, d.ProjectID, d.ID, d.PortName, d.Protocol, local, strings.Join(d.Hostnames, " ")})
	}
	if err := ui.Table(w, styled, []string{"type", "project", "name", "port", "protocol", "local address", "hostnames"}, rows); err != nil {
		return err
	}
	for _, r := range results {
		if r.Data != nil && r.Data.Note != "" {
			ui.Status(w, styled, ui.Warn, fmt.Sprintf("%s/%s: %s", r.Data.ProjectID, r.Data.ID, r.Data.Note))
		}
	}
	return nil
}

// httpURL is the URL to try for an HTTP port, without ":80".
func httpURL(host string, port int) string {
	if port == 80 {
		return "http://" + host + "/"
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port)) + "/"
}
