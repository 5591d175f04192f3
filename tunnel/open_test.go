package tunnel_test

import (
	"context"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/internal/relay"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// countingConn counts the writes made to a raw connection: one per frame
// that leaves a session (frames are small here, one TLS record each).
type countingConn struct {
	net.Conn
	writes *atomic.Int64
}

func (c countingConn) Write(b []byte) (int, error) {
	c.writes.Add(1)
	return c.Conn.Write(b)
}

type countingListener struct {
	net.Listener
	writes *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.writes}, nil
}

// forwarder is fwd in one process: a gateway over real TLS whose service
// shop/api tcp 80 is target, and a local listener whose connections are
// opened as streams and relayed like forward's carry. Frames written by
// each end are counted.
type forwarder struct {
	addr           string
	sess           *tunnel.Session
	cw, gw         atomic.Int64 // raw writes by client and gateway
	hold           chan heldConn
	errs           chan error // what each relay.Pipe returned
	holdNextAccept atomic.Bool
}

func newForwarder(t testing.TB, target string) *forwarder {
	t.Helper()
	f := &forwarder{hold: make(chan heldConn, 1), errs: make(chan error, 1024)}
	cfg := &tunnel.GatewayConfig{
		Tokens: []tunnel.Token{{Name: "t", SHA256: sha256.Sum256([]byte(testToken)), Projects: []string{"shop"}}},
		Catalog: catalog.Catalog{Projects: []catalog.Project{
			{Name: "shop", Services: []catalog.Resource{{Kind: catalog.Service, Project: "shop", Name: "api",
				Ports: []catalog.Port{{Name: "http", Port: 80, Protocol: catalog.TCP, Targets: []string{target}}}}}},
		}},
		Limits: tunnel.DefaultLimits(),
	}
	cert, err := fwdtest.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	gw := &tunnel.Gateway{Config: cfg, TLS: tunnel.ServerTLSConfig(cert)}
	gln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gw.Serve(countingListener{gln, &f.gw})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	f.sess, err = tunnel.Dial(context.Background(), gln.Addr().String(), &tunnel.ClientConfig{
		Token: testToken, Trust: tunnel.Trust{Fingerprint: tunnel.Fingerprint(cert.Certificate[0])},
		Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return countingConn{c, &f.cw}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.sess.Close() })
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f.addr = ln.Addr().String()
	api := tunnel.Target{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 80}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			var wait chan struct{}
			if f.holdNextAccept.Swap(false) {
				wait = make(chan struct{})
				f.hold <- heldConn{release: wait, conn: c}
			}
			go func() {
				if wait != nil {
					<-wait
				}
				st, err := f.sess.Open(api)
				if err != nil {
					relay.Abort(c)
					f.errs <- err
					return
				}
				f.errs <- st.Relay(c, tunnel.RelayOptions{})
			}()
		}
	}()
	f.settle(t)
	return f
}

// heldConn is a connection the forwarder accepted and holds until release
// is closed.
type heldConn struct {
	release chan struct{}
	conn    net.Conn
}

// readable waits until n bytes the client wrote are queued on the held
// connection, so the relay finds them when it starts.
func (h heldConn) readable(t *testing.T, n int) {
	t.Helper()
	for end := time.Now().Add(5 * time.Second); queuedBytes(t, h.conn) < n; time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("the client's %d bytes never arrived", n)
		}
	}
}

// settle waits for the sessions' first pings to be answered: until neither
// end has written for 200 ms. The next pings are a keepalive interval away,
// so frame counts taken after this see only the test's own frames.
func (f *forwarder) settle(t testing.TB) {
	t.Helper()
	last := [2]int64{-1, -1}
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end); time.Sleep(200 * time.Millisecond) {
		now := [2]int64{f.cw.Load(), f.gw.Load()}
		if now == last && f.sess.RTT() > 0 {
			return
		}
		last = now
	}
	t.Fatal("the sessions' first pings never settled")
}

// serve runs a target whose connections are handled by h.
func serve(t testing.TB, h func(c *net.TCPConn)) string {
	srv, err := fwdtest.Serve(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr
}

// A client that speaks first costs one frame each way to open: its first
// bytes ride with the stream header, and the gateway's OK with the
// target's reply.
func TestOpeningRidesWithFirstBytes(t *testing.T) {
	f := newForwarder(t, echoServer(t))
	f.holdNextAccept.Store(true)
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	held := <-f.hold
	cw, gw := f.cw.Load(), f.gw.Load()
	if _, err := c.Write([]byte("ping")); err != nil {
		t.Fatal(err)
	}
	held.readable(t, 4) // the bytes are waiting when the relay starts
	close(held.release)
	buf := make([]byte, 4)
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo: %q, %v", buf, err)
	}
	if d := f.cw.Load() - cw; d != 1 {
		t.Errorf("client wrote %d frames to open and send, want 1", d)
	}
	if d := f.gw.Load() - gw; d != 1 {
		t.Errorf("gateway wrote %d frames for status and reply, want 1", d)
	}
	c.(*net.TCPConn).CloseWrite()
	if n, err := c.Read(buf); n != 0 || err != io.EOF {
		t.Fatalf("after half-close: %d, %v, want EOF", n, err)
	}
	if err := <-f.errs; err != nil {
		t.Fatalf("relay: %v", err)
	}
}

