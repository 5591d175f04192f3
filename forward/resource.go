package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fwd-dev/fwd/internal/loopback"
	"github.com/fwd-dev/fwd/internal/relay"
	"github.com/fwd-dev/fwd/internal/retry"
	"github.com/fwd-dev/fwd/internal/sockets"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// resourceForward is one service or addon being forwarded: its address and
// one listener per port.
type resourceForward struct {
	c     *Client
	res   catalog.Resource
	addr  netip.Addr
	ports []*portForward
	// moved says why some port could not keep its catalog number on addr
	// (or why none listens at all), or is "": such a resource gets no
	// hostnames.
	moved string

	mu        sync.Mutex
	hostnames []string
}

// portForward is one listening port and the connections it carries.
type portForward struct {
	port    catalog.Port
	local   netip.AddrPort
	note    string
	err     error
	log     *slog.Logger
	srv     server
	traffic traffic
	since   time.Time
}

// traffic is what one port has carried, read by Client.Stats: its open
// connections (for UDP, flows) and the bytes each way.
type traffic struct {
	open, sent, received atomic.Int64
}

// server is what serves one port: it can stop taking new connections, wait
// for open ones to finish, and cut them.
type server interface {
	stopAccepting()
	drained() <-chan struct{} // closed when no connection is open after stopAccepting
	close()                   // stops accepting and cuts every connection
}

func (c *Client) startResource(res catalog.Resource) *resourceForward {
	f := &resourceForward{c: c, res: res}
	placed := res
	if c.noUDP {
		placed.Ports = tcpPorts(res.Ports)
	}
	var socks []socket
	socks, f.addr, f.moved = c.placeResource(placed)
	for _, p := range res.Ports {
		if c.noUDP && p.Protocol.Network() == "udp" {
			f.ports = append(f.ports, f.refusePort(p, errUDPOverSSH))
			continue
		}
		f.ports = append(f.ports, f.startPort(p, socks[0]))
		socks = socks[1:]
	}
	if len(placed.Ports) == 0 && f.moved == "" {
		// Nothing listens on its address: names would lead nowhere.
		f.moved = "none of its ports can be forwarded"
	}
	return f
}

// tcpPorts are the ports of ps that travel on TCP.
func tcpPorts(ps []catalog.Port) []catalog.Port {
	var out []catalog.Port
	for _, p := range ps {
		if p.Protocol.Network() == "tcp" {
			out = append(out, p)
		}
	}
	return out
}

// refusePort is a port that is not forwarded at all, for why: its result
// is an error naming it, and the resource's other ports go on.
func (f *resourceForward) refusePort(p catalog.Port, why error) *portForward {
	return &portForward{port: p, log: f.c.log.With("forward", f.label(p)),
		err: fmt.Errorf("%s: %s/%d: %w", f.label(p), p.Protocol.Network(), p.Port, why)}
}

func (f *resourceForward) startPort(p catalog.Port, sock socket) *portForward {
	pf := &portForward{port: p, log: f.c.log.With("forward", f.label(p))}
	if sock.err != nil {
		pf.err = fmt.Errorf("%s: %w", f.label(p), sock.err)
		return pf
	}
	pf.note, pf.local, pf.since = sock.note, sock.local(), time.Now()
	target := tunnel.Target{ID: f.res.ID(), Network: p.Protocol.Network(), Port: p.Port}
	if sock.udp != nil {
		pf.srv = f.c.serveUDP(sock.udp, target, pf.log, &pf.traffic)
	} else {
		pf.srv = f.c.serveTCP(sock.ln, target, pf.log, &pf.traffic)
	}
	if pf.note != "" {
		pf.log.Warn(pf.note)
	}
	return pf
}

// label names a port in logs and errors: "shop/api http".
func (f *resourceForward) label(p catalog.Port) string {
	name := p.Name
	if name == "" {
		name = strconv.Itoa(int(p.Port))
	}
	return f.res.ID().String() + " " + name
}

