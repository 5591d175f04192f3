package mux

import (
	"crypto/tls"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

func TestRcvBufFor(t *testing.T) {
	for _, c := range []struct {
		rtt  uint32
		want int
	}{
		{6, rcvBufFloor},          // loopback
		{500, 2 * 500 * fastLink}, // a LAN
		{50000, 0},                // 50 ms: autotuning keeps it
	} {
		if got := rcvBufFor(c.rtt); got != c.want {
			t.Errorf("rcvBufFor(%d µs) = %d, want %d", c.rtt, got, c.want)
		}
	}
}

func TestQueueFor(t *testing.T) {
	const own = 1 << 30
	for _, c := range []struct {
		rtt  uint32
		want int
	}{
		{6, own},              // loopback: the socket's own
		{localRTT - 1, own},   // the same rack
		{localRTT, longQueue}, // a LAN
		{50000, longQueue},    // 50 ms
	} {
		if got := queueFor(c.rtt, own); got != c.want {
			t.Errorf("queueFor(%d µs) = %d, want %d", c.rtt, got, c.want)
		}
	}
}

// lowat reads TCP_NOTSENT_LOWAT of conn's socket.
func lowat(t *testing.T, conn net.Conn) int {
	t.Helper()
	raw, err := conn.(*tls.Conn).NetConn().(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	var gerr error
	raw.Control(func(fd uintptr) {
		n, gerr = unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
	})
	if gerr != nil {
		t.Fatal(gerr)
	}
	return n
}

// TestSendQueueOnTheSocket: a session over real TCP shortens its socket's
// send queue when a small frame follows a bulk one on another stream, and
// gives it back the setting it had once the mix is over.
func TestSendQueueOnTheSocket(t *testing.T) {
	c, s := tlsPair(t, nil)
	cs, ss := Client(c, nil), Server(s, nil)
	t.Cleanup(func() { cs.Close(); ss.Close() })
	go echo(ss)
	// The socket's own setting on loopback, or longQueue should its
	// handshake have measured a round trip past localRTT (queueFor).
	own := lowat(t, c)
	if own == shortQueue {
		t.Fatalf("a new session's TCP_NOTSENT_LOWAT is already %d", own)
	}
	bulk, err := cs.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	ping, err := cs.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	go io.Copy(io.Discard, bulk)
	go io.Copy(io.Discard, ping)
	if _, err := bulk.Write(make([]byte, 256<<10)); err != nil {
		t.Fatal(err)
	}
	if got := lowat(t, c); got != own {
		t.Fatalf("after bulk alone: TCP_NOTSENT_LOWAT %d, want %d", got, own)
	}
	for range 2 { // a stream's first frame does not count
		if _, err := ping.Write([]byte("ping")); err != nil {
			t.Fatal(err)
		}
	}
	if got := lowat(t, c); got != shortQueue {
		t.Fatalf("after a ping beside bulk: TCP_NOTSENT_LOWAT %d, want %d", got, shortQueue)
	}
	cs.wmu.Lock() // as write holds it; later than mixedWindow from now
	cs.sendQ.noteDataAt(bulk, 64<<10, time.Since(cs.sendQ.born)+2*mixedWindow)
	cs.wmu.Unlock()
	if got := lowat(t, c); got != own {
		t.Fatalf("after the mix: TCP_NOTSENT_LOWAT %d, want %d back", got, own)
	}
}
