// Package relay copies bytes both ways between two connections, passing
// half-closes on, the way a forwarder must to be invisible to the client.
package relay

import (
	"errors"
	"io"
	"net"
	"sync"
)

// Conn is a connection whose write side can be closed alone.
// *net.TCPConn is one; tunnel streams are too.
type Conn interface {
	io.ReadWriteCloser
	CloseWrite() error
}

// bufSize is one copy buffer: big enough to fill a few TLS records per read.
const bufSize = 32 << 10

var buffers = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// Pipe copies a to b and b to a until both directions have ended, then closes
// both. A clean EOF in one direction half-closes the other side's write
// half, so a client that shuts its write side still receives the whole
// reply. An error in either direction closes both at once. It returns the
// first error other than EOF, if any.
func Pipe(a, b Conn) error {
	errc := make(chan error, 1)
	go func() { errc <- copyHalf(b, a) }()
	err := copyHalf(a, b)
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
func copyHalf(dst, src Conn) error {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	_, err := io.CopyBuffer(writerOnly{dst}, readerOnly{src}, *bp)
	if err != nil && !errors.Is(err, net.ErrClosed) {
		// The other direction may still be draining; closing both ends it.
		Abort(dst)
		Abort(src)
		return err
	}
	return dst.CloseWrite()
}

// readerOnly and writerOnly hide ReadFrom and WriteTo, which would make
// io.CopyBuffer allocate its own buffer for tunnel streams instead of using
// the pooled one.
type readerOnly struct{ io.Reader }
type writerOnly struct{ io.Writer }

// Abort closes c so that its peer sees a reset rather than a clean end, where
// the OS allows it: a forwarded connection that failed must not look like
// one that finished.
func Abort(c io.Closer) {
	if l, ok := c.(interface{ SetLinger(int) error }); ok {
		l.SetLinger(0)
	}
	c.Close()
}
