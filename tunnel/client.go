package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"golang.org/x/crypto/ssh"
)

// Errors a client gets from Dial. A refused login is a *LoginError, which
// matches one of ErrUnauthorized, ErrThrottled, ErrVersion or ErrRefused.
var (
	ErrUnauthorized = errors.New("tunnel: gateway refused the token")
	ErrThrottled    = errors.New("tunnel: too many failed logins")
	ErrVersion      = errors.New("tunnel: gateway speaks another protocol version")
	ErrUnreachable  = errors.New("tunnel: gateway unreachable")
	ErrRefused      = errors.New("tunnel: gateway refused the session")
)

// LoginError is the gateway's refusal of a login, from its error message.
type LoginError struct {
	Code    string // the message's code: "unauthorized", "too_many_failures", ...
	Message string // the gateway's words for the user
	// RetryAfter is how long the gateway asks to wait (too_many_failures).
	RetryAfter time.Duration
}

func (e *LoginError) sentinel() error {
	switch e.Code {
	case codeUnauthorized, codeSSHRefused:
		return ErrUnauthorized
	case codeThrottled:
		return ErrThrottled
	case codeVersion:
		return ErrVersion
	}
	return ErrRefused
}

func (e *LoginError) Error() string {
	if e.Code == codeSSHRefused {
		return "tunnel: gateway refused the SSH login: " + e.Message
	}
	return e.sentinel().Error() + ": " + e.Message
}

// Is matches the sentinel for the refusal's code.
func (e *LoginError) Is(target error) bool { return target == e.sentinel() }

// ClientConfig says how to reach and log in to a gateway.
type ClientConfig struct {
	// Token logs in with a token; without one, SSHSigners log in with SSH
	// keys: the gateway picks the first key one of its users has, and the
	// client signs a challenge bound to this TLS session with it.
	Token      string
	SSHSigners []ssh.Signer
	Trust      Trust
	// DialTimeout bounds TCP connect, TLS handshake and login; zero means 10s.
	DialTimeout time.Duration
	// Dialer, if set, makes the TCP connection (tests route it through a
	// delay or a fault injector).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnPhase, if set, is called as Dial enters each phase, on Dial's
	// goroutine, so that a user waiting can be told what is being waited for.
	OnPhase func(Phase)
	// Logger receives the session's debug logs; nil discards them.
	Logger *slog.Logger
}

// Phase is a step of Dial.
type Phase int

// The phases of Dial, in order.
const (
	PhaseConnect Phase = iota + 1 // TCP connection to the gateway
	PhaseTLS                      // TLS handshake, certificate check included
	PhaseLogin                    // hello, token check and welcome
)

// String names the phase for people: "connecting", "TLS handshake", "login".
func (p Phase) String() string {
	switch p {
	case PhaseConnect:
		return "connecting"
	case PhaseTLS:
		return "TLS handshake"
	case PhaseLogin:
		return "login"
	}
	return "unknown phase"
}

// DialError is a Dial that could not reach a working gateway: it says in
// which phase and, when the phase ran out of time, after how long. It
// matches ErrUnreachable.
type DialError struct {
	Phase   Phase
	Addr    string
	Timeout time.Duration // set when the phase did not finish in time
	Err     error
}

func (e *DialError) Error() string {
	what := map[Phase]string{PhaseConnect: "connecting to", PhaseTLS: "TLS handshake with", PhaseLogin: "login at"}[e.Phase]
	if e.Timeout > 0 {
		return fmt.Sprintf("%s: %s %s did not finish in %s", ErrUnreachable, what, e.Addr, e.Timeout)
	}
	return fmt.Sprintf("%s: %s %s: %v", ErrUnreachable, what, e.Addr, e.Err)
}

// Unwrap returns the underlying failure.
func (e *DialError) Unwrap() error { return e.Err }

// Is makes errors.Is(err, ErrUnreachable) true.
func (e *DialError) Is(target error) bool { return target == ErrUnreachable }

// dialFailed wraps err as a *DialError of phase, naming the timeout when
// the deadline was what ended it.
func dialFailed(ctx context.Context, phase Phase, addr string, timeout time.Duration, err error) error {
	e := &DialError{Phase: phase, Addr: addr, Err: err}
	if ctx.Err() == context.DeadlineExceeded || errors.Is(err, context.DeadlineExceeded) || errors.Is(err, os.ErrDeadlineExceeded) {
		e.Timeout = timeout
	}
	return e
}

