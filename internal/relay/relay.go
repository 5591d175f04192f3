// Package relay copies bytes both ways between two connections, passing
// half-closes on, the way a forwarder must to be invisible to the client.
//
// Between a socket and a tunnel stream (a Conn with the Push and
// WriteHeadroom methods of *mux.Stream) it holds no buffer and at most one
// goroutine while the connection is idle: the socket is waited on for
// readability without a buffer (syscall.RawConn), a pooled buffer is taken
// only for the read itself, and it is sent as one frame with the header
// written in front of the payload in the same buffer. The other direction
// is pushed by the tunnel's receive loop straight into the socket.
package relay

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
)

// Conn is a connection whose write side can be closed alone and whose reads
// can time out. *net.TCPConn is one; tunnel streams are too.
type Conn interface {
	io.ReadWriteCloser
	CloseWrite() error
	SetReadDeadline(time.Time) error
}

// pusher is a tunnel stream that delivers what it receives by writing to a
// sink itself (see mux.Stream.Push).
type pusher interface {
	Push(sink mux.Sink, done func(error))
}

// flusher is a stream that holds back its opening (tunnel.Stream: the
// stream header) until its first write, so that the first bytes ride in the
// same frame. Flush sends it alone.
type flusher interface {
	Flush() error
}

// headroomWriter sends b[mux.HeaderSize:], using the bytes in front for its
// frame header (see mux.Stream.WriteHeadroom).
type headroomWriter interface {
	WriteHeadroom(b []byte) (int, error)
}

// ErrIdle is returned by Pipe when nothing moved either way for the idle time.
var ErrIdle = errors.New("relay: connection idle too long")

// Pipe copies a to b and b to a until both directions have ended, then closes
// both. A clean EOF in one direction half-closes the other side's write
// half, so a client that shuts its write side still receives the whole
// reply. An error in either direction resets both at once. With idle > 0,
// the connection is cut after idle without a byte in either direction; zero
// never cuts an idle connection. It returns the first error other than EOF.
func Pipe(a, b Conn, idle time.Duration) error {
	return PipeWith(a, b, Options{Idle: idle})
}

// Options tune PipeWith. The zero value cuts no idle connection and counts
// nothing.
type Options struct {
	// Idle cuts the connection after that long without a byte either way.
	Idle time.Duration
	// AtoB and BtoA, if set, count the bytes moved from a to b and from b
	// to a, as they are written.
	AtoB, BtoA *atomic.Int64
}

// PipeWith is Pipe with options.
func PipeWith(a, b Conn, o Options) error {
	p := &pipe{a: a, b: b, idle: o.Idle, aToB: o.AtoB, bToA: o.BtoA}
	p.last.Store(time.Now().UnixNano())
	_, aPush := a.(pusher)
	bPush, bIsPush := b.(pusher)
	switch {
	case bIsPush && !aPush:
		return p.pushed(a, b, bPush)
	case aPush && !bIsPush:
		return p.pushed(b, a, a.(pusher))
	}
	return p.copied()
}

type pipe struct {
	a, b       Conn
	idle       time.Duration
	aToB, bToA *atomic.Int64 // byte counts, or nil
	last       atomic.Int64  // unix ns of the last byte either way
	errMu      sync.Mutex
	err        error // the first error
}

func (p *pipe) touch() {
	if p.idle > 0 {
		p.last.Store(time.Now().UnixNano())
	}
}

// wrote counts n bytes written into dst.
func (p *pipe) wrote(dst Conn, n int) {
	c := p.bToA
	if dst == p.b {
		c = p.aToB
	}
	if c != nil && n > 0 {
		c.Add(int64(n))
	}
}

// fail records err if it is the first and resets both ends, so that a
// direction blocked on one of them ends too.
func (p *pipe) fail(err error) {
	p.errMu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.errMu.Unlock()
	Abort(p.a)
	Abort(p.b)
}

func (p *pipe) result() error {
	p.errMu.Lock()
	defer p.errMu.Unlock()
	return p.err
}

// pushed relays between a socket c and a stream st that pushes its data
// into c: this goroutine carries c to st.
func (p *pipe) pushed(c, st Conn, push pusher) error {
	if f, ok := st.(flusher); ok {
		// The connection's first bytes, when they are already there (the
		// client speaks first), go out with the stream's opening; when they
		// are not, the opening goes out alone at once, since the other end
		// may be the one to speak first.
		if err := p.first(st, c, f); err != nil {
			p.fail(err)
			c.Close()
			st.Close()
			return p.result()
		}
	}
	done := make(chan error, 1)
	push.Push(newSink(c, p), func(err error) {
		if err != nil {
			p.fail(err)
		}
		done <- err
	})
	if err := p.readTo(st, c); err != nil {
		p.fail(err)
	}
	p.waitDone(done)
	c.Close()
	st.Close()
	return p.result()
}

// waitDone waits for the pushed direction to end, enforcing the idle limit.
func (p *pipe) waitDone(done chan error) {
	if p.idle <= 0 {
		<-done
		return
	}
	t := time.NewTimer(p.idle)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			if rest := p.idle - time.Since(time.Unix(0, p.last.Load())); rest > 0 {
				t.Reset(rest)
				continue
			}
			p.fail(ErrIdle)
			<-done
			return
		}
	}
}

// copied relays between two connections neither of which pushes: one
// goroutine per direction.
func (p *pipe) copied() error {
	errc := make(chan struct{})
	go func() {
		defer close(errc)
		if err := p.readTo(p.b, p.a); err != nil {
			p.fail(err)
		}
	}()
	if err := p.readTo(p.a, p.b); err != nil {
		p.fail(err)
	}
	<-errc
	p.a.Close()
	p.b.Close()
	return p.result()
}

