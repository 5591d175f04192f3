// Package expose tests fwd expose end to end on loopback: a real gateway
// (in-process, real TLS, the edge on 127.0.0.1 with a wildcard
// certificate from the test CA), a real client exposing real local
// servers, and public clients (Go's HTTP client and curl) dialling the
// edge's address whatever host the URL names, as curl --resolve does.
package expose

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// app is a local HTTP server that says who asked and how, and counts its
// requests.
type app struct {
	srv      *http.Server
	addr     string
	port     uint16
	requests atomic.Int64
}

func startApp(t *testing.T) *app {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := &app{addr: ln.Addr().String(), port: uint16(ln.Addr().(*net.TCPAddr).Port)}
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.requests.Add(1)
		fmt.Fprintf(w, "host=%s xff=%s proto=%s xhost=%s auth=%q path=%s\n", r.Host, r.Header.Get("X-Forwarded-For"),
			r.Header.Get("X-Forwarded-Proto"), r.Header.Get("X-Forwarded-Host"), r.Header.Get("Authorization"), r.URL.Path)
	})
	a.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go a.srv.Serve(ln)
	t.Cleanup(func() { a.srv.Close() })
	return a
}

func exposeGateway(t *testing.T, e tunnel.ExposeConfig, opts ...fwdtest.Option) *fwdtest.Gateway {
	t.Helper()
	if e.LeaseFile == "" {
		e.LeaseFile = filepath.Join(t.TempDir(), "leases.json")
	}
	return fwdtest.NewGateway(t, catalog.Catalog{}, append([]fwdtest.Option{fwdtest.WithExpose(e)}, opts...)...)
}

func expose(t *testing.T, c *forward.Client, x ...forward.Exposure) []forward.ExposeResult {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	rs, err := c.Expose(ctx, x...)
	if err != nil {
		t.Fatal(err)
	}
	return rs
}

func granted(t *testing.T, r forward.ExposeResult) forward.ExposeResult {
	t.Helper()
	if r.Error != nil {
		t.Fatalf("port %d not exposed: %s", r.LocalPort, r.Error.Message)
	}
	return r
}

func get(t *testing.T, hc *http.Client, u string, mod func(*http.Request)) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest("GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	if mod != nil {
		mod(req)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", u, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: body: %v", u, err)
	}
	return resp, string(body)
}

func host(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil {
		t.Fatal(err)
	}
	return p.Hostname()
}

// TestExposeHTTPS publishes a local server and reaches it through its URL
// over HTTP/1.1 and HTTP/2, from Go and from curl, with the forwarding
// headers set by the edge.
func TestExposeHTTPS(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	a := startApp(t)
	c := fwdtest.NewClient(t, gw, nil)
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: a.port, Name: "web", LocalAddr: a.addr})[0])
	h := host(t, r.URL)
	if !strings.HasPrefix(h, "http--web--") || !strings.HasSuffix(h, "."+fwdtest.ExposeDomain) || !r.Open {
		t.Fatalf("result %+v: want https://http--web--LABEL.%s, open", r, fwdtest.ExposeDomain)
	}
	for _, h2 := range []bool{false, true} {
		hc, err := gw.HTTPClient(h2)
		if err != nil {
			t.Fatal(err)
		}
		resp, body := get(t, hc, r.URL+"/hello", nil)
		wantProto := map[bool]int{false: 1, true: 2}[h2]
		if resp.StatusCode != 200 || resp.ProtoMajor != wantProto {
			t.Fatalf("h2=%v: %s %s: %s", h2, resp.Proto, resp.Status, body)
		}
		hp := strings.TrimPrefix(r.URL, "https://") // the Host header, port included
		want := fmt.Sprintf("host=%s xff=127.0.0.1 proto=https xhost=%s auth=\"\" path=/hello", hp, hp)
		if !strings.Contains(body, want) {
			t.Errorf("h2=%v: app saw %q, want %q", h2, body, want)
		}
	}
	fwdtest.NeedBinaries(t, "curl")
	for _, proto := range []string{"--http1.1", "--http2"} {
		out, err := curl(gw, proto, "-sS", "-w", " %{http_version}", r.URL+"/curl")
		if err != nil {
			t.Fatalf("curl %s: %v: %s", proto, err, out)
		}
		wantVersion := map[string]string{"--http1.1": "1.1", "--http2": "2"}[proto]
		if !strings.Contains(out, "path=/curl") || !strings.HasSuffix(strings.TrimSpace(out), wantVersion) {
			t.Errorf("curl %s: %q, want the app's answer over HTTP %s", proto, out, wantVersion)
		}
	}
}

