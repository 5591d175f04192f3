package relay_test

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/internal/relay"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

// tunnel is a forward through a mux session over real TLS: connections to
// addr are relayed (Pipe) onto a stream, and at the far end each stream is
// relayed (Pipe) to a new connection to target: the shape of fwd.
type tunnel struct {
	addr string
	cs   *mux.Session
	errs chan error // what each client-side Pipe returned
}

func newTunnel(t testing.TB, target string, idle time.Duration) *tunnel {
	t.Helper()
	cert, err := fwdtest.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { gln.Close() })
	go func() {
		c, err := gln.Accept()
		if err != nil {
			return
		}
		ss := mux.Server(tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}}), nil)
		t.Cleanup(func() { ss.Close() })
		for {
			st, err := ss.AcceptStream()
			if err != nil {
				return
			}
			go func() {
				tc, err := net.Dial("tcp", target)
				if err != nil {
					st.Reset()
					return
				}
				relay.Pipe(st, tc.(*net.TCPConn), idle)
			}()
		}
	}()
	raw, err := net.Dial("tcp", gln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	cs := mux.Client(tls.Client(raw, &tls.Config{InsecureSkipVerify: true}), nil)
	t.Cleanup(func() { cs.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	tu := &tunnel{addr: ln.Addr().String(), cs: cs, errs: make(chan error, 1000)}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				st, err := cs.OpenStream()
				if err != nil {
					relay.Abort(c)
					return
				}
				tu.errs <- relay.Pipe(c.(*net.TCPConn), st, 0)
			}()
		}
	}()
	return tu
}

// listen runs serve for each connection to a new loopback listener.
func listen(t testing.TB, serve func(*net.TCPConn)) string {
	srv, err := fwdtest.Serve(serve)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr
}

func echoServer(c *net.TCPConn) {
	io.Copy(c, c)
	c.CloseWrite()
	io.Copy(io.Discard, c)
	c.Close()
}

func TestHalfCloseFromClient(t *testing.T) {
	// The target answers only after EOF: the client's half-close must get
	// through while the reply still comes back.
	target := listen(t, func(c *net.TCPConn) {
		got, _ := io.ReadAll(c)
		c.Write(append([]byte("got "), got...))
		c.Close()
	})
	tu := newTunnel(t, target, 0)
	c, err := net.Dial("tcp", tu.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("request"))
	c.(*net.TCPConn).CloseWrite()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	reply, err := io.ReadAll(c)
	if err != nil || string(reply) != "got request" {
		t.Fatalf("reply %q, %v", reply, err)
	}
}

