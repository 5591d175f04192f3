package protocols_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// upload sends n bytes of PRNG(seed) to a hash sink at addr, half-closes,
// and returns the SHA-256 it computed and the one the sink sent back.
func upload(t *testing.T, addr string, seed uint64, n int64, timeout time.Duration) (sent, got string) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	h := sha256.New()
	written, err := io.Copy(io.MultiWriter(conn, h), fwdtest.PRNG(seed, n))
	if err != nil {
		t.Fatalf("after writing %d of %d bytes: %v", written, n, err)
	}
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		t.Fatalf("CloseWrite: %v", err)
	}
	reply, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("reading the sink's sum after the half-close: %v (got %q)", err, reply)
	}
	return hex.EncodeToString(h.Sum(nil)), string(reply)
}

// TestTCPHalfClose writes 10 MiB, closes its write side, and must still
// read the server's answer, which the server sends only once it has seen
// EOF: a half-close travels through fwd without closing the other direction.
func TestTCPHalfClose(t *testing.T) {
	sink, err := fwdtest.StartHashSink()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	fw := fwdTo(t, "sink", port{"sink", 9000, catalog.TCP, sink.Addr})["sink"]

	sent, got := upload(t, fw.Addr, 1, 10<<20, 30*time.Second)
	mustEqual(t, "server's sha256 of 10 MiB", got, sent)
}

// TestTransfer1GiB moves 1 GiB each way through fwd; the SHA-256 at the
// sending end must match the one at the receiving end.
func TestTransfer1GiB(t *testing.T) {
	if testing.Short() {
		t.Skip("1 GiB each way: skipped with -short")
	}
	sink, err := fwdtest.StartHashSink()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sink.Close() })
	source, err := fwdtest.StartHashSource()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { source.Close() })
	fws := fwdTo(t, "bulk",
		port{"up", 9001, catalog.TCP, sink.Addr},
		port{"down", 9002, catalog.TCP, source.Addr})
	const n = 1 << 30
	const seed = 42

	start := time.Now()
	sent, got := upload(t, fws["up"].Addr, seed, n, 3*time.Minute)
	mustEqual(t, "upload: receiver's sha256", got, sent)
	t.Logf("upload 1 GiB: %v (%.0f MiB/s)", time.Since(start).Round(time.Millisecond), float64(n>>20)/time.Since(start).Seconds())

	start = time.Now()
	conn, err := net.DialTimeout("tcp", fws["down"].Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(3 * time.Minute))
	if _, err := conn.Write(fwdtest.HashSourceRequest(seed, n)); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if m, err := io.CopyN(h, conn, n); err != nil {
		t.Fatalf("download: after %d of %d bytes: %v", m, n, err)
	}
	trailer, err := io.ReadAll(conn)
	if err != nil {
		t.Fatalf("download: reading the sender's sum: %v", err)
	}
	received := hex.EncodeToString(h.Sum(nil))
	mustEqual(t, "download: sender's sha256", string(trailer), received)
	// Same seed, same bytes: both directions carried the same data.
	mustEqual(t, "download sha256 vs upload sha256", received, sent)
	t.Logf("download 1 GiB: %v (%.0f MiB/s)", time.Since(start).Round(time.Millisecond), float64(n>>20)/time.Since(start).Seconds())
}

// echoRoundTrip writes msg on conn and reads the same bytes back.
func echoRoundTrip(conn net.Conn, msg string, timeout time.Duration) error {
	conn.SetDeadline(time.Now().Add(timeout))
	defer conn.SetDeadline(time.Time{})
	if _, err := io.WriteString(conn, msg); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	buf := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, buf); err != nil {
		return fmt.Errorf("read: %w", err)
	}
	if string(buf) != msg {
		return fmt.Errorf("echo %q, want %q", buf, msg)
	}
	return nil
}
