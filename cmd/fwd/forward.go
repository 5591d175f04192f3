package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/hostnames"
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
	ssh           sshLogin // the SSH keys used when there is no token
	caFile        string
	fingerprint   string
	skipHostnames bool
	hostsFile     string
	suffixes      []string
	envFile       string
	contextName   string // the saved context used, if any
	connectWait   time.Duration
	timeout       time.Duration
	global        *globalOptions
	output        outputFlag
	via           viaOptions // --via ssh://host --catalog FILE, instead of a gateway
}

// newForwardCmd builds fwd service, addon or all. runF replaces the run step
// in tests of flag handling; nil runs the forward.
func newForwardCmd(s streams, g *globalOptions, kind forwardKind, runF func(context.Context, *forwardOptions) error) *cobra.Command {
	opts := &forwardOptions{kind: kind, global: g}
	if runF == nil {
		runF = func(ctx context.Context, o *forwardOptions) error { return runForward(ctx, o, s) }
	}
	cmd := &cobra.Command{Args: cobra.MaximumNArgs(1)}
	describeKind(cmd, kind, "")
	registerForwardFlags(cmd, opts)
	registerCompletion(cmd, opts)
	opts.output.register(cmd, "env", "dotenv")
	cmd.RunE = func(cmd *cobra.Command, args []string) error {
		if err := opts.takeArgs(args); err != nil {
			return err
		}
		if err := opts.complete(); err != nil {
			return err
		}
		return runF(cmd.Context(), opts)
	}
	return cmd
}

// describeKind sets the use, help and examples of a forward command of
// kind; prefix is "exec " for fwd exec's.
func describeKind(cmd *cobra.Command, kind forwardKind, prefix string) {
	switch kind {
	case forwardService:
		cmd.Use, cmd.Short = "service [NAME]", "Forward every port of one service"
		cmd.Example = "  sudo fwd " + prefix + "service api --project shop\n  fwd " + prefix + "service --project shop --service api --skipHostnames"
	case forwardAddon:
		cmd.Use, cmd.Short = "addon [NAME]", "Forward every port of one addon (a database, a cache)"
		cmd.Example = "  sudo fwd " + prefix + "addon db -p shop\n  fwd " + prefix + "addon --project shop --addon db --skipHostnames"
	case forwardAll:
		cmd.Use, cmd.Short = "all [PROJECT]", "Forward every service and addon of a project, or of every project the token sees"
		cmd.Example = "  sudo fwd " + prefix + "all shop\n  fwd " + prefix + "all --skipHostnames --output json"
	}
}

// registerForwardFlags adds the flags every forward command takes.
func registerForwardFlags(cmd *cobra.Command, opts *forwardOptions) {
	f := cmd.Flags()
	switch opts.kind {
	case forwardService:
		f.StringVar(&opts.name, "service", "", "the service to forward (or give it as the argument)")
		aliasFlag(cmd, &opts.name, "serviceId", "service")
	case forwardAddon:
		f.StringVar(&opts.name, "addon", "", "the addon to forward (or give it as the argument)")
		aliasFlag(cmd, &opts.name, "addonId", "addon")
	}
	registerConnFlags(cmd, opts)
	f.BoolVar(&opts.skipHostnames, "skipHostnames", false, "do not write hostnames to the hosts file (no root needed; also --skip-hostnames)")
	f.BoolVar(&opts.skipHostnames, "skip-hostnames", false, "same as --skipHostnames")
	f.MarkHidden("skip-hostnames")
	f.StringVar(&opts.hostsFile, "hosts-file", "", "hosts file to edit (default: the system's)")
	f.StringSliceVar(&opts.suffixes, "hostname-suffix", nil, "write catalog hostnames only under these suffixes (narrows the gateway's hostname_suffixes)")
	f.StringVar(&opts.envFile, "env-file", "", "write the forwards' connection details to this .env file while fwd runs (removed on exit)")
	f.DurationVar(&opts.connectWait, "connect-wait", 10*time.Second, "how long a new connection waits for a tunnel that is down")
	registerViaFlags(cmd, &opts.via)
}

// registerConnFlags adds the flags that say which gateway to reach and
// how: every command that talks to a gateway takes them. Each falls back
// to its FWD_ variable, then to the saved context (fwd login).
func registerConnFlags(cmd *cobra.Command, opts *forwardOptions) {
	f := cmd.Flags()
	f.StringVarP(&opts.project, "project", "p", "", "the project (env FWD_PROJECT, else the context's)")
	aliasFlag(cmd, &opts.project, "projectId", "project")
	f.StringVarP(&opts.gateway, "gateway", "g", "", "gateway address host:port, or several as a,b to fail over between (env FWD_GATEWAY, else the context's)")
	f.StringVar(&opts.token, "token", "", "access token (env FWD_TOKEN; prefer fwd login or the env: flags show up in ps)")
	f.StringSliceVar(&opts.ssh.keyFiles, "ssh-key", nil, "without a token, log in with this SSH key file (after ssh-agent's keys; default ~/.ssh/id_ed25519, id_ecdsa, id_rsa)")
	f.StringVar(&opts.caFile, "ca", "", "trust the gateway through this CA certificate file (env FWD_CA)")
	f.StringVar(&opts.fingerprint, "fingerprint", "", "trust the gateway by its certificate fingerprint sha256:HEX (env FWD_FINGERPRINT)")
	f.DurationVar(&opts.timeout, "timeout", 10*time.Second, "how long connecting to the gateway may take, TLS and login included")
}

