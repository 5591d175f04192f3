package expose

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"io"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
)

// The TCP tests lease from fixed ranges below 32768 (outside the range
// the kernel picks outgoing ports from), a different one per test, on
// 127.0.0.3, so that a local app on 127.0.0.1 may use the same number.
const tcpHost = "127.0.0.3"

func tcpGateway(t *testing.T, lo, hi uint16) *fwdtest.Gateway {
	return exposeGateway(t, tunnel.ExposeConfig{TCPPorts: [2]uint16{lo, hi}, TCPHost: tcpHost, PublicHost: tcpHost})
}

func dialPublic(t *testing.T, r forward.ExposeResult) *net.TCPConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", r.TCPAddr, 5*time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", r.TCPAddr, err)
	}
	return c.(*net.TCPConn)
}

const tcpBytes = 100 << 20

// TestTCPExposure100MiB moves 100 MiB each way through a leased port,
// bit-exact: a download from a hash source, and an upload to a hash sink
// that answers after the public client's half-close.
func TestTCPExposure100MiB(t *testing.T) {
	gw := tcpGateway(t, 26100, 26109)
	src, err := fwdtest.StartHashSource()
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sink, err := fwdtest.StartHashSink()
	if err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	c := fwdtest.NewClient(t, gw, nil)
	rs := expose(t, c, forward.Exposure{LocalPort: portOf(src.Addr), LocalAddr: src.Addr, Name: "src", TCP: true},
		forward.Exposure{LocalPort: portOf(sink.Addr), LocalAddr: sink.Addr, Name: "sink", TCP: true})
	down, up := granted(t, rs[0]), granted(t, rs[1])
	for _, r := range []forward.ExposeResult{down, up} {
		if r.RemotePort < 26100 || r.RemotePort > 26109 || r.TCPAddr != net.JoinHostPort(tcpHost, strconv.Itoa(int(r.RemotePort))) {
			t.Fatalf("lease %+v: want a port of 26100-26109 on %s", r, tcpHost)
		}
	}

	want := prngSum(t, 7, tcpBytes)
	conn := dialPublic(t, down)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := conn.Write(fwdtest.HashSourceRequest(7, tcpBytes)); err != nil {
		t.Fatal(err)
	}
	h := sha256.New()
	if _, err := io.CopyN(h, conn, tcpBytes); err != nil {
		t.Fatalf("download: %v", err)
	}
	trailer, _ := io.ReadAll(conn)
	if got := hex.EncodeToString(h.Sum(nil)); got != want || string(trailer) != want {
		t.Fatalf("download: sha256 %s (source says %s), want %s", got, trailer, want)
	}

	conn = dialPublic(t, up)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(2 * time.Minute))
	if _, err := io.Copy(conn, fwdtest.PRNG(8, tcpBytes)); err != nil {
		t.Fatalf("upload: %v", err)
	}
	conn.CloseWrite() // the half-close the sink waits for
	got, err := io.ReadAll(conn)
	if wantUp := prngSum(t, 8, tcpBytes); err != nil || string(got) != wantUp {
		t.Fatalf("upload: sink hashed %q (%v), want %s", got, err, wantUp)
	}
}

func prngSum(t *testing.T, seed uint64, n int64) string {
	t.Helper()
	h := sha256.New()
	io.Copy(h, fwdtest.PRNG(seed, n))
	return hex.EncodeToString(h.Sum(nil))
}

// TestTCPResetPassesThrough: an app that resets its connection resets
// the public one.
func TestTCPResetPassesThrough(t *testing.T) {
	gw := tcpGateway(t, 26110, 26114)
	app, err := fwdtest.Serve(func(c *net.TCPConn) {
		c.Write([]byte("bye"))
		time.Sleep(100 * time.Millisecond)
		c.SetLinger(0)
	})
	if err != nil {
		t.Fatal(err)
	}
	defer app.Close()
	c := fwdtest.NewClient(t, gw, nil)
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: portOf(app.Addr), LocalAddr: app.Addr, Name: "rst", TCP: true})[0])
	conn := dialPublic(t, r)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(conn)
	if string(got) != "bye" || !errors.Is(err, syscall.ECONNRESET) {
		t.Fatalf("read %q, %v: want bye, then connection reset", got, err)
	}
}

