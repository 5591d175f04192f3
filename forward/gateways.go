package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/tunnel"
)

// failoverConnect bounds each gateway's dial but the last when there are
// several: a gateway that does not answer at all must not hold up the
// others for the whole dial timeout. A gateway that is down answers at
// once (connection refused), so failover is then immediate.
const failoverConnect = 3 * time.Second

// splitGateways reads Options.Gateway: one host:port, or several,
// comma-separated.
func splitGateways(s string) ([]string, error) {
	var out []string
	for _, g := range strings.Split(s, ",") {
		g = strings.TrimSpace(g)
		if g == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(g); err != nil {
			return nil, fmt.Errorf("forward: gateway address %q is not host:port: %w", g, err)
		}
		out = append(out, g)
	}
	if len(out) == 0 {
		return nil, errors.New("forward: no gateway address: set Options.Gateway (host:port), or Options.SSH")
	}
	return out, nil
}

// gatewayAddr is one address to try: addr as the user named it (what TLS
// verifies), dial the IP address to connect to.
type gatewayAddr struct{ addr, dial string }

// gateways are a client's gateways, tried in turn: every address of every
// name, starting from the one that last worked, moving on when one fails.
type gateways struct {
	names  []string
	lookup func(ctx context.Context, host string) ([]string, error)
	mu     sync.Mutex
	last   string // dial address of the gateway that last logged in
}

// addrs resolves every gateway name now (a name's addresses change) and
// puts the one that last worked first, the order otherwise kept.
func (g *gateways) addrs(ctx context.Context) []gatewayAddr {
	var out []gatewayAddr
	for _, name := range g.names {
		host, port, _ := net.SplitHostPort(name)
		ips := []string{host}
		if net.ParseIP(host) == nil {
			if found, err := g.lookup(ctx, host); err == nil && len(found) > 0 {
				ips = found
			}
		}
		for _, ip := range ips {
			out = append(out, gatewayAddr{addr: name, dial: net.JoinHostPort(ip, port)})
		}
	}
	g.mu.Lock()
	last := g.last
	g.mu.Unlock()
	for i, a := range out {
		if a.dial == last {
			return append(out[i:], out[:i]...)
		}
	}
	return out
}

func (g *gateways) worked(a gatewayAddr) {
	g.mu.Lock()
	g.last = a.dial
	g.mu.Unlock()
}

// dial logs in to the first gateway that takes the client. With one
// address it is tunnel.Dial. With several, each but the last gets
// failoverConnect, and the error returned when all fail is the most telling
// one: a gateway's refusal (token, trust, version) over one that could not
// be reached.
func (g *gateways) dial(ctx context.Context, cfg *tunnel.ClientConfig) (*tunnel.Session, error) {
	addrs := g.addrs(ctx)
	var refusal, last error
	for i, a := range addrs {
		c := *cfg
		c.Dialer = dialAt(cfg.Dialer, a.dial)
		if i < len(addrs)-1 && (c.DialTimeout == 0 || c.DialTimeout > failoverConnect) {
			c.DialTimeout = failoverConnect
		}
		s, err := tunnel.Dial(ctx, a.addr, &c)
		if err == nil {
			g.worked(a)
			return s, nil
		}
		if ctx.Err() != nil {
			return nil, err
		}
		if !errors.Is(err, tunnel.ErrUnreachable) && refusal == nil {
			refusal = err
		}
		last = err
	}
	if refusal != nil {
		return nil, refusal
	}
	return nil, last
}

// dialAt connects to addr whatever address it is asked for: TLS still
// verifies the name the user gave, while the connection goes to one of
// its addresses.
func dialAt(base func(ctx context.Context, network, addr string) (net.Conn, error), addr string) func(ctx context.Context, network, _ string) (net.Conn, error) {
	if base == nil {
		base = (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext
	}
	return func(ctx context.Context, network, _ string) (net.Conn, error) { return base(ctx, network, addr) }
}
