// Package relay copies bytes both ways between two connections, passing
// half-closes on, the way a forwarder must to be invisible to the client.
package relay

import (
	"errors"
	"io"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Conn is a connection whose write side can be closed alone and whose reads
// can time out. *net.TCPConn is one; tunnel streams are too.
type Conn interface {
	io.ReadWriteCloser
	CloseWrite() error
	SetReadDeadline(time.Time) error
}

// bufSize is one copy buffer: big enough to fill a few TLS records per read.
const bufSize = 32 << 10

var buffers = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// ErrIdle is returned by Pipe when nothing moved either way for the idle time.
var ErrIdle = errors.New("relay: connection idle too long")

// Pipe copies a to b and b to a until both directions have ended, then closes
// both. A clean EOF in one direction half-closes the other side's write
// half, so a client that shuts its write side still receives the whole
// reply. An error in either direction resets both at once. With idle > 0,
// the connection is cut after idle without a byte in either direction; zero
// never cuts an idle connection. It returns the first error other than EOF.
func Pipe(a, b Conn, idle time.Duration) error {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	errc := make(chan error, 1)
	go func() { errc <- copyHalf(b, a, idle, &last) }()
	err := copyHalf(a, b, idle, &last)
	if err != nil {
		// Unblock the other direction: the connection is broken.
		Abort(a)
		Abort(b)
	}
	err2 := <-errc
	a.Close()
	b.Close()
	if err != nil {
		return err
	}
	return err2
}

// copyHalf copies src to dst and then closes dst's write side.
func copyHalf(dst, src Conn, idle time.Duration, last *atomic.Int64) error {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	for {
		if idle > 0 {
			src.SetReadDeadline(time.Unix(0, last.Load()).Add(idle))
		}
		n, err := src.Read(buf)
		if n > 0 {
			if idle > 0 {
				last.Store(time.Now().UnixNano())
			}
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return fail(dst, src, werr)
			}
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			return dst.CloseWrite()
		case errors.Is(err, os.ErrDeadlineExceeded) && idle > 0:
			// The other direction may have been busy meanwhile.
			if time.Since(time.Unix(0, last.Load())) < idle {
				continue
			}
			return fail(dst, src, ErrIdle)
		default:
			// Including net.ErrClosed: whoever closed one end wants the
			// whole connection gone, and the other direction may be blocked.
			return fail(dst, src, err)
		}
	}
}

// fail resets both ends: the other direction may still be draining.
func fail(dst, src Conn, err error) error {
	Abort(dst)
	Abort(src)
	return err
}

// Abort closes c so that its peer sees a reset rather than a clean end, where
// the OS allows it: a forwarded connection that failed must not look like
// one that finished.
func Abort(c io.Closer) {
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		l.SetLinger(0)
	}
	c.Close()
}
