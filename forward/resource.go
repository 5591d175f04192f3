package forward

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/fwd-dev/fwd/internal/catalog"
	"github.com/fwd-dev/fwd/internal/relay"
	"github.com/fwd-dev/fwd/internal/retry"
	"github.com/fwd-dev/fwd/tunnel"
)

// resourceForward is one service or addon being forwarded: its address and
// one listener per port.
type resourceForward struct {
	c     *Client
	res   catalog.Resource
	addr  netip.Addr
	ports []*portForward

	mu        sync.Mutex
	hostnames []string
}

// portForward is one listening port and the connections it carries.
type portForward struct {
	port  catalog.Port
	local netip.AddrPort
	note  string
	err   error
	log   *slog.Logger
	srv   server
}

// server is what serves one port: it can stop taking new connections, wait
// for open ones to finish, and cut them.
type server interface {
	stopAccepting()
	drained() <-chan struct{} // closed when no connection is open after stopAccepting
	close()                   // stops accepting and cuts every connection
}

func (c *Client) startResource(res catalog.Resource) *resourceForward {
	f := &resourceForward{c: c, res: res, addr: c.alloc.Addr(res.ID())}
	for _, p := range res.Ports {
		f.ports = append(f.ports, f.startPort(p))
	}
	return f
}

func (f *resourceForward) startPort(p catalog.Port) *portForward {
	pf := &portForward{port: p, log: f.c.log.With("forward", f.label(p))}
	target := tunnel.Target{ID: f.res.ID(), Network: p.Protocol.Network(), Port: p.Port}
	var err error
	if target.Network == "udp" {
		err = f.startUDP(pf, target)
	} else {
		err = f.startTCP(pf, target)
	}
	if err != nil {
		pf.err = fmt.Errorf("%s: %w", f.label(p), err)
	} else if pf.note != "" {
		pf.log.Warn(pf.note)
	}
	return pf
}

func (f *resourceForward) startTCP(pf *portForward, target tunnel.Target) error {
	ln, note, err := listenTCP(f.addr, pf.port.Port)
	if err != nil {
		return err
	}
	pf.note = note
	pf.local = netip.MustParseAddrPort(ln.Addr().String())
	pf.srv = f.c.serveTCP(ln, target, pf.log)
	return nil
}

func (f *resourceForward) startUDP(pf *portForward, target tunnel.Target) error {
	conn, note, err := listenUDP(f.addr, pf.port.Port)
	if err != nil {
		return err
	}
	pf.note = note
	pf.local = conn.LocalAddr().(*net.UDPAddr).AddrPort()
	pf.srv = f.c.serveUDP(conn, target, pf.log)
	return nil
}

// label names a port in logs and errors: "shop/api http".
func (f *resourceForward) label(p catalog.Port) string {
	name := p.Name
	if name == "" {
		name = strconv.Itoa(int(p.Port))
	}
	return f.res.ID().String() + " " + name
}

// listenTCP binds addr:port. When that cannot be bound (a privileged port
// without root, a port in use, an address the OS does not route) it binds a
// free port instead and says why in note.
func listenTCP(addr netip.Addr, port uint16) (net.Listener, string, error) {
	var ln net.Listener
	note, err := bindWithFallback(addr, port, func(ap netip.AddrPort) (netip.AddrPort, error) {
		var err error
		if ln, err = net.Listen("tcp", ap.String()); err != nil {
			return ap, err
		}
		return netip.MustParseAddrPort(ln.Addr().String()), nil
	})
	return ln, note, err
}

// listenUDP is listenTCP for a UDP socket.
func listenUDP(addr netip.Addr, port uint16) (*net.UDPConn, string, error) {
	var conn *net.UDPConn
	note, err := bindWithFallback(addr, port, func(ap netip.AddrPort) (netip.AddrPort, error) {
		var err error
		if conn, err = net.ListenUDP("udp", net.UDPAddrFromAddrPort(ap)); err != nil {
			return ap, err
		}
		return conn.LocalAddr().(*net.UDPAddr).AddrPort(), nil
	})
	return conn, note, err
}

// bindWithFallback tries addr:port, then a free port, and words the note.
func bindWithFallback(addr netip.Addr, port uint16, bind func(netip.AddrPort) (netip.AddrPort, error)) (string, error) {
	_, err := bind(netip.AddrPortFrom(addr, port))
	if err == nil {
		return "", nil
	}
	reason := bindFailure(err, port)
	if errors.Is(err, syscall.EADDRNOTAVAIL) {
		// macOS routes only 127.0.0.1 until lo0 gets an alias.
		addr = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	}
	got, err2 := bind(netip.AddrPortFrom(addr, 0))
	if err2 != nil {
		return "", fmt.Errorf("cannot listen on %s port %d (%s) nor on a free port: %w", addr, port, reason, err2)
	}
	return fmt.Sprintf("port %d %s: forwarded on %s instead", port, reason, got), nil
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

func (c *Client) serveTCP(ln net.Listener, target tunnel.Target, log *slog.Logger) *tcpServer {
	ctx, cancel := context.WithCancel(context.Background())
	s := &tcpServer{ln: ln, ctx: ctx, cancel: cancel, conns: map[net.Conn]struct{}{}}
	s.accepted.Add(1)
	go func() {
		defer s.accepted.Done()
		s.acceptLoop(func(conn net.Conn) { c.carry(ctx, conn.(*net.TCPConn), target, log) }, log)
	}()
	return s
}

// acceptLoop hands each connection to carry on its own goroutine. Accept
// errors other than a closed listener (out of file descriptors) back off, as
// net/http does, instead of spinning.
func (s *tcpServer) acceptLoop(carry func(net.Conn), log *slog.Logger) {
	var pause retry.Pause
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			if s.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			wait, first := pause.Failed()
			if first {
				log.Warn("accept failed; retrying with backoff", "err", err)
			}
			select {
			case <-time.After(wait):
			case <-s.ctx.Done():
				return
			}
			continue
		}
		pause.Succeeded()
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
	}
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

// carry moves one local connection through the tunnel.
func (c *Client) carry(ctx context.Context, conn *net.TCPConn, target tunnel.Target, log *slog.Logger) {
	sess, err := c.link.session(ctx, c.opts.ConnectWait)
	if err != nil {
		log.Warn("closing connection", "from", conn.RemoteAddr().String(), "err", err)
		relay.Abort(conn)
		return
	}
	st, err := sess.Open(target)
	if err != nil {
		log.Warn("closing connection", "from", conn.RemoteAddr().String(), "err", err)
		relay.Abort(conn)
		return
	}
	err = relay.Pipe(conn, st, 0)
	var se *tunnel.StreamError
	if errors.As(err, &se) {
		// The gateway's message already names the service and port.
		c.log.Warn(se.Message)
	}
}

func (f *resourceForward) setHostnames(names []string) {
	f.mu.Lock()
	f.hostnames = names
	f.mu.Unlock()
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
