package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// exposeBase is a config of lines 1-4 that an expose: section follows.
const exposeBase = "tokens:\n  - {name: a, sha256: 9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08, projects: [\"*\"], expose: true}\nprojects:\n  - {name: shop, services: [{name: api, ports: [{port: 80, targets: [\"10.0.0.1:80\"]}]}]}\n"

func TestParseExpose(t *testing.T) {
	c, err := Parse("e.yaml", []byte(exposeBase+`expose:
  domain: Fwd.Example.dev
  https_listen: 0.0.0.0:443
  http_listen: 0.0.0.0:80
  tls: {cert: w.crt, key: w.key}
  https_port: 8443
  tcp_ports: 30000-30999
  tcp_host: 0.0.0.0
  public_host: tcp.example.dev
  lease_file: leases.json
  lease_ttl: 12h
  max_per_login: 5
  response_header_timeout: 5m
  idle_timeout: 30s
`))
	if err != nil {
		t.Fatal(err)
	}
	e := c.Expose
	if e == nil || !c.Tokens[0].Expose {
		t.Fatalf("expose %+v, token expose %v", e, c.Tokens[0].Expose)
	}
	if e.Domain != "Fwd.Example.dev" || e.HTTPSPort != 8443 || e.TCPPorts != [2]uint16{30000, 30999} || e.TCPHost != "0.0.0.0" ||
		e.PublicHost != "tcp.example.dev" || e.LeaseFile != "leases.json" || e.LeaseTTL != 12*time.Hour || e.MaxPerLogin != 5 ||
		e.ResponseHeaderTimeout != 5*time.Minute || e.IdleTimeout != 30*time.Second {
		t.Errorf("expose %+v", e)
	}
	if l := c.ExposeListen; l.HTTPS != "0.0.0.0:443" || l.HTTP != "0.0.0.0:80" || l.TLS != (TLS{Cert: "w.crt", Key: "w.key"}) {
		t.Errorf("listeners %+v", l)
	}
}

// TestLoadExposeDefaults: Load puts the self-signed certificate and the
// lease file beside the config when expose: names neither.
func TestLoadExposeDefaults(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "gw.yaml")
	writeFile(t, path, exposeBase+"expose: {domain: x.test, https_listen: \"127.0.0.1:0\"}\n")
	c, err := Load(path)
	if err != nil {
		t.Fatal(err)
	}
	if c.Expose.LeaseFile != filepath.Join(dir, DefaultLeaseFile) || c.ExposeListen.TLS.Cert != filepath.Join(dir, DefaultExposeCert) ||
		c.ExposeListen.TLS.Key != filepath.Join(dir, DefaultExposeKey) {
		t.Errorf("defaults: lease file %q, tls %+v", c.Expose.LeaseFile, c.ExposeListen.TLS)
	}
	writeFile(t, path, exposeBase)
	if c, err := Load(path); err != nil || c.Expose != nil {
		t.Errorf("without expose: %+v, %v", c.Expose, err)
	}
}

func TestParseExposeErrors(t *testing.T) {
	for _, c := range []struct {
		name, yaml string
		line       int
		want       string
	}{
		{"no domain", "expose: {https_listen: \":443\"}\n", 5, "expose has no domain"},
		{"bad domain", "expose: {domain: \"a b\", https_listen: \":443\"}\n", 5, "is not a DNS name"},
		{"no https_listen", "expose: {domain: x.test}\n", 5, "expose has no https_listen"},
		{"https_listen not host:port", "expose:\n  domain: x.test\n  https_listen: \"443\"\n", 7, "is not host:port"},
		{"same as listen", "listen: 127.0.0.1:7443\nexpose:\n  domain: x.test\n  https_listen: 127.0.0.1:7443\n", 8, "the same address as listen"},
		{"bad range", "expose:\n  domain: x.test\n  https_listen: \":443\"\n  tcp_ports: 30999-30000\n", 8, "write it low-high"},
		{"range not numbers", "expose:\n  domain: x.test\n  https_listen: \":443\"\n  tcp_ports: lots\n", 8, "not a port range"},
		{"tcp_host not an IP", "expose:\n  domain: x.test\n  https_listen: \":443\"\n  tcp_host: gateway\n", 8, "is not an IP address"},
		{"half a tls pair", "expose:\n  domain: x.test\n  https_listen: \":443\"\n  tls: {cert: a.crt}\n", 8, "has a cert but no key"},
		{"typo", "expose:\n  domian: x.test\n", 6, `did you mean "domain"`},
		{"https_port range", "expose:\n  domain: x.test\n  https_listen: \":443\"\n  https_port: 70000\n", 8, "out of range"},
		{"max_per_login", "expose:\n  domain: x.test\n  https_listen: \":443\"\n  max_per_login: 0\n", 8, "out of range"},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, err := Parse("e.yaml", []byte(exposeBase+c.yaml))
			var e *Error
			if !errors.As(err, &e) || e.Line != c.line || !strings.Contains(e.Error(), c.want) {
				t.Errorf("error %v (line %d), want line %d and %q", err, lineOf(err), c.line, c.want)
			}
		})
	}
	_, err := Parse("e.yaml", []byte(strings.Replace(exposeBase, "expose: true", "expose: yes please", 1)))
	if err == nil || !strings.Contains(err.Error(), "expose must be true or false") {
		t.Errorf("token expose not a boolean: %v", err)
	}
}

func writeFile(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}