// curl runs curl against the gateway's edge with --resolve and the test CA.
func curl(gw *fwdtest.Gateway, args ...string) (string, error) {
	p, _ := url.Parse(args[len(args)-1])
	argv := []string{"--max-time", "20", "--cacert", fwdtest.Testdata("certs", "ca.pem")}
	for _, edge := range []string{gw.Edge.HTTPS, gw.Edge.HTTP} {
		ip, port, _ := net.SplitHostPort(edge)
		argv = append(argv, "--resolve", p.Hostname()+":"+port+":"+ip)
	}
	argv = append(argv, args...)
	out, err := exec.Command("curl", argv...).CombinedOutput()
	return string(out), err
}

// TestHTTPRedirectsToHTTPS checks the HTTP listener: a 308 to the same
// path and query over HTTPS, at the URL's port.
func TestHTTPRedirectsToHTTPS(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	a := startApp(t)
	c := fwdtest.NewClient(t, gw, nil)
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: a.port, Name: "web", LocalAddr: a.addr})[0])
	h := host(t, r.URL)
	_, httpPort, _ := net.SplitHostPort(gw.Edge.HTTP)
	fwdtest.NeedBinaries(t, "curl")
	out, err := curl(gw, "-sS", "-o", "/dev/null", "-w", "%{http_code} %{redirect_url}", "http://"+h+":"+httpPort+"/a/b?c=d")
	if err != nil {
		t.Fatalf("curl: %v: %s", err, out)
	}
	if want := "308 " + r.URL + "/a/b?c=d"; out != want {
		t.Errorf("redirect %q, want %q", out, want)
	}
	out, err = curl(gw, "-sS", "-L", "http://"+h+":"+httpPort+"/followed")
	if err != nil || !strings.Contains(out, "path=/followed") {
		t.Errorf("following the redirect: %v: %q", err, out)
	}
}