// addressID is what a resource's addresses are derived from.
func addressID(id catalog.ID) loopback.ID {
	return loopback.ID{Project: id.Project, Kind: string(id.Kind), Name: id.Name}
}

// maxAddressTries is how many of a resource's own addresses are tried, in
// the same order on every run, before any of its ports leaves its number.
const maxAddressTries = 8

// placeResource binds every port of res on one address where all of them
// keep their catalog numbers: the resource's stable address, else the next
// of its alternative addresses (the same sequence every run), so that a
// hostname never leads to some other process's server on the same port.
// Only when no address fits does a port move to a free number; moved then
// says so, and the resource gets no hostnames.
func (c *Client) placeResource(res catalog.Resource) (socks []socket, addr netip.Addr, moved string) {
	id := addressID(res.ID())
	candidates := c.alloc.Candidates(id, maxAddressTries)
	for i, a := range candidates {
		socks := bindExact(a, res.Ports)
		if !anyInUse(socks) {
			c.alloc.Reserve(id, a)
			if i > 0 {
				c.log.Info("a port is taken on its own address: using its alternative address, the same on every run while that stays taken",
					"forward", res.ID().String(), "address", a.String(), "instead_of", candidates[0].String())
			}
			return c.settle(a, res.Ports, socks, i+1)
		}
		closeSockets(socks)
	}
	addr = candidates[0]
	c.alloc.Reserve(id, addr)
	return c.settle(addr, res.Ports, bindExact(addr, res.Ports), maxAddressTries)
}

// settle binds a free port for every port whose number could not be
// bound, with a note that says why, and reports what moved.
func (c *Client) settle(addr netip.Addr, ports []catalog.Port, socks []socket, tried int) ([]socket, netip.Addr, string) {
	var moved []string
	for i := range socks {
		if socks[i].err == nil {
			continue
		}
		socks[i] = bindFallback(addr, ports[i], socks[i].err, tried)
		if socks[i].err == nil {
			moved = append(moved, fmt.Sprintf("port %d moved to %d", ports[i].Port, socks[i].local().Port()))
		} else {
			moved = append(moved, fmt.Sprintf("port %d is not forwarded", ports[i].Port))
		}
	}
	return socks, addr, strings.Join(moved, ", ")
}

// socket is one port's bound socket, not serving yet.
type socket struct {
	ln   net.Listener // TCP
	udp  *net.UDPConn // UDP
	note string       // why the port is not its catalog number, if it is not
	err  error        // why it could not be bound
}

func (s socket) local() netip.AddrPort {
	if s.udp != nil {
		return s.udp.LocalAddr().(*net.UDPAddr).AddrPort()
	}
	return netip.MustParseAddrPort(s.ln.Addr().String())
}

func closeSockets(socks []socket) {
	for _, s := range socks {
		switch {
		case s.ln != nil:
			s.ln.Close()
		case s.udp != nil:
			s.udp.Close()
		}
	}
}

// bindExact binds each port at its own number on addr; a port that cannot
// be has its error.
func bindExact(addr netip.Addr, ports []catalog.Port) []socket {
	socks := make([]socket, len(ports))
	for i, p := range ports {
		socks[i] = bindAt(netip.AddrPortFrom(addr, p.Port), p.Protocol.Network())
	}
	return socks
}

func bindAt(ap netip.AddrPort, network string) socket {
	if network == "udp" {
		conn, err := net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap))
		if err != nil {
			return socket{err: err}
		}
		return socket{udp: conn}
	}
	ln, err := net.Listen("tcp", ap.String())
	if err != nil {
		return socket{err: err}
	}
	return socket{ln: ln}
}

// anyInUse reports whether a socket failed because its port is taken.
func anyInUse(socks []socket) bool {
	for _, s := range socks {
		if errors.Is(s.err, syscall.EADDRINUSE) {
			return true
		}
	}
	return false
}

