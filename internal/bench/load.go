package bench

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// dialTimeout bounds one connect through any forwarder.
	dialTimeout = 5 * time.Second
	// grace is how long a measurement may overrun its planned end (a
	// draining upload, a slow close) before its connections are cut.
	grace = 15 * time.Second
)

// ErrNotLoopback is returned for an address outside 127.0.0.0/8 and ::1: the
// benchmark never sends traffic anywhere else.
var ErrNotLoopback = errors.New("bench: refusing a non-loopback address")

// Dial connects to addr, which must be a loopback IP and port. The connection
// is closed when ctx ends, so that no measurement outlives an interrupt.
func Dial(ctx context.Context, addr string) (net.Conn, error) {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().IsLoopback() {
		return nil, fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	d := net.Dialer{Timeout: dialTimeout}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("bench: dial %s: %w", addr, err)
	}
	return withContext(ctx, c), nil
}

// DialFunc connects to addr for a measurement. Dial is the loopback one;
// Link.Dialer dials from inside one of a Link's network namespaces. The
// connection it returns must half-close (CloseWrite) for Upload.
type DialFunc func(ctx context.Context, addr string) (net.Conn, error)

// withContext ties c to ctx: it is closed when ctx ends.
func withContext(ctx context.Context, c net.Conn) net.Conn {
	stop := context.AfterFunc(ctx, func() { c.Close() })
	return &ctxConn{Conn: c, stop: stop}
}

// ctxConn is a connection tied to a context by context.AfterFunc.
type ctxConn struct {
	net.Conn
	stop func() bool
}

func (c *ctxConn) Close() error {
	c.stop()
	return c.Conn.Close()
}

// CloseWrite half-closes the connection, as a TCP client that has sent all
// it will send does.
func (c *ctxConn) CloseWrite() error {
	if tc, ok := c.Conn.(*net.TCPConn); ok {
		return tc.CloseWrite()
	}
	return errors.New("bench: connection cannot half-close")
}

// dialAll opens n connections and sends mode on each. On error it closes
// whatever it opened.
func dialAll(ctx context.Context, dial DialFunc, addr string, n int, mode byte) ([]net.Conn, error) {
	conns := make([]net.Conn, 0, n)
	for range n {
		c, err := dial(ctx, addr)
		if err == nil {
			_, err = c.Write([]byte{mode})
		}
		if err != nil {
			closeAll(conns)
			if c != nil {
				c.Close()
			}
			return nil, err
		}
		conns = append(conns, c)
	}
	return conns, nil
}

func closeAll(conns []net.Conn) {
	for _, c := range conns {
		c.Close()
	}
}

// Download reads from streams connections in download mode for d and
// returns the aggregate rate in bytes per second, counting only what arrives
// after skip: with a delayed link the first seconds are the window ramping
// up, not the steady state.
func Download(ctx context.Context, addr string, streams int, d, skip time.Duration) (float64, error) {
	return DownloadVia(ctx, Dial, addr, streams, d, skip)
}

// DownloadVia is Download with connections made by dial.
func DownloadVia(ctx context.Context, dial DialFunc, addr string, streams int, d, skip time.Duration) (float64, error) {
	conns, err := dialAll(ctx, dial, addr, streams, ModeDownload)
	if err != nil {
		return 0, err
	}
	defer closeAll(conns)
	start := time.Now()
	from, end := start.Add(skip), start.Add(d)
	var total atomic.Int64
	errs := make(chan error, streams)
	for _, c := range conns {
		go func() { errs <- readUntil(c, from, end, &total) }()
	}
	if err := firstError(errs, streams); err != nil {
		return 0, err
	}
	return float64(total.Load()) / end.Sub(from).Seconds(), nil
}

// readUntil reads c until end, adding the bytes read after from to total.
func readUntil(c net.Conn, from, end time.Time, total *atomic.Int64) error {
	if err := c.SetReadDeadline(end.Add(grace)); err != nil {
		return err
	}
	buf := make([]byte, bulkSize)
	for {
		n, err := c.Read(buf)
		now := time.Now()
		if now.After(from) {
			total.Add(int64(n))
		}
		if err != nil {
			return fmt.Errorf("bench: download: %w", err)
		}
		if now.After(end) {
			return nil
		}
	}
}

// Upload writes to streams connections in upload mode for d, half-closes
// them and waits for the target's byte counts. It returns the aggregate rate
// in bytes per second: bytes the target received over the time until the
// last count arrived.
func Upload(ctx context.Context, addr string, streams int, d time.Duration) (float64, error) {
	conns, err := dialAll(ctx, Dial, addr, streams, ModeUpload)
	if err != nil {
		return 0, err
	}
	defer closeAll(conns)
	start := time.Now()
	end := start.Add(d)
	var total atomic.Int64
	errs := make(chan error, streams)
	for _, c := range conns {
		go func() { errs <- writeUntil(c, end, &total) }()
	}
	if err := firstError(errs, streams); err != nil {
		return 0, err
	}
	return float64(total.Load()) / time.Since(start).Seconds(), nil
}

