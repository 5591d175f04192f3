package config

import (
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/fwd-dev/fwd/tunnel"
)

// expose decodes the expose: section.
func (d *decoder) expose(n *yaml.Node, path string, c *Config) error {
	e := &tunnel.ExposeConfig{}
	c.Expose = e
	l := &c.ExposeListen
	str := func(key string, out *string) field {
		return field{key, func(v *yaml.Node, _ string) (err error) {
			*out, err = d.str(v, "expose."+key)
			return err
		}}
	}
	dur := func(key string, out *time.Duration) field {
		return field{key, func(v *yaml.Node, _ string) (err error) {
			*out, err = d.duration(v, "expose."+key)
			return err
		}}
	}
	return d.mapping(n, "expose", path, "{domain: fwd.example.com, https_listen: :443}", []field{
		str("domain", &e.Domain),
		str("https_listen", &l.HTTPS),
		str("http_listen", &l.HTTP),
		{"tls", func(v *yaml.Node, path string) error {
			return d.mapping(v, "expose.tls", path, "{cert: wildcard.crt, key: wildcard.key}", []field{
				str("cert", &l.TLS.Cert),
				str("key", &l.TLS.Key),
			})
		}},
		{"https_port", func(v *yaml.Node, _ string) error {
			i, err := d.integer(v, "expose.https_port")
			if err == nil && (i < 1 || i > 65535) {
				err = d.errorf(v, nil, "expose.https_port %d out of range: use 1-65535, the port in the URLs", i)
			}
			e.HTTPSPort = int(i)
			return err
		}},
		{"tcp_ports", func(v *yaml.Node, _ string) error {
			s, err := d.str(v, "expose.tcp_ports")
			if err != nil {
				return err
			}
			lo, hi, err := parsePortRange(s)
			if err != nil {
				return d.errorf(v, err, "expose.tcp_ports %q: %s", s, err.Error())
			}
			e.TCPPorts = [2]uint16{lo, hi}
			return nil
		}},
		str("tcp_host", &e.TCPHost),
		str("public_host", &e.PublicHost),
		str("lease_file", &e.LeaseFile),
		dur("lease_ttl", &e.LeaseTTL),
		{"max_per_login", func(v *yaml.Node, _ string) error {
			i, err := d.integer(v, "expose.max_per_login")
			if err == nil && (i < 1 || i > 10000) {
				err = d.errorf(v, nil, "expose.max_per_login %d out of range: use 1-10000", i)
			}
			e.MaxPerLogin = int(i)
			return err
		}},
		dur("response_header_timeout", &e.ResponseHeaderTimeout),
		dur("idle_timeout", &e.IdleTimeout),
	})
}

// parsePortRange reads "30000-30999" (or one port).
func parsePortRange(s string) (uint16, uint16, error) {
	a, b, ok := strings.Cut(strings.TrimSpace(s), "-")
	if !ok {
		b = a
	}
	lo, err1 := strconv.ParseUint(strings.TrimSpace(a), 10, 16)
	hi, err2 := strconv.ParseUint(strings.TrimSpace(b), 10, 16)
	switch {
	case err1 != nil || err2 != nil:
		return 0, 0, fmt.Errorf("not a port range: write it like 30000-30999")
	case lo == 0 || lo > hi:
		return 0, 0, fmt.Errorf("the range is empty or starts at 0: write it low-high, like 30000-30999")
	}
	return uint16(lo), uint16(hi), nil
}

// expose checks the expose: section.
func (k *checker) expose(c *Config) {
	e := c.Expose
	if e == nil {
		return
	}
	switch {
	case e.Domain == "":
		k.errorf("expose", nil, "expose has no domain: add domain: <the public domain whose wildcard *.domain points at this gateway>")
	default:
		if p := hostnameProblem(e.Domain, false); p != "" {
			k.errorf("expose.domain", nil, "expose.domain %q is not a DNS name: it %s", e.Domain, p)
		}
	}
	if c.ExposeListen.HTTPS == "" {
		k.errorf("expose", nil, "expose has no https_listen: add https_listen: host:port, like :443")
	} else {
		k.listen("expose.https_listen", c.ExposeListen.HTTPS, "0.0.0.0:443")
	}
	if c.ExposeListen.HTTP != "" || k.has("expose.http_listen") {
		k.listen("expose.http_listen", c.ExposeListen.HTTP, "0.0.0.0:80")
	}
	for _, other := range []struct{ key, addr string }{{"listen", c.Listen}, {"ssh_listen", c.SSHListen}, {"metrics_listen", c.MetricsListen}} {
		for _, mine := range []struct{ key, addr string }{{"expose.https_listen", c.ExposeListen.HTTPS}, {"expose.http_listen", c.ExposeListen.HTTP}} {
			if sameAddress(mine.addr, other.addr) {
				k.errorf(mine.key, nil, "%s %q is the same address as %s: give it a port of its own", mine.key, mine.addr, other.key)
			}
		}
	}
	t := c.ExposeListen.TLS
	switch {
	case t.Cert != "" && t.Key == "":
		k.errorf("expose.tls", nil, "expose.tls has a cert but no key: add key: <file>")
	case t.Cert == "" && t.Key != "":
		k.errorf("expose.tls", nil, "expose.tls has a key but no cert: add cert: <file>")
	}
	if e.TCPHost != "" {
		if _, err := netip.ParseAddr(e.TCPHost); err != nil {
			k.errorf("expose.tcp_host", err, "expose.tcp_host %q is not an IP address: use the address TCP exposures listen on, like 0.0.0.0", e.TCPHost)
		}
	}
}
