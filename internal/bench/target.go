package bench

import (
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"sync"

	"github.com/fwd-dev/fwd/internal/retry"
)

// The first byte a client sends to a Target picks what the target does with
// the connection. One port serving every mode means each forwarder under test
// needs exactly one forward.
const (
	// ModeUpload: the target discards everything until EOF, then writes the
	// byte count (uint64, big endian) and closes. Timing the upload until the
	// count arrives measures what was delivered, not what sits in buffers.
	ModeUpload byte = 'U'
	// ModeDownload: the target writes as fast as it can until the client
	// goes away.
	ModeDownload byte = 'D'
	// ModeEcho: the target echoes every byte, the mode byte included, until
	// EOF. A client can thus do a one-byte round trip by sending just 'E'.
	ModeEcho byte = 'E'
)

// bulkSize is the buffer for bulk reads and writes: large enough that the
// syscall count does not limit a loopback link at tens of Gbit/s.
const bulkSize = 256 << 10

// payload is what download mode sends: random, so that no layer in the path
// gets to compress it.
var payload = func() []byte {
	b := make([]byte, bulkSize)
	rand.Read(b)
	return b
}()

// Target is the server every measurement ends at: the private service behind
// fwd, the -L target of ssh, or the direct peer. It runs in the benchmark's
// own process. Its methods are safe for concurrent use.
type Target struct {
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartTarget listens on addr (host:port; port 0 picks a free one) and
// serves until Close.
func StartTarget(addr string) (*Target, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: target listen: %w", err)
	}
	return ServeTarget(ln), nil
}

// ServeTarget serves on ln, which the target owns from then on (a listener
// made inside a Link's namespace, say), until Close.
func ServeTarget(ln net.Listener) *Target {
	t := &Target{ln: ln, conns: map[net.Conn]struct{}{}}
	t.wg.Add(1)
	go t.serve()
	return t
}

// Addr is the host:port the target listens on.
func (t *Target) Addr() string { return t.ln.Addr().String() }

// Close stops listening, cuts every connection and waits for their handlers.
func (t *Target) Close() error {
	err := t.ln.Close()
	t.mu.Lock()
	for c := range t.conns {
		c.Close()
	}
	t.mu.Unlock()
	t.wg.Wait()
	return err
}

// serve runs each connection on a goroutine of its own until Close. A
// failure to accept (out of file descriptors, say) is a failed connection
// to the client; it is waited out rather than spun on.
func (t *Target) serve() {
	defer t.wg.Done()
	retry.AcceptLoop(t.ln, nil, func(c net.Conn) {
		t.mu.Lock()
		t.conns[c] = struct{}{}
		t.mu.Unlock()
		t.wg.Add(1)
		go t.run(c)
	}, nil)
}

// run serves c, then forgets and closes it.
func (t *Target) run(c net.Conn) {
	defer t.wg.Done()
	handle(c)
	t.mu.Lock()
	delete(t.conns, c)
	t.mu.Unlock()
	c.Close()
}

// handle runs one connection in the mode its first byte names.
func handle(c net.Conn) {
	var mode [1]byte
	if _, err := io.ReadFull(c, mode[:]); err != nil {
		return
	}
	switch mode[0] {
	case ModeUpload:
		discard(c)
	case ModeDownload:
		source(c)
	case ModeEcho:
		echo(c, mode[0])
	}
}

func discard(c net.Conn) {
	buf := make([]byte, bulkSize)
	var n uint64
	for {
		k, err := c.Read(buf)
		n += uint64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return
		}
	}
	var count [8]byte
	binary.BigEndian.PutUint64(count[:], n)
	c.Write(count[:])
}

func source(c net.Conn) {
	for {
		if _, err := c.Write(payload); err != nil {
			return
		}
	}
}

// echo uses a plain read/write loop rather than io.Copy: on Linux io.Copy
// between sockets splices through a pipe, which adds latency to the one-byte
// round trips this mode exists for. The buffer is small because thousands of
// idle echo connections are held at once.
func echo(c net.Conn, first byte) {
	if _, err := c.Write([]byte{first}); err != nil {
		return
	}
	buf := make([]byte, 8<<10)
	for {
		n, err := c.Read(buf)
		if n > 0 {
			if _, werr := c.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			if tc, ok := c.(*net.TCPConn); ok && err == io.EOF {
				tc.CloseWrite()
			}
			return
		}
	}
}