// writeUntil writes c until end, half-closes it and adds the target's count
// of received bytes to total.
func writeUntil(c net.Conn, end time.Time, total *atomic.Int64) error {
	// The write deadline is the planned end: a write still blocked then is
	// cut short, which is fine, since the target counts what it received.
	if err := c.SetWriteDeadline(end); err != nil {
		return err
	}
	for time.Now().Before(end) {
		if _, err := c.Write(payload); err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				break
			}
			return fmt.Errorf("bench: upload: %w", err)
		}
	}
	if err := c.(*ctxConn).CloseWrite(); err != nil {
		return fmt.Errorf("bench: upload: half-close: %w", err)
	}
	if err := c.SetReadDeadline(end.Add(grace)); err != nil {
		return err
	}
	var count [8]byte
	if _, err := io.ReadFull(c, count[:]); err != nil {
		return fmt.Errorf("bench: upload: reading the byte count: %w", err)
	}
	total.Add(int64(binary.BigEndian.Uint64(count[:])))
	return nil
}

// firstError waits for n results and returns the first error among them.
func firstError(errs <-chan error, n int) error {
	var first error
	for range n {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

// PingPong does warm one-byte round trips on one echo connection, then times
// n more, stopping early at limit. It returns the round-trip times, sorted.
func PingPong(ctx context.Context, addr string, warm, n int, limit time.Duration) ([]time.Duration, error) {
	return PingPongVia(ctx, Dial, addr, warm, n, limit)
}

// PingPongVia is PingPong with the connection made by dial.
func PingPongVia(ctx context.Context, dial DialFunc, addr string, warm, n int, limit time.Duration) ([]time.Duration, error) {
	conns, err := dialAll(ctx, dial, addr, 1, ModeEcho)
	if err != nil {
		return nil, err
	}
	c := conns[0]
	defer c.Close()
	end := time.Now().Add(limit)
	if err := c.SetDeadline(end.Add(grace)); err != nil {
		return nil, err
	}
	// The echoed mode byte is the first round trip: the path is now open
	// end to end.
	b := make([]byte, 1)
	if _, err := io.ReadFull(c, b); err != nil {
		return nil, fmt.Errorf("bench: ping-pong: %w", err)
	}
	rtts := make([]time.Duration, 0, n)
	for i := 0; i < warm+n && time.Now().Before(end); i++ {
		t0 := time.Now()
		if _, err := c.Write(b); err != nil {
			return nil, fmt.Errorf("bench: ping-pong: %w", err)
		}
		if _, err := io.ReadFull(c, b); err != nil {
			return nil, fmt.Errorf("bench: ping-pong: %w", err)
		}
		if i >= warm {
			rtts = append(rtts, time.Since(t0))
		}
	}
	if len(rtts) == 0 {
		return nil, errors.New("bench: ping-pong: no round trip finished in time")
	}
	slices.Sort(rtts)
	return rtts, nil
}

// ConnRate runs workers that each connect, do a one-byte round trip and
// close, over and over for d. It returns connections per second completed
// and how many attempts failed, with the first failure.
func ConnRate(ctx context.Context, addr string, workers int, d time.Duration) (rate float64, failed int64, firstErr error) {
	start := time.Now()
	end := start.Add(d)
	var ok, bad atomic.Int64
	var once sync.Once
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) && ctx.Err() == nil {
				if err := roundTrip(ctx, addr); err != nil {
					bad.Add(1)
					once.Do(func() { firstErr = err })
					continue
				}
				ok.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(ok.Load()) / time.Since(start).Seconds(), bad.Load(), firstErr
}

// roundTrip opens a connection, does one one-byte round trip and closes it.
func roundTrip(ctx context.Context, addr string) error {
	c, err := Dial(ctx, addr)
	if err != nil {
		return err
	}
	defer c.Close()
	return echoByte(c)
}

// echoByte sends the echo mode byte and waits for it to come back.
func echoByte(c net.Conn) error {
	if err := c.SetDeadline(time.Now().Add(grace)); err != nil {
		return err
	}
	b := []byte{ModeEcho}
	if _, err := c.Write(b); err != nil {
		return fmt.Errorf("bench: echo: %w", err)
	}
	if _, err := io.ReadFull(c, b); err != nil {
		return fmt.Errorf("bench: echo: %w", err)
	}
	return c.SetDeadline(time.Time{})
}

// OpenIdle opens n connections, each checked end to end by a one-byte
// round trip, using workers in parallel, and leaves them open. It also
// returns when each connection was ready, in ascending order, so that a
// caller can tell how many were open at a given moment. On error it closes
// them all. The caller closes the returned connections.
func OpenIdle(ctx context.Context, addr string, n, workers int) ([]net.Conn, []time.Time, error) {
	conns := make([]net.Conn, n)
	ready := make([]time.Time, n)
	var next atomic.Int64
	var once sync.Once
	var firstErr error
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= n || ctx.Err() != nil {
					return
				}
				c, err := Dial(ctx, addr)
				if err == nil {
					err = echoByte(c)
					conns[i], ready[i] = c, time.Now()
				}
				if err != nil {
					once.Do(func() { firstErr = fmt.Errorf("connection %d of %d: %w", i+1, n, err) })
					next.Store(int64(n)) // stop the others
					return
				}
			}
		}()
	}
	wg.Wait()
	if firstErr == nil && ctx.Err() != nil {
		firstErr = ctx.Err()
	}
	if firstErr != nil {
		for _, c := range conns {
			if c != nil {
				c.Close()
			}
		}
		return nil, nil, firstErr
	}
	slices.SortFunc(ready, time.Time.Compare)
	return conns, ready, nil
}
