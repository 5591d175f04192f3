package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/tunnel/catalog"
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
	case codeUnauthorized:
		return ErrUnauthorized
	case codeThrottled:
		return ErrThrottled
	case codeVersion:
		return ErrVersion
	}
	return ErrRefused
}

func (e *LoginError) Error() string { return e.sentinel().Error() + ": " + e.Message }

// Is matches the sentinel for the refusal's code.
func (e *LoginError) Is(target error) bool { return target == e.sentinel() }

// ClientConfig says how to reach and log in to a gateway.
type ClientConfig struct {
	Token string
	Trust Trust
	// DialTimeout bounds TCP connect, TLS handshake and login; zero means 10s.
	DialTimeout time.Duration
	// Dialer, if set, makes the TCP connection (tests route it through a
	// delay or a fault injector).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// OnPhase, if set, is called as Dial enters each phase, on Dial's
	// goroutine, so that a user waiting can be told what is being waited for.
	OnPhase func(Phase)
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
	mux      *mux.Session
	catalog  catalog.Catalog
	suffixes []string
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
	s, err := login(ctx, conn, cfg.Token)
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

func login(ctx context.Context, conn net.Conn, token string) (*Session, error) {
	ms := mux.Client(conn, muxConfig(0))
	// The gateway never opens streams in version 1: refuse any it does.
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
	if err := writeControl(control, &controlMsg{Type: msgHello, Version: Version, Token: token}); err != nil {
		ms.Close()
		return nil, fmt.Errorf("send login: %w", err)
	}
	reply, err := readControl(bufio.NewReader(control))
	if err != nil {
		ms.Close()
		return nil, fmt.Errorf("read login reply: %w", err)
	}
	control.SetDeadline(time.Time{})
	switch reply.Type {
	case msgWelcome:
		s := &Session{mux: ms, suffixes: reply.HostnameSuffixes}
		if reply.Catalog != nil {
			s.catalog = *reply.Catalog
		}
		return s, nil
	case msgError:
		ms.Close()
		return nil, loginError(reply)
	}
	ms.Close()
	return nil, &LoginError{Code: "unexpected", Message: fmt.Sprintf("unexpected %q message", reply.Type)}
}

func loginError(m *controlMsg) error {
	return &LoginError{Code: m.Code, Message: m.Message, RetryAfter: time.Duration(max(m.RetryAfter, 0)) * time.Second}
}

// Catalog returns what the gateway offered this session's token.
func (s *Session) Catalog() catalog.Catalog { return s.catalog }

// HostnameSuffixes returns the suffixes the gateway declared for its
// catalog's hostnames: a client writes a catalog hostname to its hosts file
// only under one of them. A gateway of an older version declares none.
func (s *Session) HostnameSuffixes() []string { return s.suffixes }

// Done is closed when the session ends, whichever side ended it.
func (s *Session) Done() <-chan struct{} { return s.mux.CloseChan() }

// GoingAway is closed when the gateway announced that it is going away
// (it is shutting down: Open then fails at once, while streams already open
// go on until they end or the gateway's grace period is over), or when the
// session ended. A client redials on it, without waiting for Done.
func (s *Session) GoingAway() <-chan struct{} { return s.mux.GoingAway() }

// Err returns why the session ended (closed here, closed by the gateway,
// keepalive timeout, a read or write failure), or nil while it runs.
func (s *Session) Err() error {
	if err := s.mux.Err(); err != nil {
		return fmt.Errorf("tunnel: session ended: %w", err)
	}
	return nil
}

// Close ends the session and every stream on it.
func (s *Session) Close() error { return s.mux.Close() }

// NumStreams is the number of open streams, the control stream included.
func (s *Session) NumStreams() int { return s.mux.NumStreams() }

// RTT is the smoothed round trip to the gateway, measured by keepalive
// pings; zero until the first answer.
func (s *Session) RTT() time.Duration { return s.mux.RTT() }

// Open starts a stream to t and returns at once, without waiting for the
// gateway: the caller may write right away. The stream header is held back
// until the stream's first Write, so that it rides in one frame with the
// first payload (relay.Pipe first looks, without waiting, whether the local
// connection has bytes ready); Flush, Read, Status, Push, CloseWrite and
// Close send it at once. The gateway's verdict arrives with the first Read,
// which returns a *StreamError if the gateway refused or could not dial.
func (s *Session) Open(t Target) (*Stream, error) {
	var buf [8 + 2*MaxName]byte
	hdr, err := AppendHeader(buf[:0], t)
	if err != nil {
		return nil, err
	}
	ms, err := s.mux.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("tunnel: open stream for %s: %w", t, err)
	}
	return &Stream{Stream: ms, header: append([]byte(nil), hdr...)}, nil
}

// Stream is a client data stream. Reads begin with the gateway's status.
type Stream struct {
	*mux.Stream
	// statusOnce decides who takes the status off the stream: Status (and
	// Read) reading it, or Push stripping it off the data. Whichever runs
	// it first wins; the other then sees its outcome.
	statusOnce sync.Once
	statusErr  error

	hmu    sync.Mutex
	header []byte      // stream header not sent yet, under hmu
	opened atomic.Bool // header sent
}

