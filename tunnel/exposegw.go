package tunnel

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwd-dev/fwd/internal/leases"
	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/internal/relay"
)

// exposeHub is the gateway's live exposures: HTTPS ones by host name,
// all of them by session, and the lease store that keeps their URLs and
// TCP ports stable.
type exposeHub struct {
	mu     sync.Mutex
	byHost map[string]*exposure
	bySess map[*session]map[uint32]*exposure
	byKey  map[exposeKey]*exposure

	storeOnce sync.Once
	store     *leases.Store
	storeErr  error
}

// exposeKey is what a lease belongs to; TCP and HTTPS exposures of the
// same name hold different leases.
type exposeKey struct {
	key leases.Key
	tcp bool
}

// exposure is one published local port of one session.
type exposure struct {
	id    uint32
	s     *session
	g     *Gateway
	req   ExposeRequest
	key   exposeKey
	host  string // HTTPS: the public host name
	allow []netip.Prefix
	auth  string // hex SHA-256 of user:password, "" for none
	rate  *bucket
	store *leases.Store // where its label or port is leased
	proxy http.Handler
	ln    net.Listener // TCP: the public listener
	stop  chan struct{}
	once  sync.Once
}

func (h *exposeHub) leaseStore(cfg *ExposeConfig) (*leases.Store, error) {
	h.storeOnce.Do(func() { h.store, h.storeErr = leases.Open(cfg.LeaseFile, cfg.LeaseTTL) })
	return h.store, h.storeErr
}

// owner names a login in leases: a token and a user of the same name are
// different owners.
func (p principal) owner() string {
	if p.auth == "token" {
		return "token:" + p.name
	}
	return "user:" + p.name
}

// who names the login in refusals.
func (p principal) who() string {
	if p.auth == "token" {
		return fmt.Sprintf("token %q", p.name)
	}
	return fmt.Sprintf("user %q", p.name)
}

// readControlLoop reads what the client sends on the control stream
// after the welcome: expose requests and their withdrawals. Other types
// are skipped, so that a newer client may add some; when the client ends
// the stream (or it breaks), the session ends.
func (g *Gateway) readControlLoop(s *session) {
	defer s.mux.Close()
	for {
		m, err := readControl(s.br)
		if err != nil {
			return
		}
		switch m.Type {
		case msgExpose:
			if !s.expose || m.Expose == nil {
				continue
			}
			grant, err := g.expose(s, m.ID, *m.Expose)
			reply := &controlMsg{Type: msgExposed, ID: m.ID, Grant: grant}
			if err != nil {
				reply = &controlMsg{Type: msgExposeRefused, ID: m.ID, Code: err.Code, Message: err.Message}
				s.log.Info("expose refused", "name", m.Expose.Name, "reason", err.Message)
			}
			if s.reply(reply) != nil {
				return
			}
		case msgUnexpose:
			g.unexpose(s, m.ID, true)
			if s.reply(&controlMsg{Type: msgUnexposed, ID: m.ID}) != nil {
				return
			}
		}
	}
}

// reply sends m on the control stream, in turn with the gateway's other
// messages to the client (pushes, refusals).
func (s *session) reply(m *controlMsg) error {
	s.send.Lock()
	defer s.send.Unlock()
	s.control.SetWriteDeadline(time.Now().Add(10 * time.Second))
	return writeControl(s.control, m)
}