func TestHalfCloseFromTarget(t *testing.T) {
	// The target says its piece and half-closes first; it then reads what
	// the client sends after seeing EOF.
	result := make(chan string, 1)
	target := listen(t, func(c *net.TCPConn) {
		c.Write([]byte("banner"))
		c.CloseWrite()
		got, _ := io.ReadAll(c)
		result <- string(got)
		c.Close()
	})
	tu := newTunnel(t, target, 0)
	c, err := net.Dial("tcp", tu.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	banner, err := io.ReadAll(c)
	if err != nil || string(banner) != "banner" {
		t.Fatalf("banner %q, %v", banner, err)
	}
	c.Write([]byte("after EOF"))
	c.(*net.TCPConn).CloseWrite()
	select {
	case got := <-result:
		if got != "after EOF" {
			t.Fatalf("target got %q", got)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("target never got the client's data and EOF")
	}
}

func TestTargetResetReachesClient(t *testing.T) {
	target := listen(t, func(c *net.TCPConn) {
		buf := make([]byte, 1)
		c.Read(buf)
		c.SetLinger(0)
		c.Close()
	})
	tu := newTunnel(t, target, 0)
	c, err := net.Dial("tcp", tu.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.Write([]byte("x"))
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err = io.ReadAll(c)
	if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read after the target reset: %v, want ECONNRESET", err)
	}
	select {
	case err := <-tu.errs:
		if err == nil {
			t.Fatal("Pipe returned nil for a reset connection")
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Pipe did not return")
	}
}

func TestIdleTimeoutCuts(t *testing.T) {
	target := listen(t, echoServer)
	// The idle time is ten times the gap between touches, so a stalled
	// CI machine cannot make a busy connection look idle.
	tu := newTunnel(t, target, time.Second)
	c, err := net.Dial("tcp", tu.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1)
	// Traffic every 100 ms keeps it alive past the idle time...
	for range 15 {
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, buf); err != nil {
			t.Fatalf("cut while busy: %v", err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	// ...silence ends it.
	start := time.Now()
	c.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.Read(buf); err == nil {
		t.Fatal("idle connection not cut")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("cut after %s", d)
	}
}

// TestConcurrentEchoIntact relays 200 connections of 1 MiB each way at
// once.
func TestConcurrentEchoIntact(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 40
	}
	tu := newTunnel(t, listen(t, echoServer), 0)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]byte, 1<<20)
			rand.Read(data)
			c, err := net.Dial("tcp", tu.addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(60 * time.Second))
			go func() {
				c.Write(data)
				c.(*net.TCPConn).CloseWrite()
			}()
			got, err := io.ReadAll(c)
			if err != nil {
				errs <- err
				return
			}
			if sha256.Sum256(got) != sha256.Sum256(data) {
				errs <- errors.New("echo differs")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestIdleConnectionsHoldOneGoroutineEach: an idle relayed connection
// keeps one goroutine per side (the Pipe caller's) and no buffer.
func TestIdleConnectionsHoldOneGoroutineEach(t *testing.T) {
	tu := newTunnel(t, listen(t, echoServer), 0)
	warm, _ := net.Dial("tcp", tu.addr)
	warm.Write([]byte("x"))
	io.ReadFull(warm, make([]byte, 1))
	time.Sleep(50 * time.Millisecond)
	base := runtime.NumGoroutine()
	const n = 100
	var conns []net.Conn
	for range n {
		c, err := net.Dial("tcp", tu.addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("x"))
		if _, err := io.ReadFull(c, make([]byte, 1)); err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	time.Sleep(100 * time.Millisecond)
	// Per connection: the client Pipe, the gateway Pipe, and the echo
	// server's goroutine.
	if extra := runtime.NumGoroutine() - base; extra > 3*n+5 {
		t.Fatalf("%d idle connections added %d goroutines, want <= %d", n, extra, 3*n)
	}
}

func TestPipeBetweenPlainConns(t *testing.T) {
	// Neither side pushes: the fallback copies both ways.
	target := listen(t, echoServer)
	front := listen(t, func(c *net.TCPConn) {
		u, err := net.Dial("tcp", target)
		if err != nil {
			c.Close()
			return
		}
		relay.Pipe(c, u.(*net.TCPConn), 0)
	})
	c, err := net.Dial("tcp", front)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	data := bytes.Repeat([]byte("abc"), 100000)
	go func() { c.Write(data); c.(*net.TCPConn).CloseWrite() }()
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes, %v", len(got), err)
	}
}

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (*net.TCPConn, *net.TCPConn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c.(*net.TCPConn), s.(*net.TCPConn)
}

// TestPipeWithCounts: the counts say how many bytes went each way.
func TestPipeWithCounts(t *testing.T) {
	client, a := tcpPair(t)
	b, server := tcpPair(t)
	var aToB, bToA atomic.Int64
	done := make(chan error, 1)
	go func() { done <- relay.PipeWith(a, b, relay.Options{AtoB: &aToB, BtoA: &bToA}) }()
	up, down := bytes.Repeat([]byte("u"), 100000), bytes.Repeat([]byte("d"), 54321)
	go func() { client.Write(up); client.CloseWrite() }()
	go func() { server.Write(down); server.CloseWrite() }()
	gotUp, _ := io.ReadAll(server)
	gotDown, _ := io.ReadAll(client)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if len(gotUp) != len(up) || len(gotDown) != len(down) {
		t.Fatalf("moved %d and %d bytes, want %d and %d", len(gotUp), len(gotDown), len(up), len(down))
	}
	if aToB.Load() != int64(len(up)) || bToA.Load() != int64(len(down)) {
		t.Fatalf("counted %d a->b and %d b->a, want %d and %d", aToB.Load(), bToA.Load(), len(up), len(down))
	}
}
