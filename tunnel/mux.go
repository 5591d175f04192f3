package tunnel

import (
	"encoding/binary"
	"io"
	"net"
	"sync"
	"time"

	"github.com/hashicorp/yamux"
)

// Mux settings shared by both ends. They are chosen for forwarding, not left
// at yamux's defaults.
const (
	// StreamWindow is the most a stream may have in flight. yamux's default,
	// 256 KiB, caps one stream at 256 KiB per round trip (40 Mbit/s at 50 ms);
	// 8 MiB carries 1.3 Gbit/s at 50 ms. Memory is spent only while a reader
	// falls behind.
	StreamWindow = 8 << 20

	// KeepAliveInterval and WriteTimeout bound how long a dead link, one
	// that silently drops every packet, goes unnoticed: a ping every 5 s
	// that must be answered within 5 s.
	KeepAliveInterval = 5 * time.Second
	WriteTimeout      = 5 * time.Second

	// openTimeout bounds waiting for the peer to accept a stream.
	openTimeout = 10 * time.Second
)

func muxConfig() *yamux.Config {
	c := yamux.DefaultConfig()
	c.AcceptBacklog = 1024
	c.EnableKeepAlive = true
	c.KeepAliveInterval = KeepAliveInterval
	c.ConnectionWriteTimeout = WriteTimeout
	c.MaxStreamWindowSize = StreamWindow
	c.StreamOpenTimeout = openTimeout
	c.StreamCloseTimeout = time.Minute
	c.LogOutput = io.Discard
	return c
}

// yamux frame header layout, from its spec: version(1) type(1) flags(2)
// stream id(4) length(4).
const (
	yamuxHeaderSize = 12
	yamuxTypeData   = 0
)

// coalescingConn merges each yamux data frame's 12-byte header with the body
// written right after it. yamux writes them separately; over TLS each write
// would be its own record and its own syscall, so without this every frame
// costs one extra record, one extra syscall and 29 bytes of overhead.
type coalescingConn struct {
	net.Conn
	mu   sync.Mutex
	held []byte // a data header waiting for its body
	buf  []byte
}

func newCoalescingConn(c net.Conn) *coalescingConn {
	return &coalescingConn{Conn: c, held: make([]byte, 0, yamuxHeaderSize)}
}

func (c *coalescingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.held) == 0 && isDataHeaderWithBody(p) {
		c.held = append(c.held, p...)
		return len(p), nil
	}
	if len(c.held) == 0 {
		return c.Conn.Write(p)
	}
	c.buf = append(append(c.buf[:0], c.held...), p...)
	c.held = c.held[:0]
	n, err := c.Conn.Write(c.buf)
	if cap(c.buf) > 1<<20 {
		c.buf = nil // do not pin a huge buffer for an idle session
	}
	n -= yamuxHeaderSize
	if n < 0 {
		n = 0
	}
	return n, err
}

func isDataHeaderWithBody(p []byte) bool {
	return len(p) == yamuxHeaderSize && p[1] == yamuxTypeData && binary.BigEndian.Uint32(p[8:12]) > 0
}
