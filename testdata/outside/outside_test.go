// Package outside uses fwd the way another module would: nothing here can
// name an internal package.
package outside

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"io"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// echoServer is a private service: it sends back what it receives.
func echoServer(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// serveGateway serves cfg on loopback with a self-signed certificate made
// for it, until the test ends; it returns the address and the
// certificate's fingerprint, for clients to pin.
func serveGateway(t *testing.T, cfg *tunnel.GatewayConfig) (addr, fingerprint string) {
	t.Helper()
	certPEM, keyPEM, err := tunnel.GenerateCertificate()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	gw := &tunnel.Gateway{Config: cfg, TLS: tunnel.ServerTLSConfig(cert)}
	go gw.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	return ln.Addr().String(), tunnel.Fingerprint(cert.Certificate[0])
}

// TestGatewayAndClientFromTheAPI builds a gateway in code, with a catalog
// and a token, serves it on loopback, and forwards an addon through it
// with a forward.Client.
func TestGatewayAndClientFromTheAPI(t *testing.T) {
	token, err := tunnel.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	db := catalog.Resource{Kind: catalog.Addon, Project: "shop", Name: "db",
		Ports: []catalog.Port{{Name: "postgres", Port: 25499, Protocol: catalog.TCP, Targets: []string{echoServer(t)}}}}
	cfg := &tunnel.GatewayConfig{
		Tokens:  []tunnel.Token{{Name: "outsider", SHA256: sha256.Sum256([]byte(token)), Projects: []string{"shop"}}},
		Catalog: catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Addons: []catalog.Resource{db}}}},
		Limits:  tunnel.DefaultLimits(),
	}
	addr, fingerprint := serveGateway(t, cfg)

	client, err := forward.New(forward.Options{
		Gateway:       addr,
		Token:         token,
		Trust:         tunnel.Trust{Fingerprint: fingerprint},
		SkipHostnames: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Stop()
	ctx := context.Background()
	cat, err := client.Catalog(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(cat.Projects) != 1 || len(cat.Projects[0].Addons) != 1 || cat.Projects[0].Addons[0].Ports[0].Targets != nil {
		t.Fatalf("catalog %+v: want shop with its addon and no targets", cat)
	}
	results, err := client.ForwardAddon(ctx, "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	d := results[0].Data
	conn, err := net.DialTimeout("tcp", net.JoinHostPort(d.Address, strconv.Itoa(d.Port)), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	msg := "bytes from outside the module"
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != msg {
		t.Fatalf("echo through the forward: %q, %v", got, err)
	}
}

// TestExposeFromTheAPI publishes a local TCP server through a gateway
// built in code, with forward.Client.Expose, and reaches it through the
// gateway's public side: the expose API needs nothing internal either.
func TestExposeFromTheAPI(t *testing.T) {
	token, err := tunnel.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	cfg := &tunnel.GatewayConfig{
		Tokens: []tunnel.Token{{Name: "outsider", SHA256: sha256.Sum256([]byte(token)), Projects: []string{"*"}, Expose: true}},
		Expose: &tunnel.ExposeConfig{Domain: "outside.test", TCPPorts: [2]uint16{26150, 26159}, TCPHost: "127.0.0.4", PublicHost: "127.0.0.4"},
		Limits: tunnel.DefaultLimits(),
	}
	addr, fingerprint := serveGateway(t, cfg)
	client, err := forward.New(forward.Options{Gateway: addr, Token: token,
		Trust: tunnel.Trust{Fingerprint: fingerprint}, SkipHostnames: true})
	if err != nil {
		t.Fatal(err)
	}
	defer client.Stop()
	app := echoServer(t)
	_, port, _ := net.SplitHostPort(app)
	p, _ := strconv.Atoi(port)
	err = client.WithExposing(context.Background(), []forward.Exposure{{LocalPort: uint16(p), LocalAddr: app, Name: "echo", TCP: true}},
		func(_ context.Context, rs []forward.ExposeResult) error {
			if rs[0].Error != nil {
				t.Fatalf("expose: %s", rs[0].Error.Message)
			}
			conn, err := net.DialTimeout("tcp", rs[0].TCPAddr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			io.WriteString(conn, "from the public side")
			got := make([]byte, len("from the public side"))
			if _, err := io.ReadFull(conn, got); err != nil || string(got) != "from the public side" {
				t.Fatalf("echo through the exposure %s: %q, %v", rs[0].TCPAddr, got, err)
			}
			return nil
		})
	if err != nil {
		t.Fatal(err)
	}
	if len(client.ExposeResults()) != 0 {
		t.Errorf("exposures left after WithExposing: %+v", client.ExposeResults())
	}
}