// TestWebSocketAndGRPCStream passes a websocket (HTTP/1.1 upgrade) and a
// gRPC-style full-duplex HTTP/2 stream with trailers (h2 at the edge, h2c
// to the app) through exposures.
func TestWebSocketAndGRPCStream(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	wsApp, err := fwdtest.StartWebSocketEcho()
	if err != nil {
		t.Fatal(err)
	}
	defer wsApp.Close()
	h2App, err := fwdtest.StartH2Stream()
	if err != nil {
		t.Fatal(err)
	}
	defer h2App.Close()
	c := fwdtest.NewClient(t, gw, nil)
	rs := expose(t, c, forward.Exposure{LocalPort: portOf(wsApp.Addr), Name: "ws", LocalAddr: wsApp.Addr},
		forward.Exposure{LocalPort: portOf(h2App.Addr), Name: "grpc", LocalAddr: h2App.Addr})
	ws, h2 := granted(t, rs[0]), granted(t, rs[1])

	pool, _ := fwdtest.CAPool()
	conn, err := tls.Dial("tcp", gw.Edge.HTTPS, &tls.Config{RootCAs: pool, ServerName: host(t, ws.URL), NextProtos: []string{"http/1.1"}})
	if err != nil {
		t.Fatal(err)
	}
	sock, err := fwdtest.HandshakeWebSocket(conn, strings.TrimPrefix(ws.URL, "https://"), "/ws")
	if err != nil {
		t.Fatal(err)
	}
	defer sock.Close()
	sock.SetDeadline(time.Now().Add(10 * time.Second))
	if _, msg, err := sock.ReadMessage(); err != nil || string(msg) != fwdtest.WebSocketGreeting {
		t.Fatalf("greeting %q, %v", msg, err)
	}
	for i := range 3 {
		want := fmt.Sprintf("message %d", i)
		if err := sock.WriteMessage(fwdtest.OpText, []byte(want)); err != nil {
			t.Fatal(err)
		}
		if _, msg, err := sock.ReadMessage(); err != nil || string(msg) != want {
			t.Fatalf("echo %q, %v; want %q", msg, err, want)
		}
	}

	hc, _ := gw.HTTPClient(true)
	pr, pw := io.Pipe()
	req, _ := http.NewRequest("POST", h2.URL+"/stream", pr)
	req.Header.Set("Content-Type", "application/grpc")
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || resp.ProtoMajor != 2 {
		t.Fatalf("stream: %s %s", resp.Proto, resp.Status)
	}
	buf := make([]byte, 64)
	for i := range 3 { // each line is answered before the next is sent: full duplex
		fmt.Fprintf(pw, "line %d\n", i)
		n, err := resp.Body.Read(buf)
		if want := fmt.Sprintf("echo line %d\n", i); err != nil || string(buf[:n]) != want {
			t.Fatalf("stream answer %q, %v; want %q", buf[:n], err, want)
		}
	}
	pw.Close()
	io.Copy(io.Discard, resp.Body)
	if got := resp.Trailer.Get("X-Fwd-Lines"); got != "3" {
		t.Errorf("trailer X-Fwd-Lines %q, want 3", got)
	}
}

func portOf(addr string) uint16 {
	ap, _ := net.ResolveTCPAddr("tcp", addr)
	return uint16(ap.Port)
}

// TestSameURLAfterReconnectAndRestart drops the client's tunnel, then
// restarts the gateway (its leases in a file): the URL stays the same and
// serves again each time.
func TestSameURLAfterReconnectAndRestart(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	a := startApp(t)
	var conns []net.Conn
	var connsMu = make(chan struct{}, 1)
	connsMu <- struct{}{}
	events := make(chan forward.Event, 16)
	c := fwdtest.NewClient(t, gw, func(o *forward.Options) {
		o.Dialer = func(ctx context.Context, network, addr string) (net.Conn, error) {
			var d net.Dialer
			conn, err := d.DialContext(ctx, network, addr)
			if err == nil {
				<-connsMu
				conns = append(conns, conn)
				connsMu <- struct{}{}
			}
			return conn, err
		}
		o.OnEvent = func(e forward.Event) {
			if e.Exposed != nil {
				events <- e
			}
		}
	})
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: a.port, Name: "web", LocalAddr: a.addr})[0])
	hc, _ := gw.HTTPClient(true)
	if resp, body := get(t, hc, r.URL, nil); resp.StatusCode != 200 {
		t.Fatalf("before: %s %s", resp.Status, body)
	}
	reexposed := func(what string) {
		t.Helper()
		select {
		case e := <-events:
			if len(e.Exposed) != 1 || e.Exposed[0].URL != r.URL {
				t.Fatalf("after %s: exposures %+v, want %s again", what, e.Exposed, r.URL)
			}
		case <-time.After(15 * time.Second):
			t.Fatalf("after %s: not exposed again within 15 s", what)
		}
		hc.CloseIdleConnections()
		if resp, body := get(t, hc, r.URL, nil); resp.StatusCode != 200 {
			t.Fatalf("after %s: %s %s", what, resp.Status, body)
		}
	}
	<-connsMu
	conns[len(conns)-1].Close()
	connsMu <- struct{}{}
	reexposed("the tunnel dropped")

	gw.Stop()
	if err := gw.Restart(catalog.Catalog{}); err != nil {
		t.Fatal(err)
	}
	reexposed("a gateway restart")
}