// holderOf finds the socket that holds p's number on addr.
func holderOf(p catalog.Port, addr netip.Addr) (sockets.Listener, bool) {
	l, ok, err := sockets.Holder(p.Protocol.Network(), netip.AddrPortFrom(addr, p.Port))
	return l, ok && err == nil
}

// bindFallback binds a free port for p, which failed on addr with err, and
// words the note: what stopped the port, and where it is instead.
func bindFallback(addr netip.Addr, p catalog.Port, err error, tried int) socket {
	reason := bindFailure(err, p.Port)
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		reason = inUseReason(p, addr, tried)
	case errors.Is(err, syscall.EACCES), errors.Is(err, syscall.EPERM):
		// With sudo it would still not bind if someone holds it: say so now.
		if holder, ok := holderOf(p, addr); ok {
			reason += ", and it " + holder.Blocks()
		}
	}
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		// macOS routes only 127.0.0.1 until lo0 gets an alias.
		addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	s := bindAt(netip.AddrPortFrom(addr, 0), p.Protocol.Network())
	if s.err != nil {
		s.err = fmt.Errorf("cannot listen on %s port %d (%s) nor on a free port: %w", addr, p.Port, reason, s.err)
		return s
	}
	s.note = fmt.Sprintf("port %d %s: forwarded on %s instead", p.Port, reason, s.local())
	return s
}

// inUseReason says who holds p's number, where the system lets us see it.
func inUseReason(p catalog.Port, addr netip.Addr, tried int) string {
	holder, ok := holderOf(p, addr)
	switch {
	case ok && holder.EveryAddress():
		return holder.Blocks()
	case ok:
		return fmt.Sprintf("%s (and on the other %d addresses tried)", holder.Blocks(), tried-1)
	}
	return fmt.Sprintf("is already in use (on all %d addresses tried)", tried)
}

func bindFailure(err error, port uint16) string {
	switch {
	case errors.Is(err, syscall.EACCES) || errors.Is(err, syscall.EPERM):
		if port < 1024 {
			return "needs root"
		}
		return "is not allowed"
	case errors.Is(err, syscall.EADDRINUSE):
		return "is already in use"
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return "cannot be bound on its own loopback address"
	}
	return "cannot be bound"
}

// tcpServer accepts on a listener and carries each connection over its own
// stream.
type tcpServer struct {
	ln       net.Listener
	ctx      context.Context
	cancel   context.CancelFunc
	accepted sync.WaitGroup // the accept loop and every carried connection

	mu     sync.Mutex
	closed bool
	conns  map[net.Conn]struct{}
}

func (c *Client) serveTCP(ln net.Listener, target tunnel.Target, log *slog.Logger, tr *traffic) *tcpServer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &tcpServer{ln: ln, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.accepted.Add(1)
	go func() {
		defer s.accepted.Done()
		s.acceptLoop(func(conn net.Conn) { c.carry(ctx, conn.(*net.TCPConn), target, log, tr) }, log)
	}()
	return s
}

// acceptLoop hands each connection to carry on its own goroutine, until
// the listener closes. Accept errors other than a closed listener (out of
// file descriptors) back off instead of spinning.
func (s *tcpServer) acceptLoop(carry func(net.Conn), log *slog.Logger) {
	retry.AcceptLoop(s.ln, s.ctx.Done(), func(conn net.Conn) {
		if !s.track(conn) {
			conn.Close()
			return
		}
		s.accepted.Add(1)
		go func() {
			defer s.accepted.Done()
			defer s.untrack(conn)
			carry(conn)
		}()
	}, func(err error) {
		if err != nil {
			log.Warn("accept failed; retrying with backoff", "err", err)
		}
	})
}

// track records conn unless the server is closing, so close never misses a
// connection accepted while it runs.
func (s *tcpServer) track(conn net.Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.conns[conn] = struct{}{}
	return true
}

