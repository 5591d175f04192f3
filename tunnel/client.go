package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/fwd-dev/fwd/internal/catalog"
)

// Errors a client gets from Dial. Each is wrapped with the gateway's message.
var (
	ErrUnauthorized = errors.New("tunnel: gateway refused the token")
	ErrVersion      = errors.New("tunnel: gateway speaks another protocol version")
	ErrUnreachable  = errors.New("tunnel: gateway unreachable")
	ErrRefused      = errors.New("tunnel: gateway refused the session")
)

// ClientConfig says how to reach and log in to a gateway.
type ClientConfig struct {
	Token string
	Trust Trust
	// DialTimeout bounds TCP connect, TLS handshake and login; zero means 10s.
	DialTimeout time.Duration
	// Dialer, if set, makes the TCP connection (tests route it through a
	// delay or a fault injector).
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// Session is one client connection to a gateway. Its methods are safe for
// concurrent use.
type Session struct {
	mux     *yamux.Session
	control net.Conn
	catalog catalog.Catalog
	closeMu sync.Once
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
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrUnreachable, addr, err)
	}
	conn := tls.Client(raw, tlsConf)
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		var untrusted *UntrustedError
		if errors.As(err, &untrusted) {
			return nil, untrusted
		}
		return nil, fmt.Errorf("%w: TLS handshake with %s: %w", ErrUnreachable, addr, err)
	}
	s, err := login(ctx, conn, cfg.Token)
	if err != nil {
		conn.Close()
		return nil, err
	}
	return s, nil
}

func login(ctx context.Context, conn net.Conn, token string) (*Session, error) {
	mux, err := yamux.Client(newCoalescingConn(conn), muxConfig())
	if err != nil {
		return nil, fmt.Errorf("tunnel: start session: %w", err)
	}
	control, err := mux.OpenStream()
	if err != nil {
		mux.Close()
		return nil, fmt.Errorf("%w: open control stream: %w", ErrUnreachable, err)
	}
	// The deadline covers the whole login; a gateway that accepts TCP but
	// never answers must not hang the client.
	if d, ok := ctx.Deadline(); ok {
		control.SetDeadline(d)
	}
	if err := writeControl(control, &controlMsg{Type: msgHello, Version: Version, Token: token}); err != nil {
		mux.Close()
		return nil, fmt.Errorf("%w: send login: %w", ErrUnreachable, err)
	}
	reply, err := readControl(bufio.NewReader(control))
	if err != nil {
		mux.Close()
		return nil, fmt.Errorf("%w: read login reply: %w", ErrUnreachable, err)
	}
	control.SetDeadline(time.Time{})
	switch reply.Type {
	case msgWelcome:
		s := &Session{mux: mux, control: control}
		if reply.Catalog != nil {
			s.catalog = *reply.Catalog
		}
		return s, nil
	case msgError:
		mux.Close()
		return nil, loginError(reply)
	}
	mux.Close()
	return nil, fmt.Errorf("%w: unexpected %q message", ErrRefused, reply.Type)
}

func loginError(m *controlMsg) error {
	switch m.Code {
	case codeUnauthorized:
		return fmt.Errorf("%w: %s", ErrUnauthorized, m.Message)
	case codeVersion:
		return fmt.Errorf("%w: %s", ErrVersion, m.Message)
	}
	return fmt.Errorf("%w: %s", ErrRefused, m.Message)
}

// Catalog returns what the gateway offered this session's token.
func (s *Session) Catalog() catalog.Catalog { return s.catalog }

// Done is closed when the session ends, whichever side ended it.
func (s *Session) Done() <-chan struct{} { return s.mux.CloseChan() }

// Close ends the session and every stream on it.
func (s *Session) Close() error {
	var err error
	s.closeMu.Do(func() { err = s.mux.Close() })
	return err
}

// NumStreams is the number of open streams, the control stream included.
func (s *Session) NumStreams() int { return s.mux.NumStreams() }

// Open starts a stream to t. It writes the stream header and returns at once,
// without waiting for the gateway: the caller may write right away. The
// gateway's verdict arrives with the first Read, which returns a
// *StreamError if the gateway refused or could not dial.
func (s *Session) Open(t Target) (*Stream, error) {
	hdr, err := AppendHeader(make([]byte, 0, 8+len(t.ID.Project)+len(t.ID.Name)), t)
	if err != nil {
		return nil, err
	}
	ys, err := s.mux.OpenStream()
	if err != nil {
		return nil, fmt.Errorf("tunnel: open stream for %s: %w", t, err)
	}
	if _, err := ys.Write(hdr); err != nil {
		ys.Close()
		return nil, fmt.Errorf("tunnel: open stream for %s: %w", t, err)
	}
	return &Stream{Stream: ys}, nil
}

// Stream is a client data stream. Reads begin with the gateway's status.
type Stream struct {
	*yamux.Stream
	statusOnce sync.Once
	statusErr  error
}

// Read returns the gateway's refusal as a *StreamError, else payload.
func (s *Stream) Read(p []byte) (int, error) {
	if err := s.Status(); err != nil {
		return 0, err
	}
	return s.Stream.Read(p)
}

// Status waits for the gateway's answer to the stream header.
func (s *Stream) Status() error {
	s.statusOnce.Do(func() { s.statusErr = readStatus(s.Stream) })
	return s.statusErr
}

// CloseWrite half-closes the stream: the gateway's target sees EOF while
// its replies still flow back.
func (s *Stream) CloseWrite() error { return s.Stream.Close() }
