package main

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"
	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/internal/gwmetrics"
	"github.com/fwd-dev/fwd/internal/sshkeys"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// gatewayOptions are the flags of fwd gateway.
type gatewayOptions struct {
	configPath string
	listen     string
	global     *globalOptions
	output     outputFlag
}

func newGatewayCmd(s streams, g *globalOptions) *cobra.Command {
	opts := &gatewayOptions{global: g}
	cmd := &cobra.Command{
		Use:   "gateway",
		Short: "Run the gateway: the end of the tunnel inside the private network",
		Long: `The gateway holds the catalog of projects, services and addons and their
private targets, checks tokens, and dials only targets named in its catalog.
Without tls in the config it makes a self-signed certificate once, keeps it
beside the config and prints its fingerprint for clients to pin.`,
		Example: "  fwd gateway --config gateway.yaml\n  fwd gateway token --name alice --projects shop",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := opts.output.validate(); err != nil {
				return err
			}
			if opts.configPath == "" {
				return usageErrorf("no config: pass --config FILE (see the README for its shape)")
			}
			return runGateway(cmd.Context(), opts, s)
		},
	}
	cmd.Flags().StringVarP(&opts.configPath, "config", "c", "", "gateway config file (required)")
	cmd.Flags().StringVar(&opts.listen, "listen", "", "address to listen on, overriding the config's listen")
	opts.output.register(cmd)
	cmd.AddCommand(newGatewayTokenCmd(s))
	cmd.AddCommand(newGatewayCheckCmd(s))
	return cmd
}

func runGateway(ctx context.Context, o *gatewayOptions, s streams) error {
	log := newLogger(s.Err, o.output.json(), o.global.verbose)
	cfg, err := config.Load(o.configPath)
	if err != nil {
		return err
	}
	if o.listen != "" {
		cfg.Listen = o.listen
	}
	// Listen first: a port that is taken is reported before any
	// certificate or host key is made.
	lns, err := listenGateway(cfg)
	if err != nil {
		return err
	}
	cert, err := gatewayCertificate(cfg, log)
	if err != nil {
		lns.close()
		return err
	}
	if lns.hostKey, err = gatewayHostKey(cfg, lns, log); err != nil {
		lns.close()
		return err
	}
	if err := exposeCertificate(cfg, lns, log); err != nil {
		lns.close()
		return err
	}
	gw := &tunnel.Gateway{Config: &cfg.GatewayConfig, TLS: tunnel.ServerTLSConfig(cert), Logger: log}
	metrics, err := startMetrics(gw, lns, log)
	if err != nil {
		lns.close()
		return err
	}
	defer metrics.close()
	live := newLiveConfig(gw, cfg, o.listen, log)
	live.onReload = metrics.reloaded
	watchCtx, stopWatching := context.WithCancel(ctx)
	defer stopWatching()
	if err := live.watch(watchCtx); err != nil {
		lns.close()
		return err
	}
	// The cluster's first catalog is in before the gateway says it serves.
	if _, err := startKubeCatalog(watchCtx, cfg, log, func(cat catalog.Catalog) {
		live.setKubeCatalog(cat)
		metrics.reloaded(nil)
	}); err != nil {
		lns.close()
		return err
	}
	reload := live.hangup
	onHangup.Store(&reload)
	defer onHangup.Store(nil)
	if err := announceGateway(s.Out, o.output.json(), lns.announcement(cert, cfg)); err != nil {
		lns.close()
		return err
	}
	// Ready while serving with a catalog: a file's is loaded by now, a
	// Kubernetes catalog once the cluster's first sync reached live.
	setReady := func(serving bool) {
		live.mu.Lock()
		loaded := cfg.Kubernetes == nil || live.kube != nil
		live.mu.Unlock()
		metrics.setReady(serving && loaded)
	}
	return serveUntilDone(ctx, gw, lns, cfg.Limits, log, setReady)
}

// gatewayListeners are what a gateway serves on: TLS always, SSH when the
// config has ssh_listen, health and metrics when it has metrics_listen.
type gatewayListeners struct {
	tls     net.Listener
	ssh     net.Listener // nil without ssh_listen
	hostKey ssh.Signer   // the SSH host key, with ssh
	metrics net.Listener // nil without metrics_listen
	// The public side of exposures, with expose: https and its
	// certificate, http when expose.http_listen is set.
	exposeHTTPS, exposeHTTP net.Listener
	exposeCert              tls.Certificate
}