// A target that speaks first is reached without the client writing: the
// header goes out alone at once.
func TestServerSpeaksFirst(t *testing.T) {
	target := serve(t, func(c *net.TCPConn) {
		c.Write([]byte("220 hello\r\n"))
		io.Copy(c, c)
		c.CloseWrite()
	})
	f := newForwarder(t, target)
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 11)
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "220 hello\r\n" {
		t.Fatalf("banner: %q, %v", buf, err)
	}
	c.Write([]byte("quit"))
	if _, err := io.ReadFull(c, buf[:4]); err != nil || string(buf[:4]) != "quit" {
		t.Fatalf("echo: %q, %v", buf[:4], err)
	}
}

// A target that ends without a byte still gives the client a clean end,
// whether or not the client spoke first.
func TestTargetClosesWithoutReply(t *testing.T) {
	target := serve(t, func(c *net.TCPConn) {
		io.Copy(io.Discard, io.LimitReader(c, 4))
	})
	f := newForwarder(t, target)
	for _, first := range []bool{true, false} {
		if first {
			f.holdNextAccept.Store(true)
		}
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		if first {
			held := <-f.hold
			c.Write([]byte("abcd"))
			held.readable(t, 4)
			close(held.release)
		} else {
			c.Write([]byte("abcd"))
		}
		c.SetDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 8)); n != 0 || err != io.EOF {
			t.Fatalf("first=%v: %d, %v, want EOF", first, n, err)
		}
		c.Close()
		if err := <-f.errs; err != nil {
			t.Fatalf("first=%v: relay: %v", first, err)
		}
	}
}

// A dial failure is reported at once, even when the client spoke first.
func TestDialFailureReportedAtOnce(t *testing.T) {
	f := newForwarder(t, boundNotListening(t))
	f.holdNextAccept.Store(true)
	c, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	held := <-f.hold
	c.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	held.readable(t, 1)
	close(held.release)
	select {
	case err := <-f.errs:
		var se *tunnel.StreamError
		if !errors.As(err, &se) || se.Status != tunnel.StatusDialFailed {
			t.Fatalf("relay: %v, want dial failed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dial failure not reported")
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("local connection still open after a dial failure")
	}
}

// Many connections at once, each speaking first, all intact.
func TestManyOpeningsIntact(t *testing.T) {
	f := newForwarder(t, echoServer(t))
	var wg sync.WaitGroup
	for i := range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := net.Dial("tcp", f.addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			msg := []byte{byte(i), byte(i >> 8), 'x'}
			c.Write(msg)
			c.(*net.TCPConn).CloseWrite()
			got, err := io.ReadAll(c)
			if err != nil || string(got) != string(msg) {
				t.Errorf("conn %d: %q, %v", i, got, err)
			}
		}()
	}
	wg.Wait()
}

// TestConnRate is a profiling aid, not a check: FWD_CONNRATE=1 go test
// -run ConnRate -cpuprofile cpu.out ./tunnel/
func TestConnRate(t *testing.T) {
	if os.Getenv("FWD_CONNRATE") == "" {
		t.Skip("set FWD_CONNRATE=1")
	}
	f := newForwarder(t, echoServer(t))
	var n atomic.Int64
	end := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			buf := make([]byte, 1)
			for time.Now().Before(end) {
				c, err := net.Dial("tcp", f.addr)
				if err != nil {
					t.Error(err)
					return
				}
				c.Write([]byte{1})
				if _, err := io.ReadFull(c, buf); err != nil {
					t.Error(err)
				}
				c.Close()
				n.Add(1)
			}
		}()
	}
	wg.Wait()
	t.Logf("%.0f conn/s, client frames/conn %.2f, gateway frames/conn %.2f", float64(n.Load())/3,
		float64(f.cw.Load())/float64(n.Load()), float64(f.gw.Load())/float64(n.Load()))
}

// TestIdleMemory is a measuring aid, not a check: FWD_IDLEMEM=1.
func TestIdleMemory(t *testing.T) {
	if os.Getenv("FWD_IDLEMEM") == "" {
		t.Skip("set FWD_IDLEMEM=1")
	}
	target := os.Getenv("FWD_IDLEMEM_TARGET")
	if target == "" {
		target = echoServer(t)
	}
	f := newForwarder(t, target)
	api := tunnel.Target{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 80}
	direct := os.Getenv("FWD_IDLEMEM_DIRECT") != ""
	const n = 3000
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	g0 := runtime.NumGoroutine()
	conns := make([]net.Conn, 0, n)
	buf := make([]byte, 1)
	for range n {
		if direct {
			st, err := f.sess.Open(api)
			if err != nil {
				t.Fatal(err)
			}
			st.Write([]byte{1})
			io.ReadFull(st, buf)
			conns = append(conns, st)
			continue
		}
		c, err := net.Dial("tcp", f.addr)
		if err != nil {
			t.Fatal(err)
		}
		c.Write([]byte{1})
		io.ReadFull(c, buf)
		conns = append(conns, c)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)
	t.Logf("per conn: goroutines %.2f, stack %.0f B, heap %.0f B", float64(runtime.NumGoroutine()-g0)/n,
		float64(after.StackInuse-before.StackInuse)/n, float64(after.HeapAlloc-before.HeapAlloc)/n)
	for _, c := range conns {
		c.Close()
	}
}

// boundNotListening returns an address nothing listens on that nothing else
// can take meanwhile: connecting to it is refused.
func boundNotListening(t *testing.T) string {
	t.Helper()
	addr, release, err := fwdtest.RefusingAddr()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { release() })
	return addr
}
