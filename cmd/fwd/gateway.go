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

	"github.com/fwd-dev/fwd/tunnel"
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
	// certificate is made.
	ln, err := net.Listen("tcp", cfg.Listen)
	if err != nil {
		return &listenError{addr: cfg.Listen, err: err}
	}
	cert, err := gatewayCertificate(cfg, log)
	if err != nil {
		ln.Close()
		return err
	}
	gw := &tunnel.Gateway{Config: &cfg.GatewayConfig, TLS: tunnel.ServerTLSConfig(cert), Logger: log}
	fingerprint := tunnel.Fingerprint(cert.Certificate[0])
	if err := announceGateway(s.Out, o.output.json(), ln.Addr().String(), fingerprint, cfg); err != nil {
		ln.Close()
		return err
	}
	return serveUntilDone(ctx, gw, ln, cfg.Limits, log)
}

// serveUntilDone serves until ctx ends, then drains within the grace period.
func serveUntilDone(ctx context.Context, gw *tunnel.Gateway, ln net.Listener, limits tunnel.Limits, log *slog.Logger) error {
	errc := make(chan error, 1)
	go func() { errc <- gw.Serve(ln) }()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("stopping: draining sessions", "grace", limits.ShutdownGrace)
	shutdownCtx, cancel := context.WithTimeout(context.Background(), limits.ShutdownGrace)
	defer cancel()
	if err := gw.Shutdown(shutdownCtx); err != nil {
		log.Warn("grace period over: open streams were cut")
	}
	if err := <-errc; err != nil && !errors.Is(err, tunnel.ErrGatewayClosed) {
		return err
	}
	return nil
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
func announceGateway(w io.Writer, jsonOut bool, addr, fingerprint string, cfg *config.Config) error {
	if jsonOut {
		return writeJSONLine(w, tunnel.Announcement{Fingerprint: fingerprint, Listen: addr, Projects: cfg.Catalog.ProjectNames()})
	}
	_, err := fmt.Fprintf(w, "fwd gateway listening on %s\nfingerprint %s\nprojects: %s\nclients: FWD_GATEWAY=%s FWD_FINGERPRINT=%s FWD_TOKEN=... fwd all --project NAME\n",
		addr, fingerprint, strings.Join(cfg.Catalog.ProjectNames(), ", "), addr, fingerprint)
	return err
}

// tokenOptions are the flags of fwd gateway token.
type tokenOptions struct {
	name     string
	projects []string
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
		return writeJSONLine(s.Out, map[string]any{"name": o.name, "token": token, "sha256": sum, "projects": o.projects})
	}
	_, err = fmt.Fprintf(s.Out, "token (shown once; give it to %s as FWD_TOKEN):\n  %s\n\nadd to the gateway config under tokens:\n%s", o.name, token, config.TokenYAML(o.name, sum, o.projects))
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
type listenError struct {
	addr string
	err  error
}

func (e *listenError) Error() string { return fmt.Sprintf("cannot listen on %s: %v", e.addr, e.err) }
func (e *listenError) Unwrap() error { return e.err }
