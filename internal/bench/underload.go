package bench

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// Load is bulk traffic through one address: upload and download connections
// to a Target moving data as fast as they can, until Stop. Beside it, the
// round trips of an echo connection through the same forwarder show how
// long small frames wait behind bulk ones in a shared tunnel.
type Load struct {
	conns    []net.Conn
	moved    atomic.Int64
	counting atomic.Bool
	since    time.Time
	wg       sync.WaitGroup
	errMu    sync.Mutex
	err      error
}

// StartLoad opens up upload and down download connections to addr and keeps
// them busy. Nothing is counted until Count.
func StartLoad(ctx context.Context, addr string, up, down int) (*Load, error) {
	ups, err := dialAll(ctx, Dial, addr, up, ModeUpload)
	if err != nil {
		return nil, err
	}
	downs, err := dialAll(ctx, Dial, addr, down, ModeDownload)
	if err != nil {
		closeAll(ups)
		return nil, err
	}
	l := &Load{conns: append(ups, downs...)}
	for _, c := range ups {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.fail(loadWrite(c, l)) }()
	}
	for _, c := range downs {
		l.wg.Add(1)
		go func() { defer l.wg.Done(); l.fail(loadRead(c, l)) }()
	}
	return l, nil
}

func (l *Load) fail(err error) {
	if err == nil {
		return
	}
	l.errMu.Lock()
	if l.err == nil {
		l.err = err
	}
	l.errMu.Unlock()
}

// Count starts counting the bytes moved.
func (l *Load) Count() {
	l.since = time.Now()
	l.counting.Store(true)
}

// Stop ends the load and returns the rate since Count (bytes per second,
// both directions summed), or the first error of a load connection.
func (l *Load) Stop() (float64, error) {
	l.counting.Store(false)
	elapsed := time.Since(l.since)
	l.errMu.Lock()
	err := l.err
	l.errMu.Unlock()
	closeAll(l.conns)
	l.wg.Wait()
	if err != nil {
		return 0, fmt.Errorf("bench: load: %w", err)
	}
	if l.since.IsZero() {
		return 0, nil
	}
	return float64(l.moved.Load()) / elapsed.Seconds(), nil
}

func (l *Load) add(n int) {
	if l.counting.Load() {
		l.moved.Add(int64(n))
	}
}

// loadWrite writes until c is closed by Stop.
func loadWrite(c net.Conn, l *Load) error {
	for {
		n, err := c.Write(payload)
		l.add(n)
		if err != nil {
			return closedIsFine(err)
		}
	}
}

// loadRead reads until c is closed by Stop.
func loadRead(c net.Conn, l *Load) error {
	buf := make([]byte, bulkSize)
	for {
		n, err := c.Read(buf)
		l.add(n)
		if err != nil {
			return closedIsFine(err)
		}
	}
}

// closedIsFine hides the error of a load connection Stop closed.
func closedIsFine(err error) error {
	if errors.Is(err, net.ErrClosed) || errors.Is(err, io.EOF) || errors.Is(err, os.ErrDeadlineExceeded) {
		return nil
	}
	return err
}
