package fwdtest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"time"

	"github.com/fwd-dev/fwd/tunnel"
)

// ExposeDomain is the domain of the test gateways' exposures.
const ExposeDomain = "expose.test"

// WithExpose lets the gateway expose under ExposeDomain, with e's other
// settings, and gives its token the expose permission. The edge listens
// on 127.0.0.1 (Gateway.Edge) once the gateway serves.
func WithExpose(e tunnel.ExposeConfig) Option {
	return func(c *tunnel.GatewayConfig) {
		if e.Domain == "" {
			e.Domain = ExposeDomain
		}
		c.Expose = &e
		for i := range c.Tokens {
			c.Tokens[i].Expose = true
		}
	}
}

// Edge is where a test gateway's exposures are reached: its HTTPS and
// HTTP listeners.
type Edge struct {
	HTTPS, HTTP string
}

// ExposeCertificate is a wildcard certificate for *.domain signed by the
// test CA (CAPool, testdata/certs/ca.pem), made fresh.
func ExposeCertificate(domain string) (tls.Certificate, error) {
	caPair, err := loadPair("ca")
	if err != nil {
		return tls.Certificate{}, err
	}
	ca, err := x509.ParseCertificate(caPair.Certificate[0])
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fwdtest: test CA: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: "*." + domain},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{"*." + domain, domain},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caPair.PrivateKey)
	if err != nil {
		return tls.Certificate{}, fmt.Errorf("fwdtest: sign expose certificate: %w", err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: nil}, nil
}

// serveEdge starts the gateway's edge listeners, on the addresses they
// had before a restart.
func (g *Gateway) serveEdge() error {
	if g.Config.Expose == nil {
		return nil
	}
	if g.edgeCert.Certificate == nil {
		cert, err := ExposeCertificate(g.Config.Expose.Domain)
		if err != nil {
			return err
		}
		g.edgeCert = cert
		g.Edge = &Edge{HTTPS: "127.0.0.1:0", HTTP: "127.0.0.1:0"}
	}
	https, err := net.Listen("tcp", g.Edge.HTTPS)
	if err != nil {
		return fmt.Errorf("fwdtest: edge listen: %w", err)
	}
	http, err := net.Listen("tcp", g.Edge.HTTP)
	if err != nil {
		https.Close()
		return fmt.Errorf("fwdtest: edge listen: %w", err)
	}
	g.Edge.HTTPS, g.Edge.HTTP = https.Addr().String(), http.Addr().String()
	g.Config.Expose.HTTPSPort = https.Addr().(*net.TCPAddr).Port
	gw := g.gw
	conf := &tls.Config{Certificates: []tls.Certificate{g.edgeCert}}
	g.wg.Add(2)
	go func() { defer g.wg.Done(); gw.ServeExposeHTTPS(https, conf) }()
	go func() { defer g.wg.Done(); gw.ServeExposeHTTP(http) }()
	return nil
}

// HTTPClient is a client of the gateway's exposures: every connection
// goes to the edge's HTTPS listener, whatever host the URL names (curl's
// --resolve), trusting the test CA; h2 says whether it offers HTTP/2.
func (g *Gateway) HTTPClient(h2 bool) (*http.Client, error) {
	pool, err := CAPool()
	if err != nil {
		return nil, err
	}
	edge := g.Edge.HTTPS
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: pool},
		ForceAttemptHTTP2: h2,
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, edge)
		},
	}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}, nil
}
