package forward_test

import (
	"bytes"
	"context"
	"net"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// startUDPEcho runs a UDP server on loopback that sends every datagram back,
// and reports the number of distinct client addresses it has seen.
func startUDPEcho(t *testing.T) (addr string, peers func() int) {
	t.Helper()
	return startUDPServer(t, true)
}

// startUDPServer is startUDPEcho that may also never answer (a metrics sink).
func startUDPServer(t *testing.T, reply bool) (addr string, peers func() int) {
	t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	seen := make(chan string, 1024)
	t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 65535)
		for {
			n, from, err := conn.ReadFromUDPAddrPort(buf)
			if err != nil {
				return
			}
			select {
			case seen <- from.String():
			default:
			}
			if reply {
				conn.WriteToUDPAddrPort(buf[:n], from)
			}
		}
	}()
	distinct := map[string]bool{}
	return conn.LocalAddr().String(), func() int {
		for {
			select {
			case s := <-seen:
				distinct[s] = true
			default:
				return len(distinct)
			}
		}
	}
}

func udpForward(t *testing.T, idle time.Duration) (forward.Result, func() int) {
	t.Helper()
	target, peers := startUDPEcho(t)
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "game", Services: []catalog.Resource{
		service("game", "server", catalog.Port{Name: "play", Port: 27015, Protocol: catalog.UDP, Targets: []string{target}}),
	}}}}
	env := startGateway(t, cat)
	client := newClient(t, env, func(o *forward.Options) { o.UDPFlowIdle = idle })
	rs, err := client.ForwardService(context.Background(), "game", "server")
	if err != nil || rs[0].Error != nil {
		t.Fatalf("%+v %v", rs, err)
	}
	if rs[0].Data.Protocol != "UDP" || rs[0].Data.Port != 27015 {
		t.Fatalf("result %+v", rs[0].Data)
	}
	return rs[0], peers
}

// udpAsk sends p and waits for the echo, resending a lost datagram a few times.
func udpAsk(t *testing.T, c net.Conn, p []byte) {
	t.Helper()
	buf := make([]byte, 65535)
	wrong := -1 // size of a reply that was not p's echo
	for try := 0; try < 5; try++ {
		if _, err := c.Write(p); err != nil {
			t.Fatal(err)
		}
		// A late echo of an earlier datagram (resent after a timeout) may
		// come first: skip it and read on until this try's deadline.
		c.SetReadDeadline(time.Now().Add(time.Second))
		for {
			n, err := c.Read(buf)
			if err != nil {
				break
			}
			if bytes.Equal(buf[:n], p) {
				return
			}
			wrong = n
		}
	}
	if wrong >= 0 {
		t.Fatalf("echo of %d bytes never came back; a reply of %d different bytes did", len(p), wrong)
	}
	t.Fatalf("no echo for a %d-byte datagram", len(p))
}

func TestUDPLargestDatagramAndFlows(t *testing.T) {
	res, peers := udpForward(t, time.Minute)
	addr := addrOf(res)
	a, err := net.Dial("udp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, _ := net.Dial("udp", addr)
	defer b.Close()
	for _, size := range []int{0, 1, 1400, 9000, 65507} {
		p := bytes.Repeat([]byte{byte(size)}, size)
		udpAsk(t, a, p)
	}
	udpAsk(t, b, []byte("from b"))
	// Each local client address is its own flow: the target sees two peers.
	if n := peers(); n != 2 {
		t.Fatalf("target saw %d client addresses, want 2 (one socket per flow)", n)
	}
}

func TestUDPFlowExpiresWhenIdle(t *testing.T) {
	res, peers := udpForward(t, 200*time.Millisecond)
	c, err := net.Dial("udp", addrOf(res))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	udpAsk(t, c, []byte("one"))
	// After the idle time the flow is gone, so the same client starts a new
	// flow and the target sees a new source address.
	deadline := time.Now().Add(5 * time.Second)
	for peers() < 2 && time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		udpAsk(t, c, []byte("again"))
	}
	if n := peers(); n < 2 {
		t.Fatalf("target saw %d client addresses after idling; the flow did not expire", n)
	}
}

// TestUDPOneWayFlowStaysUp sends to a target that never answers, as to a
// metrics sink, for several of the gateway's idle times: the flow must stay
// one flow (one source address at the target), since it is not idle.
func TestUDPOneWayFlowStaysUp(t *testing.T) {
	target, peers := startUDPServer(t, false)
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "metrics", Services: []catalog.Resource{
		service("metrics", "statsd", catalog.Port{Name: "statsd", Port: 28125, Protocol: catalog.UDP, Targets: []string{target}}),
	}}}}
	limits := config.DefaultLimits()
	limits.UDPFlowIdle = 300 * time.Millisecond
	env := startGateway(t, cat, fwdtest.WithLimits(limits))
	client := newClient(t, env, nil)
	rs, err := client.ForwardService(context.Background(), "metrics", "statsd")
	if err != nil || rs[0].Error != nil {
		t.Fatalf("%+v %v", rs, err)
	}
	c, err := net.Dial("udp", addrOf(rs[0]))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	for i := 0; i < 40; i++ { // 2 s at one datagram per 50 ms
		if _, err := c.Write([]byte("hits:1|c")); err != nil {
			t.Fatal(err)
		}
		time.Sleep(50 * time.Millisecond)
	}
	if n := peers(); n != 1 {
		t.Fatalf("target saw %d source addresses, want 1: the gateway ended a one-way flow that was not idle", n)
	}
	// Quiet both ways for longer than the gateway's idle time: its flow ends,
	// so the next datagram reaches the target from a new socket.
	time.Sleep(time.Second)
	for end := time.Now().Add(5 * time.Second); peers() < 2; time.Sleep(50 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatal("the gateway's flow did not end after its idle time")
		}
		c.Write([]byte("hits:1|c"))
	}
}