// Session is one client connection to a gateway. Its methods are safe for
// concurrent use.
type Session struct {
	mux *mux.Session

	mu       sync.Mutex // catalog and suffixes change when the gateway pushes
	catalog  catalog.Catalog
	suffixes []string
	updates  chan struct{} // one pending signal: the catalog changed

	log       *slog.Logger
	cause     error // why the control stream ended the session, if it did
	causeOnce sync.Once

	control   net.Conn   // written after the login only to expose
	sendMu    sync.Mutex // one control message at a time
	canExpose bool       // the welcome named featureExpose
	exposing  exposeTable
}

// Dial connects to the gateway at addr ("host:port"), verifies it, logs in and
// reads the catalog. It returns errors matching ErrUnreachable,
// ErrUntrusted, ErrUnauthorized or ErrVersion.
func Dial(ctx context.Context, addr string, cfg *ClientConfig) (*Session, error) {
	if cfg == nil {
		cfg = &ClientConfig{}
	}
	timeout := cfg.DialTimeout
	if timeout == 0 {
		timeout = 10 * time.Second
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()

	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("tunnel: gateway address %q: %w", addr, err)
	}
	tlsConf, err := cfg.Trust.clientTLSConfig(host)
	if err != nil {
		return nil, err
	}
	dial := cfg.Dialer
	if dial == nil {
		dial = (&net.Dialer{KeepAlive: 15 * time.Second}).DialContext
	}
	if cfg.Logger == nil {
		c := *cfg
		c.Logger = discardLogger
		cfg = &c
	}
	phase := func(p Phase) {
		if cfg.OnPhase != nil {
			cfg.OnPhase(p)
		}
	}
	phase(PhaseConnect)
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, dialFailed(ctx, PhaseConnect, addr, timeout, err)
	}
	phase(PhaseTLS)
	conn := tls.Client(raw, tlsConf)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		var untrusted *UntrustedError
		if errors.As(err, &untrusted) {
			return nil, untrusted
		}
		return nil, dialFailed(ctx, PhaseTLS, addr, timeout, err)
	}
	if p := conn.ConnectionState().NegotiatedProtocol; p != alpn {
		conn.Close()
		return nil, &DialError{Phase: PhaseTLS, Addr: addr, Err: fmt.Errorf("not a fwd gateway (TLS application protocol %q, want %q)", p, alpn)}
	}
	phase(PhaseLogin)
	s, err := login(ctx, conn, cfg)
	if err != nil {
		conn.Close()
		var le *LoginError
		if errors.As(err, &le) {
			return nil, err
		}
		return nil, dialFailed(ctx, PhaseLogin, addr, timeout, err)
	}
	return s, nil
}

func login(ctx context.Context, conn *tls.Conn, cfg *ClientConfig) (*Session, error) {
	ms := mux.Client(conn, muxConfig(0))
	// The gateway opens streams only for exposed ports, and only once the
	// welcome said both sides expose: until then, refuse any it does.
	ms.SetHandler(func(st *mux.Stream) { st.Reset() })
	control, err := ms.OpenStream()
	if err != nil {
		ms.Close()
		return nil, fmt.Errorf("open control stream: %w", err)
	}
	// The deadline covers the whole login; a gateway that accepts TCP but
	// never answers must not hang the client.
	if d, ok := ctx.Deadline(); ok {
		control.SetDeadline(d)
	}
	br := bufio.NewReader(control)
	reply, err := sendHello(control, br, conn, cfg)
	if err != nil {
		ms.Close()
		return nil, err
	}
	control.SetDeadline(time.Time{})
	switch reply.Type {
	case msgWelcome:
		s := &Session{mux: ms, suffixes: reply.HostnameSuffixes, log: cfg.Logger, updates: make(chan struct{}, 1),
			control: control, canExpose: hasFeature(reply.Features, featureExpose)}
		if reply.Catalog != nil {
			s.catalog = *reply.Catalog
		}
		if s.canExpose {
			ms.SetHandler(s.serveExposed)
		}
		go s.readControl(br)
		return s, nil
	case msgError:
		ms.Close()
		return nil, loginError(reply)
	}
	ms.Close()
	return nil, &LoginError{Code: "unexpected", Message: fmt.Sprintf("unexpected %q message", reply.Type)}
}