// Flush sends the stream header if no write has carried it yet.
func (s *Stream) Flush() error {
	if s.opened.Load() {
		return nil
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.header == nil {
		return nil
	}
	_, err := s.Stream.Write(s.header)
	s.header = nil
	s.opened.Store(true)
	return err
}

// withHeader sends the header, if still unsent, in one frame with p; it
// reports whether it did and how much of p it sent.
func (s *Stream) withHeader(p []byte) (bool, int, error) {
	if s.opened.Load() {
		return false, 0, nil
	}
	s.hmu.Lock()
	defer s.hmu.Unlock()
	if s.header == nil {
		return false, 0, nil
	}
	h := s.header
	s.header = nil
	s.opened.Store(true)
	n := mux.HeaderSize + len(h) + len(p)
	if n > mux.MaxBuffer {
		if _, err := s.Stream.Write(h); err != nil {
			return true, 0, err
		}
		k, err := s.Stream.Write(p)
		return true, k, err
	}
	bp := mux.GetBuffer(n)
	b := (*bp)[:n]
	copy(b[mux.HeaderSize:], h)
	copy(b[mux.HeaderSize+len(h):], p)
	k, err := s.Stream.WriteHeadroom(b)
	mux.PutBuffer(bp)
	return true, max(k-len(h), 0), err
}

// Write sends p; the first write carries the stream header.
func (s *Stream) Write(p []byte) (int, error) {
	if done, n, err := s.withHeader(p); done {
		return n, err
	}
	return s.Stream.Write(p)
}

// WriteHeadroom is mux.Stream.WriteHeadroom; the first write carries the
// stream header.
func (s *Stream) WriteHeadroom(b []byte) (int, error) {
	if done, n, err := s.withHeader(b[mux.HeaderSize:]); done {
		return n, err
	}
	return s.Stream.WriteHeadroom(b)
}

// Read returns the gateway's refusal as a *StreamError, else payload.
func (s *Stream) Read(p []byte) (int, error) {
	if err := s.Status(); err != nil {
		return 0, err
	}
	return s.Stream.Read(p)
}

// Status waits for the gateway's answer to the stream header. When the
// header went out with payload, the gateway may hold an OK back until the
// target's first bytes (or its end), so Status then waits for those.
func (s *Stream) Status() error {
	s.statusOnce.Do(func() {
		if err := s.Flush(); err != nil {
			s.statusErr = err
		} else {
			s.statusErr = readStatus(s.Stream)
		}
	})
	return s.statusErr
}

// Close sends the stream header if unsent, then closes the stream.
func (s *Stream) Close() error {
	s.Flush()
	return s.Stream.Close()
}

// CloseWrite half-closes the stream: the gateway's target sees EOF while
// its replies still flow back.
func (s *Stream) CloseWrite() error {
	if err := s.Flush(); err != nil {
		return err
	}
	return s.Stream.CloseWrite()
}

// Push is mux.Stream.Push for a client stream: the gateway's status is
// taken off the front of the data, and a refusal ends the stream with its
// *StreamError (passed to done). Without Status or Read called first, the
// caller need not wait for the status before writing.
func (s *Stream) Push(sink mux.Sink, done func(error)) {
	if err := s.Flush(); err != nil {
		s.Stream.Push(sink, done) // reports the stream's error
		return
	}
	strip := false
	s.statusOnce.Do(func() { strip = true }) // Status must not read the stream now
	if !strip {
		// Status ran first (perhaps concurrently, Do waited for it): the
		// status is off the stream already.
		if s.statusErr != nil {
			done(s.statusErr)
			return
		}
		s.Stream.Push(sink, done)
		return
	}
	s.Stream.Push(&statusSink{Sink: sink}, done)
}

// statusSink strips the status reply off the front of a stream's data
// before passing the rest to the sink beneath.
type statusSink struct {
	mux.Sink
	hdr  [3]byte
	got  int    // header bytes seen
	msg  []byte // message of a refusal, as it arrives
	need int    // message length, once known
	ok   bool
}

// take consumes status bytes from b, returning how many and, once a
// refusal is complete, the *StreamError.
func (ss *statusSink) take(b []byte) (int, error) {
	k := 0
	for k < len(b) && !ss.ok {
		switch {
		case ss.got == 0:
			ss.hdr[0] = b[k]
			ss.got, k = 1, k+1
			if Status(ss.hdr[0]) == StatusOK {
				ss.ok = true
			}
		case ss.got < 3:
			ss.hdr[ss.got] = b[k]
			ss.got, k = ss.got+1, k+1
			if ss.got == 3 {
				ss.need = int(binary.BigEndian.Uint16(ss.hdr[1:3]))
				if ss.need > maxStatusText {
					return k, fmt.Errorf("%w: status message of %d bytes", ErrBadHeader, ss.need)
				}
				if ss.need == 0 {
					return k, &StreamError{Status: Status(ss.hdr[0])}
				}
			}
		default:
			m := min(ss.need-len(ss.msg), len(b)-k)
			ss.msg = append(ss.msg, b[k:k+m]...)
			k += m
			if len(ss.msg) == ss.need {
				return k, &StreamError{Status: Status(ss.hdr[0]), Message: string(ss.msg)}
			}
		}
	}
	return k, nil
}

func (ss *statusSink) TryWrite(b []byte) (int, error) {
	if ss.ok {
		return ss.Sink.TryWrite(b)
	}
	k, err := ss.take(b)
	if err != nil || len(b) == k {
		return k, err
	}
	n, err := ss.Sink.TryWrite(b[k:])
	return k + n, err
}

func (ss *statusSink) Write(b []byte) (int, error) {
	if ss.ok {
		return ss.Sink.Write(b)
	}
	k, err := ss.take(b)
	if err != nil || len(b) == k {
		return k, err
	}
	n, err := ss.Sink.Write(b[k:])
	return k + n, err
}