// aliasFlag adds a hidden flag that sets the same value as the documented
// one: the Northflank CLI's --projectId, --serviceId and --addonId.
func aliasFlag(cmd *cobra.Command, p *string, alias, of string) {
	cmd.Flags().StringVar(p, alias, "", "same as --"+of)
	cmd.Flags().MarkHidden(alias)
}

// takeArgs takes the positional argument: the service or addon name, or for
// fwd all the project, as kubectl takes a resource's name.
func (o *forwardOptions) takeArgs(args []string) error {
	if len(args) == 0 {
		return nil
	}
	target, flag := &o.name, map[forwardKind]string{forwardService: "--service", forwardAddon: "--addon"}[o.kind]
	if o.kind == forwardAll {
		target, flag = &o.project, "--project"
	}
	if *target != "" && *target != args[0] {
		return usageErrorf("%q and %s %q name two different things: give one", args[0], flag, *target)
	}
	*target = args[0]
	return nil
}

// complete fills flags from the environment and checks them.
func (o *forwardOptions) complete() error {
	if err := o.checkVia(); err != nil {
		return err
	}
	o.project = envOr(o.project, "FWD_PROJECT")
	o.gateway = envOr(o.gateway, "FWD_GATEWAY")
	o.token = envOr(o.token, "FWD_TOKEN")
	o.caFile = envOr(o.caFile, "FWD_CA")
	o.fingerprint = envOr(o.fingerprint, "FWD_FINGERPRINT")
	if err := o.output.validate(); err != nil {
		return err
	}
	if o.via.url != "" {
		// The SSH server is all there is to talk to: no gateway, token or
		// trust from the environment or a saved context.
		o.gateway, o.token, o.caFile, o.fingerprint = "", "", "", ""
	} else if err := o.fromContext(); err != nil {
		return err
	}
	switch {
	case o.gateway == "" && o.via.url == "":
		return usageErrorf("no gateway: run fwd login --gateway host:port once, or pass --gateway (or set FWD_GATEWAY)")
	case o.kind != forwardAll && o.project == "":
		return usageErrorf("no project: pass --project NAME or set FWD_PROJECT")
	case o.kind == forwardService && o.name == "":
		return usageErrorf("no service: pass its name, as in 'fwd service api --project %s'", o.project)
	case o.kind == forwardAddon && o.name == "":
		return usageErrorf("no addon: pass its name, as in 'fwd addon db --project %s'", o.project)
	case o.caFile != "" && o.fingerprint != "":
		return usageErrorf("--ca and --fingerprint both set: choose one way to trust the gateway")
	case o.connectWait <= 0:
		return usageErrorf("--connect-wait %s: use a positive duration, like 10s", o.connectWait)
	case o.timeout <= 0:
		return usageErrorf("--timeout %s: use a positive duration, like 10s", o.timeout)
	}
	if o.via.url != "" {
		return nil
	}
	if err := checkGateways(o.gateway); err != nil {
		return err
	}
	if o.fingerprint != "" {
		if _, err := tunnel.ParseFingerprint(o.fingerprint); err != nil {
			return &usageError{err}
		}
	}
	return nil
}

// checkGateways validates --gateway: one host:port, or several,
// comma-separated, tried in turn.
func checkGateways(list string) error {
	for _, g := range strings.Split(list, ",") {
		if err := checkHostPort("--gateway", strings.TrimSpace(g)); err != nil {
			return err
		}
	}
	return nil
}

// checkHostPort validates a host:port flag value: a port in range and a
// host that is an IP address or a DNS name (a stray space makes neither).
func checkHostPort(flag, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return usageErrorf("%s %q is not host:port", flag, addr)
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return usageErrorf("%s %q: port out of range: use 1-65535", flag, addr)
	}
	if host != "" && net.ParseIP(host) == nil && !hostnames.IsDNSName(host) {
		return usageErrorf("%s %q: %q is neither an IP address nor a host name", flag, addr, host)
	}
	return nil
}

// trust is how the gateway is verified: --fingerprint or --ca.
func (o *forwardOptions) trust() (tunnel.Trust, error) {
	trust := tunnel.Trust{Fingerprint: o.fingerprint}
	if o.caFile != "" {
		pool, err := tunnel.LoadCAFile(o.caFile)
		if err != nil {
			return trust, &usageError{err}
		}
		trust.CAs = pool
	}
	return trust, nil
}

// sshSigners are the SSH keys to log in with when there is no token;
// o.ssh.Close releases them.
func (o *forwardOptions) sshSigners(s streams) ([]ssh.Signer, error) {
	if o.token != "" {
		return nil, nil
	}
	return o.ssh.find(s)
}