// listenGateway listens on listen and, if set, ssh_listen, as the config
// gives them (its check makes both host:port; an empty host is every
// interface, and the defaults are loopback).
func listenGateway(cfg *config.Config) (*gatewayListeners, error) {
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return nil, &listenError{addr: cfg.Listen, err: err}
	}
	lns := &gatewayListeners{tls: ln}
	if cfg.SSHListen != "" {
		if lns.ssh, err = net.Listen("tcp", cfg.SSHListen); err != nil {
			ln.Close()
			return nil, &listenError{addr: cfg.SSHListen, key: "ssh_listen", err: err}
		}
	}
	if cfg.MetricsListen != "" {
		if lns.metrics, err = net.Listen("tcp", cfg.MetricsListen); err != nil {
			lns.close()
			return nil, &listenError{addr: cfg.MetricsListen, key: "metrics_listen", err: err}
		}
	}
	if cfg.Expose != nil {
		if lns.exposeHTTPS, err = net.Listen("tcp", cfg.ExposeListen.HTTPS); err != nil {
			lns.close()
			return nil, &listenError{addr: cfg.ExposeListen.HTTPS, key: "expose.https_listen", err: err}
		}
		if cfg.ExposeListen.HTTP != "" {
			if lns.exposeHTTP, err = net.Listen("tcp", cfg.ExposeListen.HTTP); err != nil {
				lns.close()
				return nil, &listenError{addr: cfg.ExposeListen.HTTP, key: "expose.http_listen", err: err}
			}
		}
		if cfg.Expose.HTTPSPort == 0 {
			// The URLs name the port the gateway listens on, unless the
			// config says the public one differs (a load balancer's).
			cfg.Expose.HTTPSPort = lns.exposeHTTPS.Addr().(*net.TCPAddr).Port
		}
	}
	return lns, nil
}

func (l *gatewayListeners) close() {
	l.tls.Close()
	if l.ssh != nil {
		l.ssh.Close()
	}
	for _, ln := range []net.Listener{l.metrics, l.exposeHTTPS, l.exposeHTTP} {
		if ln != nil {
			ln.Close()
		}
	}
}

// announcement is what the gateway announces it serves on.
func (l *gatewayListeners) announcement(cert tls.Certificate, cfg *config.Config) tunnel.Announcement {
	a := tunnel.Announcement{Fingerprint: tunnel.Fingerprint(cert.Certificate[0]), Listen: l.tls.Addr().String(), Projects: cfg.Catalog.ProjectNames()}
	if l.ssh != nil {
		a.SSHListen, a.SSHFingerprint = l.ssh.Addr().String(), ssh.FingerprintSHA256(l.hostKey.PublicKey())
	}
	if l.metrics != nil {
		a.MetricsListen = l.metrics.Addr().String()
	}
	if l.exposeHTTPS != nil {
		a.ExposeHTTPS, a.ExposeDomain = l.exposeHTTPS.Addr().String(), cfg.Expose.Domain
	}
	if l.exposeHTTP != nil {
		a.ExposeHTTP = l.exposeHTTP.Addr().String()
	}
	return a
}

// exposeCertificate loads expose.tls, or the self-signed wildcard
// certificate for *.domain kept beside the config (made on first start).
func exposeCertificate(cfg *config.Config, lns *gatewayListeners, log *slog.Logger) error {
	if lns.exposeHTTPS == nil {
		return nil
	}
	t := cfg.ExposeListen.TLS
	cert, created, err := tunnel.LoadOrCreateCertificateFor(t.Cert, t.Key, "*."+cfg.Expose.Domain, cfg.Expose.Domain)
	if err != nil {
		return &config.Error{File: cfg.Path, Path: "expose.tls", Err: err,
			Msg: fmt.Sprintf("cannot load the expose certificate %s and key %s: %v: fix expose.tls, or remove it for a self-signed one", t.Cert, t.Key, rootErr(err))}
	}
	if created {
		log.Warn("made a self-signed certificate for exposures: browsers will warn until expose.tls names a real wildcard certificate", "cert", t.Cert, "domain", "*."+cfg.Expose.Domain)
	}
	lns.exposeCert = cert
	return nil
}

// metricsServer is the health and metrics server of metrics_listen, the
// gateway's observer. A nil one (no metrics_listen) does nothing.
type metricsServer struct {
	m   *gwmetrics.Metrics
	srv *gwmetrics.Server
}

// startMetrics serves health and metrics on lns.metrics, if there is
// one, and makes them gw's observer; until setReady, /readyz says 503.
func startMetrics(gw *tunnel.Gateway, lns *gatewayListeners, log *slog.Logger) (*metricsServer, error) {
	if lns.metrics == nil {
		return nil, nil
	}
	m, err := gwmetrics.New(gwmetrics.Options{Transports: tunnel.Transports(), LoginReasons: tunnel.LoginFailureReasons()})
	if err != nil {
		return nil, err
	}
	gw.Observer = m
	return &metricsServer{m: m, srv: m.Serve(lns.metrics, log)}, nil
}