// expose checks and publishes one request of s.
func (g *Gateway) expose(s *session, id uint32, req ExposeRequest) (*ExposeGrant, *ExposeError) {
	base := g.config().Expose
	who := s.principal()
	switch {
	case base == nil:
		return nil, &ExposeError{exposeUnavailable, "this gateway does not expose ports: its config has no expose: section"}
	case !who.expose:
		return nil, &ExposeError{exposeForbidden, fmt.Sprintf("%s may forward but not expose ports: ask the gateway's admin to add expose: true to it", who.who())}
	}
	cfg := base.withDefaults()
	if err := req.Check(); err != nil {
		return nil, &ExposeError{exposeInvalid, err.Error()}
	}
	if req.Project != "" && !who.Allows(req.Project) {
		return nil, &ExposeError{exposeForbidden, fmt.Sprintf("%s may not use project %q", who.who(), req.Project)}
	}
	if req.TCP && cfg.TCPPorts[1] == 0 {
		return nil, &ExposeError{exposeUnavailable, "this gateway exposes HTTPS only: its expose: section has no tcp_ports"}
	}
	store, err := g.exposes.leaseStore(&cfg)
	if err != nil {
		return nil, &ExposeError{exposeUnavailable, "the gateway cannot keep leases: " + err.Error()}
	}
	allow, _ := parseAllow(req.AllowIPs) // checked by Check
	e := &exposure{id: id, s: s, g: g, req: req, allow: allow, auth: strings.ToLower(req.AuthSHA256), stop: make(chan struct{}), store: store,
		key: exposeKey{key: leases.Key{Owner: who.owner(), Project: req.Project, Name: req.Name}, tcp: req.TCP}}
	if req.RateLimit > 0 {
		e.rate = newBucket(req.RateLimit)
	}
	if xerr := g.exposes.admit(e, cfg.MaxPerLogin); xerr != nil {
		return nil, xerr
	}
	var grant *ExposeGrant
	var xerr *ExposeError
	if req.TCP {
		grant, xerr = g.exposeTCP(e, &cfg)
	} else {
		grant, xerr = g.exposeHTTPS(e, &cfg)
	}
	if xerr != nil {
		g.exposes.remove(e)
		return nil, xerr
	}
	go e.renew(cfg.LeaseTTL)
	s.log.Info("exposed", "name", req.Name, "url", grant.URL, "tcp", grant.TCPAddr, "open", req.Open())
	return grant, nil
}

// admit registers e, replacing an exposure of the same lease (the same
// login's earlier session, which a reconnect leaves behind until it is
// noticed dead), within the login's limit.
func (h *exposeHub) admit(e *exposure, max int) *ExposeError {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bySess == nil {
		h.bySess, h.byHost, h.byKey = map[*session]map[uint32]*exposure{}, map[string]*exposure{}, map[exposeKey]*exposure{}
	}
	if _, dup := h.bySess[e.s][e.id]; dup {
		return &ExposeError{exposeInvalid, fmt.Sprintf("expose request id %d is already in use on this session", e.id)}
	}
	old := h.byKey[e.key]
	n := 0
	for k := range h.byKey {
		if k.key.Owner == e.key.key.Owner {
			n++
		}
	}
	if old == nil && n >= max {
		return &ExposeError{exposeLimit, fmt.Sprintf("%s already has %d exposures, the gateway's limit: stop one first", e.s.principal().who(), max)}
	}
	if old != nil {
		h.removeLocked(old)
		old.close()
	}
	h.byKey[e.key] = e
	if h.bySess[e.s] == nil {
		h.bySess[e.s] = map[uint32]*exposure{}
	}
	h.bySess[e.s][e.id] = e
	return nil
}

func (h *exposeHub) remove(e *exposure) {
	h.mu.Lock()
	h.removeLocked(e)
	h.mu.Unlock()
}

func (h *exposeHub) removeLocked(e *exposure) {
	if h.byKey[e.key] == e {
		delete(h.byKey, e.key)
	}
	if e.host != "" && h.byHost[e.host] == e {
		delete(h.byHost, e.host)
	}
	if m := h.bySess[e.s]; m != nil && m[e.id] == e {
		delete(m, e.id)
		if len(m) == 0 {
			delete(h.bySess, e.s)
		}
	}
}

func (h *exposeHub) setHost(e *exposure, host string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	e.host = host
	h.byHost[host] = e
}

func (h *exposeHub) lookupHost(host string) *exposure {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.byHost[host]
}

// unexpose withdraws one exposure of s; released says the client asked,
// which also gives its TCP port back.
func (g *Gateway) unexpose(s *session, id uint32, released bool) {
	g.exposes.mu.Lock()
	e := g.exposes.bySess[s][id]
	if e != nil {
		g.exposes.removeLocked(e)
	}
	g.exposes.mu.Unlock()
	if e == nil {
		return
	}
	e.close()
	if released && e.req.TCP {
		e.store.ReleasePort(e.key.key)
	}
	s.log.Info("exposure withdrawn", "name", e.req.Name)
}

