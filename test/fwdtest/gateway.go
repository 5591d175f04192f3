package fwdtest

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// Gateway is a gateway serving in-process on a loopback port, over real TLS
// with the shared test certificate (Certificate: clients may pin its
// fingerprint or trust the test CA, CAPool).
type Gateway struct {
	Addr        string // host:port it listens on
	Fingerprint string // its certificate's, to pin
	Token       string // a token that sees every project
	// Config is what it serves. Change it only through Restart.
	Config *tunnel.GatewayConfig

	// Edge is where exposures are reached, with WithExpose.
	Edge *Edge

	tls      *tls.Config
	edgeCert tls.Certificate
	log      *slog.Logger
	gw       *tunnel.Gateway
	wg       sync.WaitGroup
	once     sync.Once
}

// Option changes a gateway's config before it serves.
type Option func(*tunnel.GatewayConfig)

// WithLimits sets the gateway's limits.
func WithLimits(l tunnel.Limits) Option {
	return func(c *tunnel.GatewayConfig) { c.Limits = l }
}

// WithHostnameSuffixes sets the suffixes its catalog's hostnames may be
// written under (the default is none).
func WithHostnameSuffixes(s ...string) Option {
	return func(c *tunnel.GatewayConfig) { c.HostnameSuffixes = s }
}

// WithUsers adds users who log in with SSH keys or certificates.
func WithUsers(u ...tunnel.User) Option {
	return func(c *tunnel.GatewayConfig) { c.Users = append(c.Users, u...) }
}

// WithSecrets sets where the secrets of the catalog's env templates come
// from.
func WithSecrets(s map[string]tunnel.SecretSource) Option {
	return func(c *tunnel.GatewayConfig) { c.Secrets = s }
}

// NewGateway starts a gateway serving cat to one token that sees every
// project, logging to Logger(t). It is closed when the test ends.
func NewGateway(t testing.TB, cat catalog.Catalog, opts ...Option) *Gateway {
	t.Helper()
	g, err := StartGateway(cat, Logger(t).With("side", "gateway"), opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { g.Close() })
	return g
}

// StartGateway is NewGateway for callers without a testing.TB; they Close
// it. A nil log discards the gateway's logs.
func StartGateway(cat catalog.Catalog, log *slog.Logger, opts ...Option) (*Gateway, error) {
	token, err := tunnel.NewToken()
	if err != nil {
		return nil, err
	}
	cfg := &tunnel.GatewayConfig{
		Tokens:  []tunnel.Token{{Name: "test", SHA256: sha256.Sum256([]byte(token)), Projects: []string{"*"}}},
		Catalog: cat,
		Limits:  tunnel.DefaultLimits(),
	}
	for _, o := range opts {
		o(cfg)
	}
	cert, err := Certificate()
	if err != nil {
		return nil, err
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	g := &Gateway{Token: token, Config: cfg, Fingerprint: tunnel.Fingerprint(cert.Certificate[0]), tls: tunnel.ServerTLSConfig(cert), log: log}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("fwdtest: gateway listen: %w", err)
	}
	g.Addr = ln.Addr().String()
	if err := g.serve(ln); err != nil {
		ln.Close()
		return nil, err
	}
	return g, nil
}

func (g *Gateway) serve(ln net.Listener) error {
	g.gw = &tunnel.Gateway{Config: g.Config, TLS: g.tls, Logger: g.log}
	gw := g.gw
	if err := g.serveEdge(); err != nil {
		return err
	}
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		gw.Serve(ln)
	}()
	return nil
}

// Trust is how a client trusts this gateway: its pinned fingerprint.
func (g *Gateway) Trust() tunnel.Trust { return tunnel.Trust{Fingerprint: g.Fingerprint} }

// Drain shuts the gateway down gracefully: clients are told it is going away
// and open streams may finish until ctx ends.
func (g *Gateway) Drain(ctx context.Context) error { return g.gw.Shutdown(ctx) }

// Stop stops the gateway at once, cutting every session, as a crash would.
func (g *Gateway) Stop() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	g.gw.Shutdown(ctx)
	g.wg.Wait()
}

// Restart starts the gateway again on the same address, with the same
// certificate and token, serving cat. Call Stop or Drain first.
func (g *Gateway) Restart(cat catalog.Catalog) error {
	ln, err := net.Listen("tcp", g.Addr)
	if err != nil {
		return fmt.Errorf("fwdtest: restart gateway: %w", err)
	}
	cfg := *g.Config
	cfg.Catalog = cat
	g.Config = &cfg
	if cfg.Expose != nil {
		e := *cfg.Expose
		cfg.Expose = &e
	}
	if err := g.serve(ln); err != nil {
		ln.Close()
		return err
	}
	return nil
}

// Reload serves cat from now on without a restart, as a reloaded config
// file does: connected clients get it pushed (tunnel.Gateway.Reload).
func (g *Gateway) Reload(cat catalog.Catalog) {
	g.ReloadWith(func(cfg *tunnel.GatewayConfig) { cfg.Catalog = cat })
}

// ReloadWith serves the config as mod changes it from now on, as a
// reloaded config file does (the tokens' slice is copied first).
func (g *Gateway) ReloadWith(mod Option) {
	cfg := *g.Config
	cfg.Tokens = append([]tunnel.Token(nil), cfg.Tokens...)
	mod(&cfg)
	g.Config = &cfg
	g.gw.Reload(&cfg)
}

// Close stops the gateway, giving open streams up to 2 s.
func (g *Gateway) Close() error {
	g.once.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		g.gw.Shutdown(ctx)
		g.wg.Wait()
	})
	return nil
}

// NewClient returns a forward.Client of g that pins its certificate and
// leaves the hosts file alone, logging to Logger(t); mod, if set, changes
// its options first. It is stopped when the test ends.
func NewClient(t testing.TB, g *Gateway, mod func(*forward.Options)) *forward.Client {
	t.Helper()
	opts := forward.Options{
		Gateway:       g.Addr,
		Token:         g.Token,
		Trust:         g.Trust(),
		SkipHostnames: true,
		Logger:        Logger(t).With("side", "client"),
	}
	if mod != nil {
		mod(&opts)
	}
	c, err := forward.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Stop(); err != nil {
			t.Errorf("client Stop: %v", err)
		}
	})
	return c
}

// Logger is a logger for t at debug level: with go test -v it writes to
// stderr as it goes; otherwise it keeps the lines and logs them through t
// only if the test fails, where they explain the failure.
func Logger(t testing.TB) *slog.Logger {
	opts := &slog.HandlerOptions{Level: slog.LevelDebug}
	if testing.Verbose() {
		return slog.New(slog.NewTextHandler(os.Stderr, opts)).With("test", t.Name())
	}
	logs := &SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() && logs.String() != "" {
			t.Logf("fwd logs:\n%s", logs.String())
		}
	})
	return slog.New(slog.NewTextHandler(logs, opts))
}