func (s *metricsServer) setReady(ready bool) {
	if s != nil {
		s.m.SetReady(ready)
	}
}

// reloaded counts a reload of the config, failed when err is not nil.
func (s *metricsServer) reloaded(err error) {
	if s != nil {
		s.m.CatalogReloaded(err)
	}
}

func (s *metricsServer) close() {
	if s != nil {
		s.srv.Close()
	}
}

// gatewayHostKey loads the SSH host key, or makes one on the first start,
// when the gateway speaks SSH; nil when it does not.
func gatewayHostKey(cfg *config.Config, lns *gatewayListeners, log *slog.Logger) (ssh.Signer, error) {
	if lns.ssh == nil {
		return nil, nil
	}
	key, created, err := sshkeys.LoadOrCreateHostKey(cfg.SSHHostKey)
	if err != nil {
		return nil, &config.Error{File: cfg.Path, Path: "ssh_host_key", Err: err,
			Msg: "cannot load the SSH host key: " + strings.TrimPrefix(err.Error(), "sshkeys: ")}
	}
	if created {
		log.Info("made an SSH host key", "key", cfg.SSHHostKey, "fingerprint", ssh.FingerprintSHA256(key.PublicKey()))
	}
	return key, nil
}

// serveUntilDone serves until ctx ends, then drains within the grace
// period. When a listener fails for good, the other stops too. setReady
// hears that the gateway serves, and that it stopped or drains: from
// then on a load balancer should send new clients elsewhere.
func serveUntilDone(ctx context.Context, gw *tunnel.Gateway, lns *gatewayListeners, limits tunnel.Limits, log *slog.Logger, setReady func(bool)) error {
	errc := make(chan error, 4)
	serving := 1
	go func() { errc <- gw.Serve(lns.tls) }()
	if lns.ssh != nil {
		serving++
		go func() { errc <- gw.ServeSSH(lns.ssh, lns.hostKey) }()
	}
	if lns.exposeHTTPS != nil {
		serving++
		conf := &tls.Config{Certificates: []tls.Certificate{lns.exposeCert}, MinVersion: tls.VersionTLS12}
		go func() { errc <- gw.ServeExposeHTTPS(lns.exposeHTTPS, conf) }()
	}
	if lns.exposeHTTP != nil {
		serving++
		go func() { errc <- gw.ServeExposeHTTP(lns.exposeHTTP) }()
	}
	setReady(true)
	var first error
	select {
	case first = <-errc:
		serving--
	case <-ctx.Done():
		log.Info("stopping: draining sessions", "grace", limits.ShutdownGrace)
	}
	setReady(false)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), limits.ShutdownGrace)
	defer cancel()
	if err := gw.Shutdown(shutdownCtx); err != nil {
		log.Warn("grace period over: open streams were cut")
	}
	for ; serving > 0; serving-- {
		if err := <-errc; first == nil {
			first = err
		}
	}
	if errors.Is(first, tunnel.ErrGatewayClosed) {
		return nil
	}
	return first
}

// gatewayCertificate loads the configured pair, or a self-signed one kept
// beside the config (made on first start). A configured pair that cannot
// be loaded is an error: a typo in tls: must not quietly turn a CA-signed
// gateway into a self-signed one.
func gatewayCertificate(cfg *config.Config, log *slog.Logger) (tls.Certificate, error) {
	if cfg.TLS.Cert != "" {
		cert, err := tls.LoadX509KeyPair(cfg.TLS.Cert, cfg.TLS.Key)
		if err != nil {
			return cert, &config.Error{File: cfg.Path, Path: "tls", Err: err,
				Msg: fmt.Sprintf("cannot load the certificate %s and key %s: %v: fix tls.cert and tls.key, or remove tls: for a self-signed certificate", cfg.TLS.Cert, cfg.TLS.Key, rootErr(err))}
		}
		return cert, nil
	}
	dir := filepath.Dir(cfg.Path)
	certPath, keyPath := filepath.Join(dir, "gateway.crt"), filepath.Join(dir, "gateway.key")
	cert, created, err := tunnel.LoadOrCreateCertificate(certPath, keyPath)
	if err != nil {
		return cert, err
	}
	if created {
		log.Info("made a self-signed certificate", "cert", certPath, "key", keyPath)
	}
	return cert, nil
}