// TestBasicAuth: a request without the password is answered 401 by the
// edge and never reaches the app; with it, 200, and the app does not see
// the edge's credentials.
func TestBasicAuth(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	a := startApp(t)
	c := fwdtest.NewClient(t, gw, nil)
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: a.port, Name: "web", LocalAddr: a.addr, Auth: "demo:s3cret"})[0])
	if r.Open {
		t.Error("an exposure with auth is reported open to everyone")
	}
	hc, _ := gw.HTTPClient(true)
	for _, bad := range []func(*http.Request){nil, func(r *http.Request) { r.SetBasicAuth("demo", "wrong") }} {
		resp, _ := get(t, hc, r.URL, bad)
		if resp.StatusCode != 401 || !strings.HasPrefix(resp.Header.Get("WWW-Authenticate"), "Basic ") {
			t.Fatalf("without the password: %s, WWW-Authenticate %q", resp.Status, resp.Header.Get("WWW-Authenticate"))
		}
	}
	if n := a.requests.Load(); n != 0 {
		t.Fatalf("the app saw %d refused requests", n)
	}
	resp, body := get(t, hc, r.URL, func(r *http.Request) { r.SetBasicAuth("demo", "s3cret") })
	if resp.StatusCode != 200 || !strings.Contains(body, `auth=""`) {
		t.Fatalf("with the password: %s %q", resp.Status, body)
	}
}

// TestAllowIP: the peer's own address decides, never X-Forwarded-For.
func TestAllowIP(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	a := startApp(t)
	c := fwdtest.NewClient(t, gw, nil)
	rs := expose(t, c, forward.Exposure{LocalPort: a.port, Name: "closed", LocalAddr: a.addr, AllowIPs: []string{"10.0.0.0/8"}},
		forward.Exposure{LocalPort: a.port, Name: "mine", LocalAddr: a.addr, AllowIPs: []string{"127.0.0.1"}})
	closed, mine := granted(t, rs[0]), granted(t, rs[1])
	hc, _ := gw.HTTPClient(false)
	resp, _ := get(t, hc, closed.URL, func(r *http.Request) { r.Header.Set("X-Forwarded-For", "10.1.2.3") })
	if resp.StatusCode != 403 {
		t.Errorf("from 127.0.0.1 to an exposure for 10.0.0.0/8 (X-Forwarded-For 10.1.2.3): %s, want 403", resp.Status)
	}
	if a.requests.Load() != 0 {
		t.Error("a refused request reached the app")
	}
	if resp, body := get(t, hc, mine.URL, nil); resp.StatusCode != 200 {
		t.Errorf("from an allowed address: %s %s", resp.Status, body)
	}
}

// TestForwardOnlyTokenRefused: a token without the expose permission is
// told so, and nothing is published.
func TestForwardOnlyTokenRefused(t *testing.T) {
	plain, err := tunnel.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	gw := exposeGateway(t, tunnel.ExposeConfig{}, func(c *tunnel.GatewayConfig) {
		c.Tokens = append(c.Tokens, tunnel.Token{Name: "ci", SHA256: sha256.Sum256([]byte(plain)), Projects: []string{"*"}})
	})
	c := fwdtest.NewClient(t, gw, func(o *forward.Options) { o.Token = plain })
	r := expose(t, c, forward.Exposure{LocalPort: 3000, Name: "web"})[0]
	if r.Error == nil || !strings.Contains(r.Error.Message, `token "ci" may forward but not expose ports`) {
		t.Fatalf("forward-only token: %+v, want a refusal that says it may not expose", r)
	}
	if len(c.ExposeResults()) != 0 {
		t.Errorf("a refused exposure is kept: %+v", c.ExposeResults())
	}
}

