package forward

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"sync"

	"github.com/fwd-dev/fwd/tunnel"
)

// Exposure asks the gateway to publish one port of this machine: as an
// HTTPS URL, or with TCP as a public TCP port. The gateway's config must
// have an expose: section, and the token or user the expose permission.
type Exposure struct {
	// LocalPort is the port the app listens on here.
	LocalPort uint16 `json:"localPort"`
	// LocalAddr is what each public connection is connected to;
	// "" means localhost:LocalPort (IPv6 or IPv4, whichever answers).
	LocalAddr string `json:"localAddr,omitempty"`
	// Name (default "port-LocalPort"), PortName (default "http") and
	// Project make the URL, https://PORTNAME--NAME--LABEL.DOMAIN, whose
	// LABEL the gateway keeps for this login, project and name: the same
	// URL after a reconnect or a gateway restart.
	Name     string `json:"name"`
	PortName string `json:"portName,omitempty"`
	Project  string `json:"project,omitempty"`
	// TCP publishes a TCP port: RemotePort asks for that one, Symmetric
	// for LocalPort itself, else the gateway leases any of its range.
	TCP        bool   `json:"tcp,omitempty"`
	RemotePort uint16 `json:"remotePort,omitempty"`
	Symmetric  bool   `json:"symmetric,omitempty"`
	// Auth ("user:password") puts HTTP basic auth in front of the URL;
	// AllowIPs (CIDRs or addresses) admits only those peers; RateLimit
	// caps requests per second. None set means open to everyone.
	Auth      string   `json:"-"`
	AllowIPs  []string `json:"allowIps,omitempty"`
	RateLimit float64  `json:"rateLimit,omitempty"`
}

// ExposeResult is what the gateway published for one Exposure: exactly
// one of URL, TCPAddr and Error is set.
type ExposeResult struct {
	LocalPort uint16 `json:"localPort"`
	Name      string `json:"name"`
	URL       string `json:"url,omitempty"`
	// TCPAddr is HOST:PORT; RemotePort is its port.
	TCPAddr    string       `json:"tcpAddr,omitempty"`
	RemotePort uint16       `json:"remotePort,omitempty"`
	Open       bool         `json:"open"` // anyone with the address may connect
	Error      *ResultError `json:"error,omitempty"`
	// Code is, with Error, the gateway's refusal code: "forbidden" (the
	// login may not expose), "unavailable" (the gateway does not expose,
	// or not TCP), "limit", "port" (the TCP port asked for) or "invalid".
	Code string `json:"code,omitempty"`
}

// ErrExposeNeedsGateway is returned by Expose on a client that forwards
// through SSH: only a fwd gateway publishes ports.
var ErrExposeNeedsGateway = errors.New("forward: exposing needs a fwd gateway: --via ssh cannot publish ports")

// exposeState is one Exposure in force and its grant on the current
// session.
type exposeState struct {
	spec   Exposure
	result ExposeResult
	handle *tunnel.Exposure // nil while not granted on the current session
}

// exposing is a Client's exposures, in the order they were asked for.
type exposing struct {
	mu    sync.Mutex
	order []*exposeState
}

func (x Exposure) withDefaults() Exposure {
	if x.Name == "" {
		x.Name = "port-" + strconv.Itoa(int(x.LocalPort))
	}
	if x.LocalAddr == "" {
		x.LocalAddr = net.JoinHostPort("localhost", strconv.Itoa(int(x.LocalPort)))
	}
	return x
}

// Check reports the first thing wrong with x (with its defaults), in
// words for the user, before any gateway is asked.
func (x Exposure) Check() error {
	req := x.withDefaults().request()
	return req.Check()
}

func (x Exposure) request() tunnel.ExposeRequest {
	return tunnel.ExposeRequest{LocalAddr: x.LocalAddr, LocalPort: x.LocalPort, Name: x.Name, PortName: x.PortName, Project: x.Project,
		TCP: x.TCP, RemotePort: x.RemotePort, Symmetric: x.Symmetric, Auth: x.Auth, AllowIPs: x.AllowIPs, RateLimit: x.RateLimit}
}

