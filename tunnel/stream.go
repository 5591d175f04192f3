package tunnel

import (
	"encoding/binary"
	"fmt"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/internal/relay"
)

// Open starts a stream to t and returns at once, without waiting for the
// gateway: the caller may write right away. The stream header is held back
// until the stream's first Write, so that it rides in one frame with the
// first payload (Relay first looks, without waiting, whether the local
// connection has bytes ready); Flush, Read, Status, CloseWrite and Close
// send it at once. The gateway's verdict arrives with the first Read,
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
	return &Stream{p: newPrefixed(ms, append([]byte(nil), hdr...))}, nil
}

// Stream is a client data stream: one forwarded TCP connection or UDP
// flow. It is a net.Conn whose reads begin with the gateway's verdict on
// the stream header. Read, Write and the deadline setters may be called
// concurrently with each other; two concurrent Writes are serialised.
type Stream struct {
	p *prefixedStream // the mux stream, its header sent with the first write
	// statusOnce decides who takes the status off the stream: Status (and
	// Read) reading it, or Relay stripping it off the data. Whichever runs
	// it first wins; the other then sees its outcome.
	statusOnce sync.Once
	statusErr  error
}

// Flush sends the stream header if no write has carried it yet.
func (s *Stream) Flush() error { return s.p.flush() }

// Write sends p; the first write carries the stream header.
func (s *Stream) Write(p []byte) (int, error) { return s.p.Write(p) }

// Read returns the gateway's refusal as a *StreamError, else payload. It
// returns io.EOF after the gateway's FIN.
func (s *Stream) Read(p []byte) (int, error) {
	if err := s.Status(); err != nil {
		return 0, err
	}
	return s.p.Read(p)
}

// Status waits for the gateway's answer to the stream header. When the
// header went out with payload, the gateway may hold an OK back until the
// target's first bytes (or its end), so Status then waits for those.
func (s *Stream) Status() error {
	s.statusOnce.Do(func() {
		if err := s.Flush(); err != nil {
			s.statusErr = err
		} else {
			s.statusErr = readStatus(s.p.Stream)
		}
	})
	return s.statusErr
}

// Close sends the stream header if unsent, then closes the stream.
func (s *Stream) Close() error { return s.p.Close() }

// CloseWrite half-closes the stream: the gateway's target sees EOF while
// its replies still flow back.
func (s *Stream) CloseWrite() error { return s.p.CloseWrite() }

// Reset aborts the stream both ways: the gateway resets its target.
func (s *Stream) Reset() error { return s.p.Reset() }

// LocalAddr and RemoteAddr are those of the session's connection.
func (s *Stream) LocalAddr() net.Addr  { return s.p.LocalAddr() }
func (s *Stream) RemoteAddr() net.Addr { return s.p.RemoteAddr() }

// SetDeadline, SetReadDeadline and SetWriteDeadline bound Read and Write
// (Write waits only for the gateway's window); the zero time means none.
func (s *Stream) SetDeadline(t time.Time) error      { return s.p.SetDeadline(t) }
func (s *Stream) SetReadDeadline(t time.Time) error  { return s.p.SetReadDeadline(t) }
func (s *Stream) SetWriteDeadline(t time.Time) error { return s.p.SetWriteDeadline(t) }

var _ net.Conn = (*Stream)(nil)

// RelayOptions tune Stream.Relay. The zero value cuts no idle connection
// and counts nothing.
type RelayOptions struct {
	// Idle cuts the connection after that long without a byte either way.
	Idle time.Duration
	// Sent and Received, if set, count the bytes carried from conn to the
	// gateway and back, as they move.
	Sent, Received *atomic.Int64
}

// Relay carries conn through the stream, both ways, until both directions
// have ended, then closes both: a half-close on either side is passed on,
// a reset of either resets the other. The stream's header goes out with
// conn's first bytes when they are already waiting. It returns the first
// error, other than EOF, that ended a direction: a *StreamError when the
// gateway refused the stream or could not reach the target. It holds no
// buffer while the connection is idle.
func (s *Stream) Relay(conn net.Conn, o RelayOptions) error {
	c, ok := conn.(relay.Conn)
	if !ok {
		return fmt.Errorf("tunnel: Relay needs a connection with CloseWrite, not %T", conn)
	}
	return relay.PipeWith(c, relayStream{s}, relay.Options{Idle: o.Idle, AtoB: o.Sent, BtoA: o.Received})
}

// relayStream is the view of a Stream that relay.Pipe drives: it writes
// with the frame header's room in front (WriteHeadroom) and delivers what
// arrives by pushing it into the local socket (Push).
type relayStream struct{ *Stream }

func (r relayStream) WriteHeadroom(b []byte) (int, error) { return r.p.WriteHeadroom(b) }

// Push is mux.Stream.Push for a client stream: the gateway's status is
// taken off the front of the data, and a refusal ends the stream with its
// *StreamError (passed to done). Without Status or Read called first, the
// caller need not wait for the status before writing.
func (r relayStream) Push(sink mux.Sink, done func(error)) {
	s := r.Stream
	if err := s.Flush(); err != nil {
		s.p.Push(sink, done) // reports the stream's error
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
		s.p.Push(sink, done)
		return
	}
	s.p.Push(&statusSink{Sink: sink}, done)
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

// TryWrite and Write strip the status, then pass the rest on.
func (ss *statusSink) TryWrite(b []byte) (int, error) { return ss.pass(b, ss.Sink.TryWrite) }
func (ss *statusSink) Write(b []byte) (int, error)    { return ss.pass(b, ss.Sink.Write) }

// pass takes what is still status off b and writes the rest with write.
func (ss *statusSink) pass(b []byte, write func([]byte) (int, error)) (int, error) {
	if ss.ok {
		return write(b)
	}
	k, err := ss.take(b)
	if err != nil || len(b) == k {
		return k, err
	}
	n, err := write(b[k:])
	return k + n, err
}

// relayStream must be what relay.Pipe pushes into and writes into with
// headroom: were a method lost here, Pipe would quietly fall back to
// copying, with a goroutine and a buffer per direction and connection.
var _ interface {
	relay.Conn
	Push(mux.Sink, func(error))
	WriteHeadroom([]byte) (int, error)
	Flush() error
	Reset() error
} = relayStream{}
