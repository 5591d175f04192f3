package tunnel

import (
	"crypto/sha256"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// featureExpose, in a hello's and a welcome's features, says that the
// side may take part in exposing: a client that accepts streams the
// gateway opens, a gateway that serves expose requests. Each side uses it
// only when both named it, so older peers keep working as before.
const featureExpose = "expose"

// ExposeConfig is a gateway's expose: section: where the public side of
// exposures listens and what it allows. The listeners themselves are the
// caller's (Gateway.ServeExposeHTTPS, ServeExposeHTTP); the TCP ports are
// bound by the gateway as they are leased.
type ExposeConfig struct {
	// Domain is the public DNS domain: an HTTPS exposure's URL is
	// https://PORTNAME--NAME--LABEL.Domain, which a wildcard DNS record
	// and certificate for *.Domain serve.
	Domain string
	// HTTPSPort is the port in the URLs; 0 or 443 leaves it out.
	HTTPSPort int
	// TCPPorts is the range TCP exposures lease their public port from;
	// both zero means no TCP exposures.
	TCPPorts [2]uint16
	// TCPHost is the address TCP exposures listen on ("" = every
	// interface), and PublicHost the host they are reached by, as
	// printed in HOST:PORT (default: Domain).
	TCPHost    string
	PublicHost string
	// LeaseFile keeps leases across restarts ("" = in memory only);
	// LeaseTTL is how long one lives unused (default 24h).
	LeaseFile string
	LeaseTTL  time.Duration
	// MaxPerLogin is the number of exposures one token or user may have
	// at once, across its sessions (default 10).
	MaxPerLogin int
	// ResponseHeaderTimeout bounds the wait for a local app's response
	// headers; IdleTimeout closes idle public connections. Zero is no
	// limit for the first and 2 minutes for the second: nothing cuts a
	// request that is streaming.
	ResponseHeaderTimeout time.Duration
	IdleTimeout           time.Duration
}

func (c *ExposeConfig) withDefaults() ExposeConfig {
	out := *c
	if out.LeaseTTL <= 0 {
		out.LeaseTTL = 24 * time.Hour
	}
	if out.MaxPerLogin <= 0 {
		out.MaxPerLogin = 10
	}
	if out.IdleTimeout <= 0 {
		out.IdleTimeout = 2 * time.Minute
	}
	if out.PublicHost == "" {
		out.PublicHost = out.Domain
	}
	return out
}

// origin is the https:// origin of host, with the port when URLs need it.
func (c *ExposeConfig) origin(host string) string {
	if c.HTTPSPort != 0 && c.HTTPSPort != 443 {
		return "https://" + host + ":" + strconv.Itoa(c.HTTPSPort)
	}
	return "https://" + host
}

// ExposeRequest asks the gateway to publish one local port. LocalAddr is
// what the client dials for each public connection; it is never sent, so
// the gateway cannot make the client dial anything else.
type ExposeRequest struct {
	LocalAddr string `json:"-"`
	// LocalPort names the port in messages and, with Symmetric, is the
	// public port asked for.
	LocalPort uint16 `json:"local_port"`
	// Name and PortName make the URL's first labels; Project scopes the
	// lease (and must be one the login may see, when set).
	Name     string `json:"name"`
	PortName string `json:"port_name,omitempty"`
	Project  string `json:"project,omitempty"`
	// TCP asks for a public TCP port instead of an HTTPS URL: RemotePort
	// for that one, Symmetric for LocalPort, else any in the range.
	TCP        bool   `json:"tcp,omitempty"`
	RemotePort uint16 `json:"remote_port,omitempty"`
	Symmetric  bool   `json:"symmetric,omitempty"`
	// Auth is "user:password" for HTTP basic auth in front of an HTTPS
	// exposure; only its SHA-256 (AuthSHA256) goes to the gateway.
	Auth       string `json:"-"`
	AuthSHA256 string `json:"auth_sha256,omitempty"`
	// AllowIPs are CIDRs (or addresses) the public side accepts,
	// checked on the connection's own peer address; empty is everyone.
	AllowIPs []string `json:"allow_ips,omitempty"`
	// RateLimit is requests per second an HTTPS exposure serves (bursts
	// of up to twice that); 0 is no limit.
	RateLimit float64 `json:"rate_limit,omitempty"`
}

// Open reports whether anyone who has the address may reach the
// exposure: no auth and no address filter.
func (r *ExposeRequest) Open() bool {
	return r.Auth == "" && r.AuthSHA256 == "" && len(r.AllowIPs) == 0
}

// exposeLabel is a name or port name: one DNS label's worth, which cannot
// hold the "--" that separates the URL's parts.
var exposeLabel = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,38}[a-z0-9])?$`)

// Check reports the first thing wrong with r, in words for the user.
func (r *ExposeRequest) Check() error {
	if r.LocalPort == 0 {
		return errors.New("no local port: give the port your app listens on, like 3000")
	}
	for _, f := range []struct{ what, v string }{{"name", r.Name}, {"port name", r.PortName}} {
		if f.v == "" && f.what == "port name" {
			continue
		}
		if !exposeLabel.MatchString(f.v) || strings.Contains(f.v, "--") {
			return fmt.Errorf("%s %q cannot be part of a URL: use 1-40 lower-case letters, digits and single dashes, like web", f.what, f.v)
		}
	}
	// PORTNAME--NAME--LABEL is one DNS label: at most 63 characters.
	if n := len(r.PortName) + len(r.Name) + 4 + 8; n > 63 || (r.PortName == "" && n+4 > 63) {
		return fmt.Errorf("name %q and port name %q make a host name label over 63 characters: shorten them", r.Name, r.PortName)
	}
	if r.Auth != "" {
		if u, _, ok := strings.Cut(r.Auth, ":"); !ok || u == "" {
			return errors.New("auth must be user:password")
		}
		if r.TCP {
			return errors.New("auth is HTTP basic auth: it cannot guard a TCP exposure; use allow-ip instead")
		}
	}
	if r.RemotePort != 0 && r.Symmetric {
		return errors.New("remote port and symmetric both choose the public port: give one")
	}
	if (r.RemotePort != 0 || r.Symmetric) && !r.TCP {
		return errors.New("remote port and symmetric choose a TCP port: add tcp")
	}
	if _, err := parseAllow(r.AllowIPs); err != nil {
		return err
	}
	if r.RateLimit < 0 {
		return errors.New("rate limit must be a number of requests per second, 0 for none")
	}
	return nil
}

// hashAuth is how basic-auth credentials are compared: by the SHA-256 of
// "user:password", so the gateway never holds the password itself.
func hashAuth(userPass string) string {
	sum := sha256.Sum256([]byte(userPass))
	return hex.EncodeToString(sum[:])
}

// parseAllow reads allow-ip entries: CIDRs, or single addresses.
func parseAllow(entries []string) ([]netip.Prefix, error) {
	var out []netip.Prefix
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			out = append(out, p.Masked())
			continue
		}
		a, err := netip.ParseAddr(e)
		if err != nil {
			return nil, fmt.Errorf("allow-ip %q is not an address or CIDR: use forms like 203.0.113.7 or 10.0.0.0/8", e)
		}
		out = append(out, netip.PrefixFrom(a.Unmap(), a.Unmap().BitLen()))
	}
	return out, nil
}

// allowed reports whether addr is inside one of the prefixes (or there
// are none).
func allowed(prefixes []netip.Prefix, addr netip.Addr) bool {
	if len(prefixes) == 0 {
		return true
	}
	addr = addr.Unmap()
	for _, p := range prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ExposeGrant is what the gateway published for a request.
type ExposeGrant struct {
	// URL is the public https:// address of an HTTPS exposure.
	URL string `json:"url,omitempty"`
	// TCPAddr is HOST:PORT of a TCP exposure, RemotePort its port.
	TCPAddr    string `json:"tcp_addr,omitempty"`
	RemotePort uint16 `json:"remote_port,omitempty"`
}

// ExposeError is the gateway's refusal of an expose request.
type ExposeError struct {
	Code    string // "forbidden", "unavailable", "limit", "port", "invalid"
	Message string
}

func (e *ExposeError) Error() string { return e.Message }

// Refusal codes of expose requests.
const (
	exposeForbidden   = "forbidden"
	exposeUnavailable = "unavailable"
	exposeLimit       = "limit"
	exposePort        = "port"
	exposeInvalid     = "invalid"
)

// Stream header of a stream the gateway opens for a public connection.
const (
	exposeMagic   = 'E'
	exposeVersion = 1
	maxPeerText   = 64
)

// appendExposeHeader appends the header of a gateway-opened stream: which
// exposure (the id of the client's expose request) and who connected.
func appendExposeHeader(b []byte, id uint32, peer string) []byte {
	if len(peer) > maxPeerText {
		peer = peer[:maxPeerText]
	}
	b = append(b, exposeMagic, exposeVersion)
	b = binary.BigEndian.AppendUint32(b, id)
	b = append(b, byte(len(peer)))
	return append(b, peer...)
}

// readExposeHeader reads one; it reads at most 7+maxPeerText bytes.
func readExposeHeader(r io.Reader) (id uint32, peer string, err error) {
	var fixed [7]byte
	if _, err := io.ReadFull(r, fixed[:]); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	if fixed[0] != exposeMagic || fixed[1] != exposeVersion || fixed[6] > maxPeerText {
		return 0, "", fmt.Errorf("%w: expose magic %#x version %d", ErrBadHeader, fixed[0], fixed[1])
	}
	b := make([]byte, fixed[6])
	if _, err := io.ReadFull(r, b); err != nil {
		return 0, "", fmt.Errorf("%w: %w", ErrBadHeader, err)
	}
	return binary.BigEndian.Uint32(fixed[2:6]), string(b), nil
}
