package tunnel_test

import (
	"crypto/sha256"
	"errors"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// reloaded is base with changes made by edit on a copy: Reload takes a
// new config, it never sees the old one modified.
func reloaded(base *tunnel.GatewayConfig, edit func(*tunnel.GatewayConfig)) *tunnel.GatewayConfig {
	c := *base
	c.Tokens = append([]tunnel.Token(nil), c.Tokens...)
	c.Catalog.Projects = append([]catalog.Project(nil), c.Catalog.Projects...)
	edit(&c)
	return &c
}

func waitUpdate(t *testing.T, s *tunnel.Session) {
	t.Helper()
	select {
	case <-s.Updates():
	case <-time.After(5 * time.Second):
		t.Fatal("no catalog push within 5s of Reload")
	}
}

func TestReloadPushesTheNewCatalog(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	s, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	web := catalog.Resource{Kind: catalog.Service, Project: "shop", Name: "web",
		Ports: []catalog.Port{{Name: "http", Port: 8080, Protocol: catalog.TCP, Targets: []string{f.echo}}}}
	withWeb := reloaded(f.gw.Config, func(c *tunnel.GatewayConfig) {
		shop := c.Catalog.Projects[0]
		shop.Services = append(append([]catalog.Resource(nil), shop.Services...), web)
		c.Catalog.Projects[0] = shop
	})
	f.gw.Reload(withWeb)
	waitUpdate(t, s)
	cat := s.Catalog()
	p, err := cat.Project("shop")
	if err != nil || len(p.Services) != 2 {
		t.Fatalf("pushed catalog: %+v, %v; want shop with api and web", cat, err)
	}
	if len(p.Services[1].Ports[0].Targets) != 0 {
		t.Errorf("the push carries targets: %v", p.Services[1].Ports)
	}
	if names := cat.ProjectNames(); len(names) != 1 {
		t.Errorf("the push shows projects outside the token's scope: %v", names)
	}
	echoThrough(t, s, tunnel.Target{ID: web.ID(), Network: "tcp", Port: 8080})

	// A reload that changes nothing this token sees pushes nothing.
	f.gw.Reload(reloaded(withWeb, func(c *tunnel.GatewayConfig) {
		c.Catalog.Projects[1] = catalog.Project{Name: "secret"}
	}))
	select {
	case <-s.Updates():
		t.Error("a change outside the token's scope was pushed")
	case <-time.After(300 * time.Millisecond):
	}
}

func TestReloadNarrowsAndWidensScope(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	s, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	secret := tunnel.Target{ID: catalog.ID{Project: "secret", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 80}
	f.gw.Reload(reloaded(f.gw.Config, func(c *tunnel.GatewayConfig) { c.Tokens[0].Projects = []string{"shop", "secret"} }))
	waitUpdate(t, s)
	if cat := s.Catalog(); len(cat.ProjectNames()) != 2 {
		t.Fatalf("widened token sees %v, want shop and secret", cat.ProjectNames())
	}
	echoThrough(t, s, secret)

	f.gw.Reload(reloaded(f.gw.Config, func(c *tunnel.GatewayConfig) { c.Tokens[0].Projects = []string{"shop"} }))
	waitUpdate(t, s)
	st, err := s.Open(secret)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var se *tunnel.StreamError
	if err := st.Status(); !errors.As(err, &se) || se.Status != tunnel.StatusNotFound {
		t.Errorf("stream to a project taken out of scope: %v, want not found", err)
	}
}

func TestReloadEndsRevokedTokens(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	s, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	const next = "fwd_next_token"
	f.gw.Reload(reloaded(f.gw.Config, func(c *tunnel.GatewayConfig) {
		c.Tokens = []tunnel.Token{{Name: "t", SHA256: sha256.Sum256([]byte(next)), Projects: []string{"shop"}}}
	}))
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session of a removed token still up 5s after Reload")
	}
	if err := s.Err(); !errors.Is(err, tunnel.ErrUnauthorized) {
		t.Fatalf("session ended with %v, want ErrUnauthorized", err)
	}
	if _, err := f.dial(t, testToken); !errors.Is(err, tunnel.ErrUnauthorized) {
		t.Fatalf("the removed token logs in again: %v", err)
	}
	s2, err := f.dial(t, next)
	if err != nil {
		t.Fatalf("the added token: %v", err)
	}
	s2.Close()
}

func echoThrough(t *testing.T, s *tunnel.Session, tg tunnel.Target) {
	t.Helper()
	st, err := s.Open(tg)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.Write([]byte("hi"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(st, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("%v: read %q, %v", tg, buf, err)
	}
}

// A port that has no targets now (a Kubernetes Service with no ready
// endpoint) refuses its streams with a reason; it does not fail the
// gateway.
func TestPortWithoutTargets(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	s, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	f.gw.Reload(reloaded(f.gw.Config, func(c *tunnel.GatewayConfig) {
		shop := c.Catalog.Projects[0]
		api := shop.Services[0]
		api.Ports = []catalog.Port{{Name: "http", Port: 80, Protocol: catalog.TCP}}
		shop.Services = []catalog.Resource{api}
		c.Catalog.Projects[0] = shop
	}))
	st, err := s.Open(tunnel.Target{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	var se *tunnel.StreamError
	if err := st.Status(); !errors.As(err, &se) || se.Status != tunnel.StatusDialFailed || !strings.Contains(se.Message, "no ready") {
		t.Fatalf("stream to a port without targets: %v, want dial failed: no ready targets", err)
	}
}