// TestTCPSamePortAfterReconnectAndReleased: the lease survives a dropped
// tunnel (the same port, serving again) and is given back on
// StopExposing, so that another exposure can have it.
func TestTCPSamePortAfterReconnectAndReleased(t *testing.T) {
	gw := tcpGateway(t, 26120, 26121)
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	drop := make(chan net.Conn, 4)
	events := make(chan forward.Event, 4)
	c := fwdtest.NewClient(t, gw, func(o *forward.Options) {
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				drop <- conn
			}
			return conn, err
		}
		o.OnEvent = func(e forward.Event) {
			if e.Exposed != nil {
				events <- e
			}
		}
	})
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: portOf(echo.Addr), LocalAddr: echo.Addr, Name: "db", TCP: true})[0])
	echoed(t, r)
	(<-drop).Close()
	select {
	case e := <-events:
		if len(e.Exposed) != 1 || e.Exposed[0].RemotePort != r.RemotePort {
			t.Fatalf("after the tunnel dropped: %+v, want port %d again", e.Exposed, r.RemotePort)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("not exposed again within 15 s")
	}
	echoed(t, r)

	if err := c.StopExposing(r.LocalPort); err != nil {
		t.Fatal(err)
	}
	if conn, err := net.DialTimeout("tcp", r.TCPAddr, time.Second); err == nil {
		conn.Close()
		t.Fatalf("%s still accepts after StopExposing", r.TCPAddr)
	}
	other := granted(t, expose(t, c, forward.Exposure{LocalPort: portOf(echo.Addr), LocalAddr: echo.Addr, Name: "other", TCP: true, RemotePort: r.RemotePort})[0])
	if other.RemotePort != r.RemotePort {
		t.Fatalf("released port %d not given to another exposure: got %d", r.RemotePort, other.RemotePort)
	}
}

func echoed(t *testing.T, r forward.ExposeResult) {
	t.Helper()
	conn := dialPublic(t, r)
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("ping\n"))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if line != "ping\n" {
		t.Fatalf("echo through %s: %q, %v", r.TCPAddr, line, err)
	}
}

// TestSymmetric: public = local when that port is in the range and free;
// a clear refusal when it is outside the range or in use.
func TestSymmetric(t *testing.T) {
	gw := tcpGateway(t, 26130, 26139)
	app, err := net.Listen("tcp", "127.0.0.1:26135")
	if err != nil {
		t.Skipf("cannot listen on the fixed port 26135: %v", err)
	}
	app.Close()
	echo, _ := fwdtest.StartEcho()
	defer echo.Close()
	c := fwdtest.NewClient(t, gw, nil)
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: 26135, LocalAddr: echo.Addr, Name: "sym", TCP: true, Symmetric: true})[0])
	if r.RemotePort != 26135 {
		t.Fatalf("symmetric: port %d, want 26135", r.RemotePort)
	}
	echoed(t, r)

	out := expose(t, c, forward.Exposure{LocalPort: 5432, LocalAddr: echo.Addr, Name: "out", TCP: true, Symmetric: true})[0]
	if out.Error == nil || out.Code != "port" || !strings.Contains(out.Error.Message, "outside the gateway's TCP ports 26130-26139") {
		t.Errorf("symmetric 5432 outside the range: %+v", out)
	}
	busy, err := net.Listen("tcp", net.JoinHostPort(tcpHost, "26137"))
	if err != nil {
		t.Skipf("cannot hold the fixed port 26137: %v", err)
	}
	defer busy.Close()
	held := expose(t, c, forward.Exposure{LocalPort: 26137, LocalAddr: echo.Addr, Name: "busy", TCP: true, Symmetric: true})[0]
	if held.Error == nil || !strings.Contains(held.Error.Message, "symmetric port 26137 cannot be had") {
		t.Errorf("symmetric 26137 in use on the gateway: %+v", held)
	}
}
