package bench

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"net"
	"testing"
	"time"
)

// startRelay runs a target and a 25 ms one-way relay in front of it.
func startRelay(t *testing.T) *DelayRelay {
	t.Helper()
	target, err := StartTarget("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	r, err := NewDelayRelay("127.0.0.1:0", target.Addr(), 25*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func TestDelayRelayAddsRoundTripTime(t *testing.T) {
	r := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	rtts, err := PingPong(ctx, r.Addr(), 2, 10, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Each round trip crosses the relay once each way: at least 50 ms, less
	// a little for timer rounding. The upper bound only catches a relay
	// that stalls; a busy test machine may be slow.
	if lo := rtts[0]; lo < 45*time.Millisecond {
		t.Errorf("fastest round trip %v, want >= 45ms", lo)
	}
	if hi := rtts[len(rtts)-1]; hi > 2*time.Second {
		t.Errorf("slowest round trip %v, want < 2s", hi)
	}
}

func TestDelayRelayPreservesBytes(t *testing.T) {
	r := startRelay(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Dial(ctx, r.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkEchoIntact(t, c, 30*time.Second, "through the relay")
}

// checkEchoIntact sends 8 MiB of random bytes (after the echo mode byte) to
// an echo target through c in odd-sized writes, half-closes, and checks the
// same bytes come back: order, content and the half-close preserved.
func checkEchoIntact(t *testing.T, c net.Conn, timeout time.Duration, through string) {
	t.Helper()
	c.SetDeadline(time.Now().Add(timeout))
	data := make([]byte, 8<<20)
	rand.Read(data)
	// The echo target sends the mode byte back first, then the data.
	sent := append([]byte{ModeEcho}, data...)
	want := sha256.Sum256(sent)
	werr := make(chan error, 1)
	go func() {
		// Odd-sized writes so chunk boundaries fall anywhere.
		for rest := sent; len(rest) > 0; {
			n := min(len(rest), 100_003)
			if _, err := c.Write(rest[:n]); err != nil {
				werr <- err
				return
			}
			rest = rest[n:]
		}
		// The half-close must come through, after the data, or the read
		// below never ends.
		werr <- c.(*ctxConn).CloseWrite()
	}()
	h := sha256.New()
	n, err := io.Copy(h, c)
	if err != nil {
		t.Fatalf("read after %d bytes: %v", n, err)
	}
	if err := <-werr; err != nil {
		t.Fatal(err)
	}
	if n != int64(len(sent)) {
		t.Fatalf("got %d bytes back, sent %d", n, len(sent))
	}
	if [32]byte(h.Sum(nil)) != want {
		t.Fatalf("bytes changed %s: SHA-256 differs", through)
	}
}

func TestDialRefusesNonLoopback(t *testing.T) {
	_, err := Dial(context.Background(), "192.0.2.1:80")
	if err == nil {
		t.Fatal("Dial to a non-loopback address succeeded")
	}
	if _, err := NewDelayRelay("127.0.0.1:0", "192.0.2.1:80", time.Millisecond); err == nil {
		t.Fatal("NewDelayRelay to a non-loopback upstream succeeded")
	}
}