// dropExposures withdraws every exposure of a session that ended; their
// leases stay, so that the client's next session gets them back.
func (g *Gateway) dropExposures(s *session) int {
	g.exposes.mu.Lock()
	var all []*exposure
	for _, e := range g.exposes.bySess[s] {
		all = append(all, e)
	}
	for _, e := range all {
		g.exposes.removeLocked(e)
	}
	g.exposes.mu.Unlock()
	for _, e := range all {
		e.close()
	}
	return len(all)
}

func (e *exposure) close() {
	e.once.Do(func() {
		close(e.stop)
		if e.ln != nil {
			e.ln.Close()
			e.g.untrack(e.ln)
		}
	})
}

// renew keeps e's leases from expiring while it is live.
func (e *exposure) renew(ttl time.Duration) {
	t := time.NewTicker(max(ttl/4, time.Second))
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case now := <-t.C:
			if e.req.TCP {
				e.store.RenewPort(e.key.key, now)
			} else {
				e.store.Label(e.key.key, now)
			}
		}
	}
}

// exposeHTTPS leases e's label and routes its host name to it.
func (g *Gateway) exposeHTTPS(e *exposure, cfg *ExposeConfig) (*ExposeGrant, *ExposeError) {
	label, err := e.store.Label(e.key.key, time.Now())
	if err != nil {
		return nil, &ExposeError{exposeUnavailable, "the gateway cannot keep leases: " + err.Error()}
	}
	portName := e.req.PortName
	if portName == "" {
		portName = "http"
	}
	host := strings.ToLower(portName + "--" + e.req.Name + "--" + label + "." + cfg.Domain)
	e.proxy = g.proxyFor(e, cfg)
	g.exposes.setHost(e, host)
	return &ExposeGrant{URL: cfg.origin(host)}, nil
}

// exposeTCP leases a public port for e and listens on it.
func (g *Gateway) exposeTCP(e *exposure, cfg *ExposeConfig) (*ExposeGrant, *ExposeError) {
	want := e.req.RemotePort
	if e.req.Symmetric {
		want = e.req.LocalPort
	}
	lo, hi := cfg.TCPPorts[0], cfg.TCPPorts[1]
	var held net.Listener
	free := func(p uint16) bool {
		ln, err := net.Listen("tcp", net.JoinHostPort(cfg.TCPHost, strconv.Itoa(int(p))))
		if err != nil {
			return false
		}
		held = ln
		return true
	}
	port, err := e.store.Port(e.key.key, leases.PortRequest{Lo: lo, Hi: hi, Want: want, Free: free}, time.Now())
	if err != nil {
		if held != nil {
			held.Close()
		}
		return nil, &ExposeError{exposePort, tcpRefusal(e.req, err)}
	}
	if held != nil && held.Addr().(*net.TCPAddr).Port != int(port) {
		held.Close()
		held = nil
	}
	if held == nil { // the lease was e's already: bind it now
		if !free(port) {
			return nil, &ExposeError{exposePort, fmt.Sprintf("public port %d is leased to you but in use on the gateway: try again in a moment", port)}
		}
	}
	if !g.track(held) {
		held.Close()
		return nil, &ExposeError{exposeUnavailable, "gateway shutting down"}
	}
	e.ln = held
	go e.serveTCP()
	addr := net.JoinHostPort(cfg.PublicHost, strconv.Itoa(int(port)))
	return &ExposeGrant{TCPAddr: addr, RemotePort: port}, nil
}

// tcpRefusal words a lease failure for the flag the user gave.
func tcpRefusal(req ExposeRequest, err error) string {
	msg := strings.TrimPrefix(err.Error(), "leases: ")
	switch {
	case req.Symmetric && (errors.Is(err, leases.ErrOutOfRange) || errors.Is(err, leases.ErrBusy) || errors.Is(err, leases.ErrTaken)):
		return fmt.Sprintf("symmetric port %d cannot be had: %s: leave out --symmetric for any free port", req.LocalPort, msg)
	case req.RemotePort != 0:
		return fmt.Sprintf("remote port %d cannot be had: %s", req.RemotePort, msg)
	}
	return msg
}