func (s *tcpServer) untrack(conn net.Conn) {
	s.mu.Lock()
	delete(s.conns, conn)
	s.mu.Unlock()
}

func (s *tcpServer) stopAccepting() { s.ln.Close() }

func (s *tcpServer) drained() <-chan struct{} {
	done := make(chan struct{})
	go func() { s.accepted.Wait(); close(done) }()
	return done
}

func (s *tcpServer) close() {
	s.cancel()
	s.ln.Close()
	s.mu.Lock()
	s.closed = true
	for conn := range s.conns {
		conn.Close()
	}
	s.mu.Unlock()
	s.accepted.Wait()
}

// carry moves one local connection through the tunnel, counting it in tr.
func (c *Client) carry(ctx context.Context, conn *net.TCPConn, target tunnel.Target, log *slog.Logger, tr *traffic) {
	tr.open.Add(1)
	defer tr.open.Add(-1)
	st, err := c.open(ctx, target)
	if err != nil {
		log.Warn("closing connection", "from", conn.RemoteAddr().String(), "err", err)
		relay.Abort(conn)
		return
	}
	err = st.Relay(conn, tunnel.RelayOptions{Sent: &tr.sent, Received: &tr.received})
	var se *tunnel.StreamError
	if errors.As(err, &se) {
		// The gateway's message already names the service and port.
		c.log.Warn(se.Message)
	}
}

// open opens a stream to target on the tunnel, waiting up to ConnectWait
// for one to be up. A session that turns out to be gone when the stream
// is opened (its gateway died a moment ago) is not the connection's end:
// nothing has been sent yet, so the stream is opened again on the next
// session, within the same wait.
func (c *Client) open(ctx context.Context, target tunnel.Target) (stream, error) {
	deadline := time.Now().Add(c.opts.ConnectWait)
	for {
		sess, err := c.link.session(ctx, time.Until(deadline))
		if err != nil {
			return nil, err
		}
		st, err := sess.Open(target)
		if err == nil {
			return st, nil
		}
		select {
		case <-sess.Done():
			if time.Now().Before(deadline) {
				continue
			}
		default:
		}
		return nil, err
	}
}

func (f *resourceForward) setHostnames(names []string) {
	f.mu.Lock()
	f.hostnames = names
	f.mu.Unlock()
}

// dropHostnames removes the names in drop from the resource's hostnames.
func (f *resourceForward) dropHostnames(drop map[string]bool) {
	if len(drop) == 0 {
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	var kept []string
	for _, h := range f.hostnames {
		if !drop[h] {
			kept = append(kept, h)
		}
	}
	f.hostnames = kept
}

func (f *resourceForward) results() []Result {
	f.mu.Lock()
	names := append([]string{}, f.hostnames...)
	f.mu.Unlock()
	out := make([]Result, 0, len(f.ports))
	for _, pf := range f.ports {
		if pf.err != nil {
			out = append(out, Result{Error: &ResultError{Message: pf.err.Error()}})
			continue
		}
		out = append(out, Result{Data: &Forward{
			Type:       string(f.res.Kind),
			ProjectID:  f.res.Project,
			ID:         f.res.Name,
			Address:    pf.local.Addr().String(),
			Port:       int(pf.local.Port()),
			PortName:   pf.port.Name,
			Protocol:   string(pf.port.Protocol),
			Hostnames:  names,
			RemotePort: int(pf.port.Port),
			Note:       pf.note,
		}})
	}
	return out
}

// address is where the resource's hostnames point: its own loopback address,
// or 127.0.0.1 where the OS would not bind that.
func (f *resourceForward) address() netip.Addr {
	for _, pf := range f.ports {
		if pf.err == nil {
			return pf.local.Addr()
		}
	}
	return f.addr
}

func (f *resourceForward) close() {
	for _, pf := range f.ports {
		if pf.srv != nil {
			pf.srv.close()
		}
	}
}
