package tunnel_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"time"

	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// A gateway built in code: one project with one addon, one token that may
// see it, a self-signed certificate that clients pin.
func ExampleGateway() {
	token, _ := tunnel.NewToken()
	cfg := &tunnel.GatewayConfig{
		Tokens: []tunnel.Token{{Name: "alice", SHA256: sha256.Sum256([]byte(token)), Projects: []string{"shop"}}},
		Catalog: catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Addons: []catalog.Resource{{
			Kind: catalog.Addon, Project: "shop", Name: "db",
			Ports: []catalog.Port{{Name: "postgres", Port: 5432, Protocol: catalog.TCP, Targets: []string{"10.0.0.9:5432"}}},
		}}}}},
		Limits: tunnel.DefaultLimits(),
	}
	certPEM, keyPEM, _ := tunnel.GenerateCertificate()
	cert, _ := tls.X509KeyPair(certPEM, keyPEM)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		fmt.Println(err)
		return
	}
	gw := &tunnel.Gateway{Config: cfg, TLS: tunnel.ServerTLSConfig(cert)}
	go gw.Serve(ln)

	// A client logs in and sees what the token may see, without targets.
	s, err := tunnel.Dial(context.Background(), ln.Addr().String(), &tunnel.ClientConfig{
		Token: token,
		Trust: tunnel.Trust{Fingerprint: tunnel.Fingerprint(cert.Certificate[0])},
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	cat := s.Catalog()
	db := cat.Projects[0].Addons[0]
	fmt.Println(cat.ProjectNames(), db.Name, db.Ports[0].Port, db.Ports[0].Targets == nil)
	s.Close()

	// Shutdown drains: sessions are told to go, open streams may finish.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	fmt.Println(gw.Shutdown(ctx))
	// Output:
	// [shop] db 5432 true
	// <nil>
}

// A gateway's config from YAML, as fwd gateway --config reads it.
func ExampleGateway_fromConfig() {
	cfg, err := config.Parse("gateway.yaml", []byte(`
tokens:
  - {name: alice, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, projects: [shop]}
projects:
  - name: shop
    services:
      - name: api
        ports: [{name: http, port: 8080, protocol: HTTP, targets: [10.0.0.5:8080]}]
`))
	if err != nil {
		fmt.Println(err)
		return
	}
	gw := &tunnel.Gateway{Config: &cfg.GatewayConfig}
	fmt.Println(cfg.Listen, gw.Config.Catalog.ProjectNames(), gw.Config.Limits.MaxSessions)
	// Output: 127.0.0.1:7443 [shop] 1024
}