// serveTCP relays each public connection of a TCP exposure to the client.
func (e *exposure) serveTCP() {
	for {
		c, err := e.ln.Accept()
		if err != nil {
			select {
			case <-e.stop:
				return
			default:
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			return
		}
		go e.relayTCP(c)
	}
}

func (e *exposure) relayTCP(c net.Conn) {
	if !allowed(e.allow, peerIP(c.RemoteAddr().String())) {
		c.Close()
		e.s.log.Info("public connection refused: address not allowed", "name", e.req.Name, "from", c.RemoteAddr().String())
		return
	}
	tc, ok := c.(relay.Conn)
	if !ok {
		c.Close()
		return
	}
	st, err := e.open(context.Background(), c.RemoteAddr().String())
	if err != nil {
		c.Close()
		e.s.log.Info("public connection not carried", "name", e.req.Name, "err", err)
		return
	}
	defer st.release()
	idle := e.g.limits().IdleTimeout
	relay.PipeWith(tc, st.Stream, e.g.relayOptions(TransportTLS, idle))
}

// peerIP is the address of a connection's peer ("ip:port"), the zero
// Addr if it has none.
func peerIP(addr string) netip.Addr {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return netip.Addr{}
	}
	return ap.Addr().Unmap()
}

// exposedStream is a stream the gateway opened to the client for one
// public connection; it holds one of the session's stream slots.
type exposedStream struct {
	*mux.Stream
	release func()
	// Bytes to the app and from it, for the metrics, when the stream is
	// read and written as a net.Conn (the HTTP proxy's connections; TCP
	// exposures count in their relay).
	toApp, fromApp *atomic.Int64
}

func (x *exposedStream) Read(p []byte) (int, error) {
	n, err := x.Stream.Read(p)
	if x.fromApp != nil {
		x.fromApp.Add(int64(n))
	}
	return n, err
}

func (x *exposedStream) Write(p []byte) (int, error) {
	n, err := x.Stream.Write(p)
	if x.toApp != nil {
		x.toApp.Add(int64(n))
	}
	return n, err
}

// Close closes the stream and gives its slot back.
func (x *exposedStream) Close() error {
	err := x.Stream.Close()
	x.release()
	return err
}

// open starts a stream to the client for e and waits for its verdict on
// the local connection.
func (e *exposure) open(ctx context.Context, peer string) (*exposedStream, error) {
	if !e.s.tryTakeSlot() {
		return nil, fmt.Errorf("the session's limit of %d streams is reached", cap(e.s.streams))
	}
	// Counted as a stream of the session in the metrics, as the
	// client's own streams are, while it holds its slot.
	obs := e.g.observer()
	obs.StreamOpened(TransportTLS)
	release := sync.OnceFunc(func() {
		<-e.s.streams
		obs.StreamClosed(TransportTLS)
	})
	st, err := e.s.mux.OpenStream()
	if err != nil {
		release()
		return nil, fmt.Errorf("the client's tunnel is down: %w", err)
	}
	if _, err := st.Write(appendExposeHeader(nil, e.id, peer)); err != nil {
		st.Reset()
		release()
		return nil, fmt.Errorf("the client's tunnel is down: %w", err)
	}
	deadline := time.Now().Add(handshakeTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	st.SetReadDeadline(deadline)
	if err := readStatus(st); err != nil {
		st.Reset()
		release()
		return nil, err
	}
	st.SetReadDeadline(time.Time{})
	toApp, fromApp := obs.ByteCounters(TransportTLS)
	return &exposedStream{Stream: st, release: release, toApp: toApp, fromApp: fromApp}, nil
}

// hostOnly is a Host header's host, in lower case.
func hostOnly(hostport string) string {
	h := hostport
	if host, _, err := net.SplitHostPort(hostport); err == nil {
		h = host
	}
	return strings.ToLower(strings.TrimSuffix(h, "."))
}