// clientOptions are the forward.Options the flags say. Without a token it
// looks for SSH keys, asking on s for a passphrase: close o.ssh after.
func (o *forwardOptions) clientOptions(s streams, log *slog.Logger, onEvent func(forward.Event)) (forward.Options, error) {
	if o.via.url != "" {
		return o.viaClientOptions(s, log, onEvent)
	}
	trust, err := o.trust()
	if err != nil {
		return forward.Options{}, err
	}
	signers, err := o.sshSigners(s)
	if err != nil {
		return forward.Options{}, err
	}
	return forward.Options{
		Gateway:          o.gateway,
		Token:            o.token,
		SSHSigners:       signers,
		Trust:            trust,
		SkipHostnames:    o.skipHostnames,
		HostsFile:        o.hostsFile,
		HostnameSuffixes: o.suffixes,
		ConnectWait:      o.connectWait,
		Timeout:          o.timeout,
		Logger:           log,
		OnEvent:          onEvent,
	}, nil
}

func runForward(ctx context.Context, o *forwardOptions, s streams) error {
	ctx, stopAll := context.WithCancel(ctx) // fwd stop may end it as Ctrl-C does
	defer stopAll()
	started := time.Now()
	log := newLogger(s.Err, o.output.machine(), o.global.verbose)
	view := newForwardView(s.Out, s.Err, o.output.format, o.endpoint(), log)
	var envw *envFileWriter
	defer o.ssh.Close()
	opts, err := o.clientOptions(s, log, func(e forward.Event) {
		view.event(e)
		if envw != nil && e.State == forward.StateConnected {
			envw.changed()
		}
	})
	if err != nil {
		return err
	}
	client, err := forward.New(opts)
	if err != nil {
		return err
	}
	results, err := o.start(ctx, client)
	view.connected()
	if err != nil {
		stopErr := client.Stop()
		if ctx.Err() != nil {
			return stopErr // interrupted while connecting: not a failure
		}
		return errors.Join(err, stopErr)
	}
	if o.envFile != "" {
		if envw, err = o.startEnvFile(client, log); err != nil {
			return errors.Join(err, client.Stop())
		}
		defer func() { logErr(log, envw.stop()) }()
	}
	if err := view.start(results, client); err != nil {
		client.Stop()
		return err
	}
	h := &controlHandler{client: client, command: o.describe(), context: o.contextName, started: started, stopAll: stopAll}
	defer serveControl(h, log)()
	select {
	case <-ctx.Done():
		return shutdown(client, log, !o.skipHostnames)
	case <-client.Done():
		// Stopped by itself (the gateway refused it for good); its
		// hostnames are gone already.
		return client.Err()
	}
}

// startEnvFile writes the forwards' connection details into --env-file
// and keeps them in step until fwd stops.
func (o *forwardOptions) startEnvFile(client *forward.Client, log *slog.Logger) (*envFileWriter, error) {
	w := newEnvFileWriter(o.envFile, client, log)
	if err := w.write(); err != nil {
		return nil, err
	}
	go w.run()
	return w, nil
}

// logErr logs a failure of cleanup that cannot change the exit any more.
func logErr(log *slog.Logger, err error) {
	if err != nil {
		log.Error(err.Error())
	}
}

// describe names the command for fwd status, without its flags (a token
// may be among them).
func (o *forwardOptions) describe() string {
	switch {
	case o.kind == forwardService:
		return "fwd service " + o.project + "/" + o.name
	case o.kind == forwardAddon:
		return "fwd addon " + o.project + "/" + o.name
	case o.project != "":
		return "fwd all " + o.project
	}
	return "fwd all"
}

// start makes the forward the command asks for.
func (o *forwardOptions) start(ctx context.Context, client *forward.Client) ([]forward.Result, error) {
	switch {
	case o.kind == forwardService:
		return client.ForwardService(ctx, o.project, o.name)
	case o.kind == forwardAddon:
		return client.ForwardAddon(ctx, o.project, o.name)
	case o.project != "":
		return client.ForwardProject(ctx, o.project)
	}
	return client.ForwardAll(ctx)
}

// shutdownGrace is how long open connections may finish after Ctrl-C.
const shutdownGrace = 3 * time.Second

// shutdown stops forwarding after the first signal. A second signal while it
// runs removes the hostnames at once and returns errInterrupted.
func shutdown(client *forward.Client, log *slog.Logger, hostnames bool) error {
	what := "closing listeners"
	if hostnames {
		what += " and removing hostnames"
	}
	log.Info("stopping: " + what + "; open connections get a few seconds (press Ctrl-C again to exit at once)")
	done := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
		defer cancel()
		done <- client.Shutdown(ctx)
	}()
	again, stop := notifySignals()
	defer stop()
	select {
	case err := <-done:
		return err
	case <-again:
		return errors.Join(errInterrupted, client.RemoveHostnames())
	}
}

// errInterrupted is a second signal during shutdown: exit.go maps it to 130.
var errInterrupted = fmt.Errorf("interrupted")
