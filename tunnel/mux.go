package tunnel

import (
	"net"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
)

// Mux settings shared by both ends. They are chosen for forwarding.
const (
	// StreamWindow is the most a stream may have in flight. Windows start
	// at yamux's 256 KiB and double while a stream uses its whole window
	// within two round trips, up to StreamWindow: 32 MiB carries 5 Gbit/s
	// at 50 ms. Memory is spent only while a reader falls behind.
	StreamWindow = 32 << 20

	// SessionWindow caps the window granted beyond 256 KiB per stream,
	// summed over a session's streams: what one session can be made to
	// buffer when its readers fall behind.
	SessionWindow = 256 << 20

	// KeepAliveInterval and KeepAliveTimeout bound how long a dead link,
	// one that silently drops every packet, goes unnoticed: a ping every
	// 5 s that must be answered within 5 s (up to 25 s while other frames
	// keep arriving).
	KeepAliveInterval = 5 * time.Second
	KeepAliveTimeout  = 5 * time.Second
)

// muxConfig is both ends' mux configuration. maxStreams caps the streams the
// peer may have open at once (0: the mux's default). Neither end queues
// streams for Accept: both hand them to a handler, so the backlog is 1.
func muxConfig(maxStreams int) *mux.Config {
	return &mux.Config{
		AcceptBacklog:     1,
		MaxStreams:        maxStreams,
		KeepAliveInterval: KeepAliveInterval,
		KeepAliveTimeout:  KeepAliveTimeout,
		MaxStreamWindow:   StreamWindow,
		MaxSessionWindow:  SessionWindow,
		CloseTimeout:      time.Minute,
	}
}

var _ net.Conn = (*mux.Stream)(nil)
