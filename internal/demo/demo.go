// Package demo runs a whole fwd setup inside one process: a gateway on
// loopback with a self-signed certificate, and the private services its demo
// project points at (an HTTP service and a TCP echo addon). fwd demo uses it,
// and so do tests that want a gateway without a config file.
package demo

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/internal/catalog"
	"github.com/fwd-dev/fwd/internal/config"
	"github.com/fwd-dev/fwd/tunnel"
)

// Project is the demo project's name.
const Project = "demo"

// Env is a running demo: point a forward.Client at Gateway with Token,
// trusting Fingerprint.
type Env struct {
	Gateway     string
	Fingerprint string
	Token       string
	Config      *config.Config

	gw        *tunnel.Gateway
	tls       *tls.Config
	log       *slog.Logger
	closers   []io.Closer
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// Start starts the demo's servers and its gateway on loopback ports chosen by
// the OS.
func Start(log *slog.Logger) (*Env, error) {
	e := &Env{}
	web, err := e.listen()
	if err != nil {
		return nil, err
	}
	echo, err := e.listen()
	if err != nil {
		e.Close()
		return nil, err
	}
	e.serveHTTP(web)
	e.serveEcho(echo)
	if err := e.startGateway(Catalog(web.Addr().String(), echo.Addr().String()), nil, log); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

// NewGateway starts only a gateway, on a loopback port, serving cat to one
// token that sees every project. Tests use it with their own targets.
func NewGateway(cat catalog.Catalog, log *slog.Logger) (*Env, error) {
	return NewGatewayWithLimits(cat, config.DefaultLimits(), log)
}

// NewGatewayWithLimits is NewGateway with the gateway's limits set before
// it serves (changing them later would race with its sessions).
func NewGatewayWithLimits(cat catalog.Catalog, limits config.Limits, log *slog.Logger) (*Env, error) {
	return NewGatewayWithConfig(cat, func(c *config.Config) { c.Limits = limits }, log)
}

// NewGatewayWithConfig is NewGateway with its config changed by tweak
// before it serves.
func NewGatewayWithConfig(cat catalog.Catalog, tweak func(*config.Config), log *slog.Logger) (*Env, error) {
	e := &Env{}
	if err := e.startGateway(cat, tweak, log); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Env) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	e.closers = append(e.closers, ln)
	return ln, nil
}

// Catalog is the demo project: service web (HTTP on 8080) and addon echo (TCP
// on 7007), pointing at the given private addresses.
func Catalog(webAddr, echoAddr string) catalog.Catalog {
	return catalog.Catalog{Projects: []catalog.Project{{
		Name: Project,
		Services: []catalog.Resource{{
			Kind: catalog.Service, Project: Project, Name: "web",
			Hostnames: []string{"web.demo.fwd.local"},
			Ports:     []catalog.Port{{Name: "http", Port: 8080, Protocol: catalog.HTTP, Targets: []string{webAddr}}},
		}},
		Addons: []catalog.Resource{{
			Kind: catalog.Addon, Project: Project, Name: "echo",
			Ports: []catalog.Port{{Name: "echo", Port: 7007, Protocol: catalog.TCP, Targets: []string{echoAddr}}},
		}},
	}}}
}

func (e *Env) startGateway(cat catalog.Catalog, tweak func(*config.Config), log *slog.Logger) error {
	token, err := config.NewToken()
	if err != nil {
		return err
	}
	e.Token = token
	e.Config = &config.Config{
		Listen:           "127.0.0.1:0",
		Tokens:           []config.Token{{Name: "demo", SHA256: sha256.Sum256([]byte(token)), Projects: []string{"*"}}},
		Catalog:          cat,
		Limits:           config.DefaultLimits(),
		HostnameSuffixes: []string{"fwd.local"},
	}
	if tweak != nil {
		tweak(e.Config)
	}
	certPEM, keyPEM, err := tunnel.GenerateCertificate()
	if err != nil {
		return err
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	e.Fingerprint = tunnel.Fingerprint(cert.Certificate[0])
	ln, err := net.Listen("tcp", e.Config.Listen)
	if err != nil {
		return fmt.Errorf("demo: gateway listen: %w", err)
	}
	e.Gateway = ln.Addr().String()
	e.tls, e.log = tunnel.ServerTLSConfig(cert), log
	e.serve(ln)
	return nil
}

func (e *Env) serve(ln net.Listener) {
	e.gw = &tunnel.Gateway{Config: e.Config, TLS: e.tls, Logger: e.log}
	gw := e.gw
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		gw.Serve(ln)
	}()
}

// Drain shuts the gateway down gracefully: clients are told it is going away
// and open streams may finish until ctx ends.
func (e *Env) Drain(ctx context.Context) error { return e.gw.Shutdown(ctx) }

// Stop stops the gateway at once, cutting every session, as a crash would.
func (e *Env) Stop() {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	e.gw.Shutdown(ctx)
}

// Restart starts the gateway again on the same address, with the same
// certificate and token, serving cat. Call Stop first.
func (e *Env) Restart(cat catalog.Catalog) error {
	ln, err := net.Listen("tcp", e.Gateway)
	if err != nil {
		return fmt.Errorf("demo: restart gateway: %w", err)
	}
	cfg := *e.Config
	cfg.Catalog = cat
	e.Config = &cfg
	e.serve(ln)
	return nil
}

// serveHTTP answers every request with a short page naming the path asked for.
func (e *Env) serveHTTP(ln net.Listener) {
	srv := &http.Server{
		ReadHeaderTimeout: 10 * time.Second,
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "hello from the fwd demo web service: you asked for %s over %s\n", r.URL.Path, r.Proto)
		}),
	}
	e.closers = append(e.closers, srv)
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		srv.Serve(ln)
	}()
}

// serveEcho sends back whatever it receives, half-close included.
func (e *Env) serveEcho(ln net.Listener) {
	var conns sync.WaitGroup
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		defer conns.Wait()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer conns.Done()
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
}

// Close stops the gateway and the demo servers.
func (e *Env) Close() error {
	var err error
	e.closeOnce.Do(func() {
		if e.gw != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			if shutErr := e.gw.Shutdown(ctx); shutErr != nil && !errors.Is(shutErr, context.DeadlineExceeded) {
				err = shutErr
			}
			cancel()
		}
		for _, c := range e.closers {
			c.Close()
		}
		e.wg.Wait()
	})
	return err
}
