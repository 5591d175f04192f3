package tunnel

import (
	"sync"
	"sync/atomic"

	"github.com/fwd-dev/fwd/internal/mux"
)

// prefixedStream is a mux stream with bytes to send once, in front of the
// first payload written, in the same frame: the client's stream header
// before the connection's first bytes, the gateway's OK before the
// target's. Either side thereby opens a connection without a frame (or a
// round trip) of its own. A write, CloseWrite or Close sends the prefix if
// no write did; flush sends it alone.
type prefixedStream struct {
	*mux.Stream
	mu      sync.Mutex
	pending []byte      // the prefix, until sent; under mu
	sent    atomic.Bool // pending was sent: the fast path takes no lock
}

func newPrefixed(st *mux.Stream, prefix []byte) *prefixedStream {
	return &prefixedStream{Stream: st, pending: prefix}
}

// flush sends the prefix alone if no write has carried it yet.
func (p *prefixedStream) flush() error {
	_, _, err := p.withPrefix(nil)
	return err
}

// withPrefix sends the prefix, if unsent, in one frame with b. It reports
// whether it did and how much of b it sent.
func (p *prefixedStream) withPrefix(b []byte) (bool, int, error) {
	if p.sent.Load() {
		return false, 0, nil
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.sent.Load() {
		return false, 0, nil
	}
	pre := p.pending
	p.pending = nil
	p.sent.Store(true)
	n := mux.HeaderSize + len(pre) + len(b)
	if n > mux.MaxBuffer {
		if _, err := p.Stream.Write(pre); err != nil {
			return true, 0, err
		}
		k, err := p.Stream.Write(b)
		return true, k, err
	}
	bp := mux.GetBuffer(n)
	frame := (*bp)[:n]
	copy(frame[mux.HeaderSize:], pre)
	copy(frame[mux.HeaderSize+len(pre):], b)
	k, err := p.Stream.WriteHeadroom(frame)
	mux.PutBuffer(bp)
	return true, max(k-len(pre), 0), err
}

// Write sends b; the first write carries the prefix.
func (p *prefixedStream) Write(b []byte) (int, error) {
	if done, n, err := p.withPrefix(b); done {
		return n, err
	}
	return p.Stream.Write(b)
}

// WriteHeadroom is mux.Stream.WriteHeadroom; the first write carries the
// prefix.
func (p *prefixedStream) WriteHeadroom(b []byte) (int, error) {
	if done, n, err := p.withPrefix(b[mux.HeaderSize:]); done {
		return n, err
	}
	return p.Stream.WriteHeadroom(b)
}

// CloseWrite sends the prefix if unsent, then FIN.
func (p *prefixedStream) CloseWrite() error {
	if err := p.flush(); err != nil {
		return err
	}
	return p.Stream.CloseWrite()
}

// Close sends the prefix if unsent, then closes the stream.
func (p *prefixedStream) Close() error {
	p.flush()
	return p.Stream.Close()
}