// sendHello logs in with the token, or with SSH keys when there is none,
// and returns the gateway's last reply (welcome or error).
func sendHello(control net.Conn, br *bufio.Reader, conn *tls.Conn, cfg *ClientConfig) (*controlMsg, error) {
	if cfg.Token == "" && len(cfg.SSHSigners) > 0 {
		cs := conn.ConnectionState()
		if len(cs.PeerCertificates) == 0 {
			return nil, errors.New("no gateway certificate to bind the SSH login to")
		}
		binding, err := sessionBinding(cs, cs.PeerCertificates[0].Raw)
		if err != nil {
			return nil, err
		}
		return loginSSH(control, br, cfg.SSHSigners, binding)
	}
	if err := writeControl(control, &controlMsg{Type: msgHello, Version: Version, Token: cfg.Token, Features: clientFeatures}); err != nil {
		return nil, fmt.Errorf("send login: %w", err)
	}
	reply, err := readGatewayControl(br)
	if err != nil {
		return nil, fmt.Errorf("read login reply: %w", err)
	}
	return reply, nil
}

func loginError(m *controlMsg) error {
	return &LoginError{Code: m.Code, Message: m.Message, RetryAfter: time.Duration(max(m.RetryAfter, 0)) * time.Second}
}

// readControl reads the control stream for as long as the session lives:
// the stream stays open for the whole session, and when the gateway ends
// or resets it, or sends an error, the session ends. Messages of types
// this version does not know are skipped, so that a newer gateway can add
// some.
func (s *Session) readControl(br *bufio.Reader) {
	for {
		m, err := readGatewayControl(br)
		if err != nil {
			if !s.mux.IsClosed() {
				// The gateway ended the control stream, not the session
				// breaking (whose own error then tells why).
				s.end(fmt.Errorf("the gateway ended the control stream: %w", err))
			}
			return
		}
		switch m.Type {
		case msgError:
			s.end(loginError(m))
			return
		case msgCatalog:
			s.setCatalog(m)
		case msgExposed, msgExposeRefused, msgUnexposed:
			s.exposing.answer(m)
		default:
			s.log.Debug("skipping a control message of a type this version does not know", "type", m.Type)
		}
	}
}

// end closes the session, keeping cause as what Err reports.
func (s *Session) end(cause error) {
	s.causeOnce.Do(func() { s.cause = cause })
	s.mux.Close()
}

// setCatalog takes a catalog the gateway pushed, and signals Updates.
func (s *Session) setCatalog(m *controlMsg) {
	s.mu.Lock()
	s.catalog = catalog.Catalog{}
	if m.Catalog != nil {
		s.catalog = *m.Catalog
	}
	s.suffixes = m.HostnameSuffixes
	s.mu.Unlock()
	select {
	case s.updates <- struct{}{}:
	default: // a signal is pending: its reader will see this catalog
	}
}

// Catalog returns what the gateway offers this session's login: the
// welcome's catalog, or the last one the gateway pushed since.
func (s *Session) Catalog() catalog.Catalog {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.catalog
}

// HostnameSuffixes returns the suffixes the gateway declared for its
// catalog's hostnames: a client writes a catalog hostname to its hosts file
// only under one of them. A gateway of an older version declares none.
func (s *Session) HostnameSuffixes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.suffixes
}

// Updates receives a value when the gateway has pushed a new catalog
// (its config was reloaded): Catalog and HostnameSuffixes then return the
// new ones. Signals do not queue: one receive may stand for several pushes.
func (s *Session) Updates() <-chan struct{} { return s.updates }

// Done is closed when the session ends, whichever side ended it.
func (s *Session) Done() <-chan struct{} { return s.mux.CloseChan() }

// GoingAway is closed when the gateway announced that it is going away
// (it is shutting down: Open then fails at once, while streams already open
// go on until they end or the gateway's grace period is over), or when the
// session ended. A client redials on it, without waiting for Done.
func (s *Session) GoingAway() <-chan struct{} { return s.mux.GoingAway() }

// Err returns why the session ended (closed here, closed by the gateway,
// an error message from the gateway, keepalive timeout, a read or write
// failure), or nil while it runs.
func (s *Session) Err() error {
	err := s.mux.Err()
	if err == nil {
		return nil
	}
	s.causeOnce.Do(func() {}) // end sets the cause before it closes: final now
	if s.cause != nil {
		err = s.cause
	}
	return fmt.Errorf("tunnel: session ended: %w", err)
}

// Close ends the session and every stream on it.
func (s *Session) Close() error { return s.mux.Close() }

// NumStreams is the number of open streams, the control stream included.
func (s *Session) NumStreams() int { return s.mux.NumStreams() }

// RTT is the smoothed round trip to the gateway, measured by keepalive
// pings; zero until the first answer.
func (s *Session) RTT() time.Duration { return s.mux.RTT() }
