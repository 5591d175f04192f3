package bench

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/internal/retry"
)

// SizedSource is a server that sends every connection exactly Size bytes
// of payload and then closes it, without reading anything. Unlike a
// Target's download mode, which writes until the client goes away, it
// suits a forwarder whose public side cannot be told a mode byte first,
// and it lets the client check that every byte, and the end, arrived.
type SizedSource struct {
	Size  int64
	ln    net.Listener
	mu    sync.Mutex
	conns map[net.Conn]struct{}
	wg    sync.WaitGroup
}

// StartSizedSource listens on addr (host:port; port 0 picks a free one)
// and serves until Close.
func StartSizedSource(addr string, size int64) (*SizedSource, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: sized source listen: %w", err)
	}
	s := &SizedSource{Size: size, ln: ln, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Addr is the host:port the source listens on.
func (s *SizedSource) Addr() string { return s.ln.Addr().String() }

// Close stops listening, cuts every connection and waits for their
// handlers.
func (s *SizedSource) Close() error {
	err := s.ln.Close()
	s.mu.Lock()
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	s.wg.Wait()
	return err
}

func (s *SizedSource) serve() {
	defer s.wg.Done()
	retry.AcceptLoop(s.ln, nil, func(c net.Conn) {
		s.mu.Lock()
		s.conns[c] = struct{}{}
		s.mu.Unlock()
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			send(c, s.Size)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
			c.Close()
		}()
	}, nil)
}

// send writes n bytes of payload to c.
func send(c net.Conn, n int64) {
	for n > 0 {
		k, err := c.Write(payload[:min(n, int64(len(payload)))])
		n -= int64(k)
		if err != nil {
			return
		}
	}
}

// DownloadSized connects to addr with dial, reads until the end of the
// stream and returns the rate in bytes per second, timed from the dial to
// the end. Fewer or more bytes than want is an error: a forwarder that
// ends a stream early, or cuts it, must not pass for a fast one.
func DownloadSized(ctx context.Context, dial DialFunc, addr string, want int64, limit time.Duration) (float64, error) {
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	start := time.Now()
	c, err := dial(ctx, addr)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	buf := make([]byte, bulkSize)
	var got int64
	for {
		k, err := c.Read(buf)
		got += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			if ctx.Err() != nil {
				err = fmt.Errorf("%w after %s", ctx.Err(), limit)
			}
			return 0, fmt.Errorf("bench: download from %s: %d of %d bytes, then: %w", addr, got, want, err)
		}
	}
	took := time.Since(start)
	if got != want {
		return 0, fmt.Errorf("bench: download from %s: the stream ended after %d bytes, not %d", addr, got, want)
	}
	return float64(got) / took.Seconds(), nil
}
