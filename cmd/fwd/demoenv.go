package main

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// demoProject is the demo's project name.
const demoProject = "demo"

// demoEnv is fwd demo's whole setup in this process: a gateway on loopback
// with a self-signed certificate, and the private services its project
// points at (an HTTP service and a TCP echo addon).
type demoEnv struct {
	Gateway     string
	Fingerprint string
	Token       string

	gw      *tunnel.Gateway
	closers []io.Closer
	wg      sync.WaitGroup
}

// startDemo starts the demo's servers and its gateway on loopback ports
// chosen by the OS.
func startDemo(log *slog.Logger) (*demoEnv, error) {
	e := &demoEnv{}
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
	if err := e.startGateway(demoCatalog(web.Addr().String(), echo.Addr().String()), log); err != nil {
		e.Close()
		return nil, err
	}
	return e, nil
}

func (e *demoEnv) listen() (net.Listener, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: listen: %w", err)
	}
	e.closers = append(e.closers, ln)
	return ln, nil
}

// demoCatalog is the demo project: service web (HTTP on 8080) and addon
// echo (TCP on 7007), pointing at the given private addresses.
func demoCatalog(webAddr, echoAddr string) catalog.Catalog {
	return catalog.Catalog{Projects: []catalog.Project{{
		Name: demoProject,
		Services: []catalog.Resource{{
			Kind: catalog.Service, Project: demoProject, Name: "web",
			Hostnames: []string{"web.demo.fwd.local"},
			Ports:     []catalog.Port{{Name: "http", Port: 8080, Protocol: catalog.HTTP, Targets: []string{webAddr}}},
		}},
		Addons: []catalog.Resource{{
			Kind: catalog.Addon, Project: demoProject, Name: "echo",
			Ports: []catalog.Port{{Name: "echo", Port: 7007, Protocol: catalog.TCP, Targets: []string{echoAddr}}},
		}},
	}}}
}

func (e *demoEnv) startGateway(cat catalog.Catalog, log *slog.Logger) error {
	token, err := tunnel.NewToken()
	if err != nil {
		return err
	}
	e.Token = token
	cfg := &tunnel.GatewayConfig{
		Tokens:           []tunnel.Token{{Name: "demo", SHA256: sha256.Sum256([]byte(token)), Projects: []string{"*"}}},
		Catalog:          cat,
		HostnameSuffixes: []string{"fwd.local"},
		Limits:           tunnel.DefaultLimits(),
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
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return fmt.Errorf("demo: gateway listen: %w", err)
	}
	e.Gateway = ln.Addr().String()
	e.gw = &tunnel.Gateway{Config: cfg, TLS: tunnel.ServerTLSConfig(cert), Logger: log}
	e.wg.Add(1)
	go func() {
		defer e.wg.Done()
		e.gw.Serve(ln)
	}()
	return nil
}

// serveHTTP answers every request with a short page naming the path asked for.
func (e *demoEnv) serveHTTP(ln net.Listener) {
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
func (e *demoEnv) serveEcho(ln net.Listener) {
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

// Close stops the gateway, giving open streams 2 s, and the demo servers.
func (e *demoEnv) Close() {
	if e.gw != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		e.gw.Shutdown(ctx)
		cancel()
	}
	for _, c := range e.closers {
		c.Close()
	}
	e.wg.Wait()
}