// announceGateway tells scripts and people that the gateway serves: its
// tunnel.Announcement as one JSON line, or a few lines of text.
func announceGateway(w io.Writer, jsonOut bool, a tunnel.Announcement) error {
	if jsonOut {
		return writeJSONLine(w, a)
	}
	_, err := fmt.Fprintf(w, "fwd gateway listening on %s\nfingerprint %s\nprojects: %s\nclients: FWD_GATEWAY=%s FWD_FINGERPRINT=%s FWD_TOKEN=... fwd all --project NAME\n",
		a.Listen, a.Fingerprint, strings.Join(a.Projects, ", "), a.Listen, a.Fingerprint)
	if err == nil && a.MetricsListen != "" {
		_, err = fmt.Fprintf(w, "health and metrics on http://%s (/healthz, /readyz, /metrics)\n", a.MetricsListen)
	}
	if err == nil && a.ExposeHTTPS != "" {
		_, err = fmt.Fprintf(w, "exposing on %s (HTTPS)", a.ExposeHTTPS)
		if err == nil && a.ExposeHTTP != "" {
			_, err = fmt.Fprintf(w, " and %s (HTTP, redirected)", a.ExposeHTTP)
		}
		if err == nil {
			_, err = fmt.Fprintf(w, ": fwd expose PORT publishes https://NAME.%s\n", a.ExposeDomain)
		}
	}
	if err != nil || a.SSHListen == "" {
		return err
	}
	host, port, _ := net.SplitHostPort(a.SSHListen)
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "GATEWAY" // every interface: the name users reach it by
	}
	_, err = fmt.Fprintf(w, "ssh listening on %s\nssh host key %s\nssh users: ssh -N -L 5432:<name>.<project>:5432 -p %s USER@%s\n",
		a.SSHListen, a.SSHFingerprint, port, host)
	return err
}

// tokenOptions are the flags of fwd gateway token.
type tokenOptions struct {
	name     string
	projects []string
	expose   bool
	output   outputFlag
}

func newGatewayTokenCmd(s streams) *cobra.Command {
	opts := &tokenOptions{}
	cmd := &cobra.Command{
		Use:   "token",
		Short: "Make a new access token and print the config lines that accept it",
		Long: `Prints a new random token once, with the YAML lines to paste under tokens:
in the gateway config. The gateway keeps only the token's SHA-256; store the
token itself somewhere safe, it cannot be shown again.`,
		Example: "  fwd gateway token --name alice --projects shop,billing\n  fwd gateway token --name ci --projects '*' --output json",
		Args:    cobra.NoArgs,
		RunE: func(*cobra.Command, []string) error {
			if err := opts.output.validate(); err != nil {
				return err
			}
			if opts.name == "" || len(opts.projects) == 0 {
				return usageErrorf("pass --name NAME and --projects a,b (or '*' for all projects)")
			}
			return runGatewayToken(opts, s)
		},
	}
	cmd.Flags().StringVar(&opts.name, "name", "", "who or what the token is for, shown in gateway logs (required)")
	cmd.Flags().StringSliceVar(&opts.projects, "projects", nil, "projects the token may forward, or '*' (required)")
	cmd.Flags().BoolVar(&opts.expose, "expose", false, "the token may also publish ports of its machine (fwd expose)")
	opts.output.register(cmd)
	return cmd
}

func runGatewayToken(o *tokenOptions, s streams) error {
	token, err := tunnel.NewToken()
	if err != nil {
		return err
	}
	sum := tunnel.HashToken(token)
	if o.output.json() {
		return writeJSONLine(s.Out, map[string]any{"name": o.name, "token": token, "sha256": sum, "projects": o.projects, "expose": o.expose})
	}
	lines := config.TokenYAML(o.name, sum, o.projects)
	if o.expose {
		lines += "    expose: true\n"
	}
	_, err = fmt.Fprintf(s.Out, "token (shown once; give it to %s as FWD_TOKEN):\n  %s\n\nadd to the gateway config under tokens:\n%s", o.name, token, lines)
	return err
}

// rootErr is the innermost error, for a message that names the path itself.
func rootErr(err error) error {
	for {
		next := errors.Unwrap(err)
		if next == nil {
			return err
		}
		err = next
	}
}

// listenError is a gateway that could not listen; exit.go says what to do.
// key names the config key of an address other than listen's.
type listenError struct {
	addr string
	key  string
	err  error
}

func (e *listenError) Error() string {
	if e.key != "" {
		return fmt.Sprintf("cannot listen on %s (%s): %v", e.addr, e.key, e.err)
	}
	return fmt.Sprintf("cannot listen on %s: %v", e.addr, e.err)
}
func (e *listenError) Unwrap() error { return e.err }