// Expose publishes each exposure through the gateway and returns one
// result per exposure, in order; an exposure the gateway refuses has its
// Error set (the refusal in the gateway's words) and is not kept. The
// exposures stay published across reconnects, with the same URLs and
// ports, until StopExposing or Stop.
func (c *Client) Expose(ctx context.Context, exposures ...Exposure) ([]ExposeResult, error) {
	if c.opts.SSH != nil {
		return nil, ErrExposeNeedsGateway
	}
	for i := range exposures {
		exposures[i] = exposures[i].withDefaults()
		if err := exposures[i].Check(); err != nil {
			return nil, fmt.Errorf("forward: expose port %d: %w", exposures[i].LocalPort, err)
		}
	}
	if err := c.connect(ctx); err != nil {
		return nil, err
	}
	s, err := c.link.session(ctx, c.opts.ConnectWait)
	if err != nil {
		return nil, err
	}
	out := make([]ExposeResult, len(exposures))
	for i, x := range exposures {
		st := &exposeState{spec: x}
		if err := c.grant(ctx, s, st); err != nil {
			if errors.Is(err, tunnel.ErrExposeUnsupported) || errors.Is(err, ErrStopped) {
				return nil, err
			}
		} else {
			c.exposing.mu.Lock()
			c.exposing.order = append(c.exposing.order, st)
			c.exposing.mu.Unlock()
		}
		c.exposing.mu.Lock()
		out[i] = st.result
		c.exposing.mu.Unlock()
	}
	return out, nil
}

// grant asks session s to publish st, recording the outcome in st.result.
func (c *Client) grant(ctx context.Context, s session, st *exposeState) error {
	ts, ok := s.(tlsSession)
	if !ok {
		return ErrExposeNeedsGateway
	}
	req := st.spec.request()
	r := ExposeResult{LocalPort: st.spec.LocalPort, Name: st.spec.Name, Open: req.Open()}
	h, err := ts.Expose(ctx, req)
	var refused *tunnel.ExposeError
	if errors.As(err, &refused) {
		r.Code = refused.Code
	}
	if err != nil {
		r.Error = &ResultError{Message: err.Error()}
	} else {
		r.URL, r.TCPAddr, r.RemotePort = h.Grant.URL, h.Grant.TCPAddr, h.Grant.RemotePort
	}
	c.exposing.mu.Lock()
	st.result, st.handle = r, h
	c.exposing.mu.Unlock()
	return err
}

// ExposeResults returns the exposures in force, as last granted.
func (c *Client) ExposeResults() []ExposeResult {
	c.exposing.mu.Lock()
	defer c.exposing.mu.Unlock()
	out := make([]ExposeResult, len(c.exposing.order))
	for i, st := range c.exposing.order {
		out[i] = st.result
	}
	return out
}

// StopExposing withdraws the exposure of localPort (every one, if several
// name it): the gateway stops taking its connections and gives its TCP
// port back.
func (c *Client) StopExposing(localPort uint16) error {
	c.exposing.mu.Lock()
	var gone []*exposeState
	kept := c.exposing.order[:0]
	for _, st := range c.exposing.order {
		if st.spec.LocalPort == localPort {
			gone = append(gone, st)
		} else {
			kept = append(kept, st)
		}
	}
	c.exposing.order = kept
	c.exposing.mu.Unlock()
	if len(gone) == 0 {
		return fmt.Errorf("%w: port %d is not exposed", ErrNotFound, localPort)
	}
	var errs []error
	for _, h := range handles(&c.exposing, gone) {
		errs = append(errs, h.Close())
	}
	return errors.Join(errs...)
}

// WithExposing exposes, calls fn with the results and withdraws the
// exposures when fn returns.
func (c *Client) WithExposing(ctx context.Context, exposures []Exposure, fn func(context.Context, []ExposeResult) error) error {
	results, err := c.Expose(ctx, exposures...)
	if err != nil {
		return err
	}
	fnErr := fn(ctx, results)
	var errs []error
	for _, r := range results {
		if r.Error == nil {
			if err := c.StopExposing(r.LocalPort); err != nil && !errors.Is(err, ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(fnErr, errors.Join(errs...))
}

// reexpose publishes the exposures again on a new session: the gateway's
// leases give back the same URLs and ports.
func (c *Client) reexpose(s session) {
	c.exposing.mu.Lock()
	all := append([]*exposeState(nil), c.exposing.order...)
	c.exposing.mu.Unlock()
	if len(all) == 0 {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.opts.ConnectWait)
	defer cancel()
	for _, st := range all {
		if err := c.grant(ctx, s, st); err != nil {
			c.log.Warn("exposure not published again after reconnecting", "port", st.spec.LocalPort, "err", err)
		}
	}
	c.emit(Event{State: StateConnected, Exposed: c.ExposeResults()})
}

// releaseExposures withdraws every exposure before the tunnel closes, so
// that their TCP ports are given back rather than held until they expire.
func (c *Client) releaseExposures() {
	c.exposing.mu.Lock()
	all := c.exposing.order
	c.exposing.order = nil
	c.exposing.mu.Unlock()
	for _, h := range handles(&c.exposing, all) {
		h.Close()
	}
}

// handles are the grants of sts on the current session.
func handles(x *exposing, sts []*exposeState) []*tunnel.Exposure {
	x.mu.Lock()
	defer x.mu.Unlock()
	var out []*tunnel.Exposure
	for _, st := range sts {
		if st.handle != nil {
			out = append(out, st.handle)
		}
	}
	return out
}