// TestExposeLimit: a login has at most max_per_login exposures.
func TestExposeLimit(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{MaxPerLogin: 2})
	c := fwdtest.NewClient(t, gw, nil)
	rs := expose(t, c, forward.Exposure{LocalPort: 1, Name: "a"}, forward.Exposure{LocalPort: 2, Name: "b"}, forward.Exposure{LocalPort: 3, Name: "c"})
	granted(t, rs[0])
	granted(t, rs[1])
	if rs[2].Error == nil || !strings.Contains(rs[2].Error.Message, "already has 2 exposures") {
		t.Fatalf("third exposure: %+v, want the limit", rs[2])
	}
}

// TestAppDownIs502 says which port did not answer.
func TestAppDownIs502(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	c := fwdtest.NewClient(t, gw, nil)
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: portOf(addr), Name: "down", LocalAddr: addr})[0])
	hc, _ := gw.HTTPClient(true)
	resp, body := get(t, hc, r.URL, nil)
	if resp.StatusCode != 502 || !strings.Contains(body, "nothing answers on "+addr) {
		t.Errorf("app down: %s %q", resp.Status, body)
	}
	resp, body = get(t, hc, "https://http--nope--abcdefgh."+fwdtest.ExposeDomain+"/", nil)
	if resp.StatusCode != 404 || !strings.Contains(body, "nothing is exposed at") {
		t.Errorf("unknown host: %s %q", resp.Status, body)
	}
}

// TestRateLimit: requests over an exposure's rate are answered 429 by the
// edge, with Retry-After, and do not reach the app.
func TestRateLimit(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	a := startApp(t)
	c := fwdtest.NewClient(t, gw, nil)
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: a.port, Name: "slow", LocalAddr: a.addr, RateLimit: 0.5})[0])
	hc, _ := gw.HTTPClient(true)
	codes := map[int]int{}
	var retry string
	for range 5 { // a burst of 1 at 0.5/s: one passes, the rest within the same second do not
		resp, _ := get(t, hc, r.URL, nil)
		codes[resp.StatusCode]++
		if resp.StatusCode == 429 {
			retry = resp.Header.Get("Retry-After")
		}
	}
	if codes[200] != 1 || codes[429] != 4 || retry != "1" || a.requests.Load() != 1 {
		t.Fatalf("5 requests at once at 0.5/s: %v (Retry-After %q), the app saw %d; want one 200 and four 429", codes, retry, a.requests.Load())
	}
}

// TestReloadRevokesExpose: a reload that takes the expose permission away
// withdraws the login's exposures at once; the session itself stays.
func TestReloadRevokesExpose(t *testing.T) {
	gw := exposeGateway(t, tunnel.ExposeConfig{})
	a := startApp(t)
	c := fwdtest.NewClient(t, gw, nil)
	r := granted(t, expose(t, c, forward.Exposure{LocalPort: a.port, Name: "web", LocalAddr: a.addr})[0])
	hc, _ := gw.HTTPClient(false)
	if resp, _ := get(t, hc, r.URL, nil); resp.StatusCode != 200 {
		t.Fatalf("before the reload: %s", resp.Status)
	}
	gw.ReloadWith(func(cfg *tunnel.GatewayConfig) { cfg.Tokens[0].Expose = false })
	deadline := time.Now().Add(5 * time.Second)
	for {
		hc.CloseIdleConnections()
		resp, _ := get(t, hc, r.URL, nil)
		if resp.StatusCode == 404 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("5 s after the reload the exposure still answers %s", resp.Status)
		}
		time.Sleep(50 * time.Millisecond)
	}
	again := expose(t, c, forward.Exposure{LocalPort: a.port, Name: "web2", LocalAddr: a.addr})[0]
	if again.Error == nil || again.Code != "forbidden" {
		t.Errorf("exposing after the permission went: %+v, want forbidden", again)
	}
}