// readTo copies src to dst until EOF, then closes dst's write side. It
// returns the error that ended the copy, nil after a clean EOF.
func (p *pipe) readTo(dst, src Conn) error {
	hw, _ := dst.(headroomWriter)
	rc := rawConn(src)
	var held *[]byte // only when src cannot be waited on without a buffer
	defer func() {
		if held != nil {
			mux.PutBuffer(held)
		}
	}()
	for {
		if p.idle > 0 {
			src.SetReadDeadline(time.Unix(0, p.last.Load()).Add(p.idle))
		}
		var (
			bp  *[]byte
			n   int
			err error
		)
		if rc != nil {
			bp, n, err = readRaw(rc)
		} else {
			if held == nil {
				held = mux.GetBuffer(mux.MaxBuffer)
			}
			bp = held
			n, err = src.Read((*bp)[mux.HeaderSize:mux.MaxBuffer])
		}
		if n > 0 {
			p.touch()
			var (
				k    int
				werr error
			)
			if hw != nil {
				k, werr = hw.WriteHeadroom((*bp)[:mux.HeaderSize+n])
			} else {
				k, werr = dst.Write((*bp)[mux.HeaderSize : mux.HeaderSize+n])
			}
			p.wrote(dst, k)
			if werr != nil {
				if bp != held {
					mux.PutBuffer(bp)
				}
				return werr
			}
		}
		if bp != nil && bp != held {
			mux.PutBuffer(bp)
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return dst.CloseWrite()
		case errors.Is(err, os.ErrDeadlineExceeded) && p.idle > 0:
			// The other direction may have been busy meanwhile.
			if time.Since(time.Unix(0, p.last.Load())) < p.idle {
				continue
			}
			return ErrIdle
		default:
			// Including net.ErrClosed: whoever closed one end wants the
			// whole connection gone, and the other direction may be blocked.
			return err
		}
	}
}

// first sends what src has ready now, without waiting, to dst, whose
// opening then rides with it; with nothing ready it sends the opening alone.
// An end of src is left for readTo to find again.
func (p *pipe) first(dst, src Conn, f flusher) error {
	rc := rawConn(src)
	if rc == nil {
		return f.Flush()
	}
	var (
		bp   *[]byte
		n    int
		rerr error
	)
	err := rc.Read(func(fd uintptr) bool {
		bp = mux.GetBuffer(mux.MaxBuffer)
		n, rerr = sysRead(fd, (*bp)[mux.HeaderSize:mux.MaxBuffer])
		return true // never wait
	})
	if bp != nil {
		defer mux.PutBuffer(bp)
	}
	if err == nil && rerr != nil && !wouldBlock(rerr) {
		err = os.NewSyscallError("read", rerr)
	}
	if err != nil {
		return err
	}
	if n <= 0 {
		return f.Flush()
	}
	p.touch()
	var k int
	if hw, ok := dst.(headroomWriter); ok {
		k, err = hw.WriteHeadroom((*bp)[:mux.HeaderSize+n])
	} else {
		k, err = dst.Write((*bp)[mux.HeaderSize : mux.HeaderSize+n])
	}
	p.wrote(dst, k)
	return err
}

// readRaw waits until the socket is readable, holding no buffer, then reads
// into a pooled buffer after mux.HeaderSize bytes of headroom. It returns
// io.EOF at the end of the stream; the buffer, if not nil, is the caller's
// to put back.
func readRaw(rc syscall.RawConn) (*[]byte, int, error) {
	var (
		bp   *[]byte
		n    int
		rerr error
	)
	err := rc.Read(func(fd uintptr) bool {
		if bp == nil {
			bp = mux.GetBuffer(mux.MaxBuffer)
		}
		n, rerr = sysRead(fd, (*bp)[mux.HeaderSize:mux.MaxBuffer])
		if wouldBlock(rerr) {
			// Nothing yet: give the buffer back before waiting.
			mux.PutBuffer(bp)
			bp = nil
			return false
		}
		return true
	})
	if err == nil && rerr != nil {
		err = os.NewSyscallError("read", rerr)
	}
	if n < 0 {
		n = 0
	}
	if err == nil && n == 0 {
		err = io.EOF
	}
	return bp, n, err
}

// sink writes a stream's pushed data to a connection.
type sink struct {
	c  Conn
	rc syscall.RawConn
	p  *pipe
}

func newSink(c Conn, p *pipe) *sink {
	s := &sink{c: c, p: p}
	s.rc = rawConn(c)
	return s
}

// TryWrite writes what the socket takes now, without waiting. A connection
// that is not a socket takes nothing this way; Write then does it all.
func (s *sink) TryWrite(b []byte) (int, error) {
	if s.rc == nil {
		return 0, nil
	}
	var (
		n    int
		werr error
	)
	err := s.rc.Write(func(fd uintptr) bool {
		n, werr = sysWrite(fd, b)
		return true
	})
	if n < 0 {
		n = 0
	}
	switch {
	case err != nil:
		return 0, err
	case wouldBlock(werr):
		return 0, nil
	case werr != nil:
		return 0, os.NewSyscallError("write", werr)
	}
	s.p.touch()
	s.p.wrote(s.c, n)
	return n, nil
}

func (s *sink) Write(b []byte) (int, error) {
	n, err := s.c.Write(b)
	s.p.touch()
	s.p.wrote(s.c, n)
	return n, err
}

func (s *sink) CloseWrite() error { return s.c.CloseWrite() }

// Abort closes c so that its peer sees a reset rather than a clean end, where
// the OS allows it: a forwarded connection that failed must not look like
// one that finished. A tunnel stream is reset.
func Abort(c io.Closer) {
	if r, ok := c.(interface{ Reset() error }); ok {
		r.Reset()
		return
	}
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		l.SetLinger(0)
	}
	c.Close()
}
