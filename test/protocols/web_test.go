package protocols_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"net/http/httptrace"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

func startNginx(t *testing.T) *fwdtest.Nginx {
	t.Helper()
	fwdtest.NeedBinaries(t, "nginx")
	n, err := fwdtest.StartNginx(testCtx(t, 30*time.Second), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// nginxBody is what nginx's "/" answers: protocol, connection serial number,
// requests on that connection.
type nginxBody struct {
	proto    string
	conn     int64
	requests int
}

func parseNginxBody(t *testing.T, b []byte) nginxBody {
	t.Helper()
	var nb nginxBody
	if _, err := fmt.Sscanf(string(b), "ok %s %d %d", &nb.proto, &nb.conn, &nb.requests); err != nil {
		t.Fatalf("nginx body %q: %v", b, err)
	}
	return nb
}

// get makes one request and returns the response and its whole body.
func get(t *testing.T, ctx context.Context, c *http.Client, url string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("GET %s: reading body: %v", url, err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	return resp, body
}

func sha256Hex(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// TestHTTP1KeepAlive makes 100 requests through fwd to nginx with one Go
// client: they must all travel on one connection, as the client sees it
// (httptrace) and as nginx sees it ($connection).
func TestHTTP1KeepAlive(t *testing.T) {
	n := startNginx(t)
	fw := fwdTo(t, "web", port{"http", 80, catalog.HTTP, n.HTTPAddr})["http"]
	tr := &http.Transport{MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx := testCtx(t, 60*time.Second)

	const requests = 100
	reused, newConns := 0, 0
	trace := &httptrace.ClientTrace{GotConn: func(info httptrace.GotConnInfo) {
		if info.Reused {
			reused++
		} else {
			newConns++
		}
	}}
	tctx := httptrace.WithClientTrace(ctx, trace)
	var first nginxBody
	for i := range requests {
		if i%10 == 9 {
			// A 1 MiB file now and then: bodies larger than any buffer.
			resp, body := get(t, tctx, client, "http://"+fw.Addr+"/data.bin")
			mustEqual(t, "data.bin sha256", sha256Hex(body), n.DataSHA256)
			mustEqual(t, "proto", resp.Proto, "HTTP/1.1")
			continue
		}
		resp, body := get(t, tctx, client, fmt.Sprintf("http://%s/req/%d", fw.Addr, i))
		mustEqual(t, "X-Fwd-Server", resp.Header.Get("X-Fwd-Server"), "http")
		nb := parseNginxBody(t, body)
		if i == 0 {
			first = nb
		}
		mustEqual(t, "nginx's protocol", nb.proto, "HTTP/1.1")
		mustEqual(t, fmt.Sprintf("request %d: nginx connection", i), nb.conn, first.conn)
		mustEqual(t, fmt.Sprintf("request %d: requests on the connection", i), nb.requests, i+1)
	}
	mustEqual(t, "new connections", newConns, 1)
	mustEqual(t, "reused connections", reused, requests-1)

	entries, err := n.Access()
	if err != nil {
		t.Fatal(err)
	}
	conns := map[int64]int{}
	for _, e := range entries {
		if e.Server == "http" && (strings.HasPrefix(e.URI, "/req/") || e.URI == "/data.bin") {
			conns[e.Connection]++
		}
	}
	if len(conns) != 1 || conns[first.conn] != requests {
		t.Fatalf("nginx access log: requests per connection %v, want all %d on connection %d", conns, requests, first.conn)
	}
}

// TestHTTP2TLS talks HTTP/2 over TLS (ALPN h2) to nginx through fwd, with Go
// (20 concurrent requests multiplexed on one connection) and with curl.
func TestHTTP2TLS(t *testing.T) {
	n := startNginx(t)
	fw := fwdTo(t, "web", port{"https", 443, catalog.HTTP2, n.H2Addr})["https"]
	tr := &http.Transport{
		TLSClientConfig:   &tls.Config{RootCAs: n.CertPool(), ServerName: fwdtest.TLSServerName},
		ForceAttemptHTTP2: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr}
	ctx := testCtx(t, 60*time.Second)

	// One request first, so that the others share its connection.
	resp, body := get(t, ctx, client, "https://"+fw.Addr+"/")
	mustEqual(t, "resp.Proto", resp.Proto, "HTTP/2.0")
	mustEqual(t, "ALPN", resp.TLS.NegotiatedProtocol, "h2")
	first := parseNginxBody(t, body)
	mustEqual(t, "nginx's protocol", first.proto, "HTTP/2.0")

	var wg sync.WaitGroup
	errs := make(chan error, 20)
	for i := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			path := fmt.Sprintf("/par/%d", i)
			if i%5 == 0 {
				path = "/data.bin"
			}
			req, _ := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+fw.Addr+path, nil)
			resp, err := client.Do(req)
			if err != nil {
				errs <- err
				return
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			switch {
			case err != nil:
				errs <- fmt.Errorf("%s: %w", path, err)
			case resp.Proto != "HTTP/2.0":
				errs <- fmt.Errorf("%s: proto %s", path, resp.Proto)
			case path == "/data.bin" && sha256Hex(b) != n.DataSHA256:
				errs <- fmt.Errorf("/data.bin: %d bytes with the wrong sha256", len(b))
			case path != "/data.bin" && !bytes.HasPrefix(b, []byte(fmt.Sprintf("ok HTTP/2.0 %d ", first.conn))):
				errs <- fmt.Errorf("%s: body %q, want one on nginx connection %d", path, b, first.conn)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}

	if err := fwdtest.Check("curl"); err != nil {
		t.Logf("skipping the curl part: %v", err)
	} else {
		// curl checks the certificate for localhost and connects to the forward.
		out := run(t, 30*time.Second, "curl", "-sS", "--noproxy", "*", "--http2", "--cacert", n.CertFile,
			"--connect-to", "::"+fw.Addr, "-w", "%{http_version}\n", "https://"+fwdtest.TLSServerName+"/curl")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "ok HTTP/2.0 ") || lines[1] != "2" {
			t.Fatalf("curl --http2: %q", out)
		}
	}
}

// h2cClient speaks HTTP/2 with prior knowledge over cleartext.
func h2cClient() (*http.Client, *http.Transport) {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	tr := &http.Transport{Protocols: &protos}
	return &http.Client{Transport: tr}, tr
}

// TestH2CNginx talks HTTP/2 with prior knowledge (no TLS) to nginx through
// fwd, with Go and with curl.
func TestH2CNginx(t *testing.T) {
	n := startNginx(t)
	fw := fwdTo(t, "web", port{"h2c", 8080, catalog.HTTP2, n.H2CAddr})["h2c"]
	client, tr := h2cClient()
	defer tr.CloseIdleConnections()
	ctx := testCtx(t, 60*time.Second)

	resp, body := get(t, ctx, client, "http://"+fw.Addr+"/")
	mustEqual(t, "resp.Proto", resp.Proto, "HTTP/2.0")
	mustEqual(t, "X-Fwd-Server", resp.Header.Get("X-Fwd-Server"), "h2c")
	first := parseNginxBody(t, body)
	mustEqual(t, "nginx's protocol", first.proto, "HTTP/2.0")
	resp, body = get(t, ctx, client, "http://"+fw.Addr+"/data.bin")
	mustEqual(t, "resp.Proto", resp.Proto, "HTTP/2.0")
	mustEqual(t, "data.bin sha256", sha256Hex(body), n.DataSHA256)
	_, body = get(t, ctx, client, "http://"+fw.Addr+"/again")
	nb := parseNginxBody(t, body)
	mustEqual(t, "connection of the third request", nb.conn, first.conn)
	mustEqual(t, "requests on the connection", nb.requests, 3)

	if err := fwdtest.Check("curl"); err != nil {
		t.Logf("skipping the curl part: %v", err)
	} else {
		out := run(t, 30*time.Second, "curl", "-sS", "--noproxy", "*", "--http2-prior-knowledge", "-w", "%{http_version}\n", "http://"+fw.Addr+"/curl")
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 2 || !strings.HasPrefix(lines[0], "ok HTTP/2.0 ") || lines[1] != "2" {
			t.Fatalf("curl --http2-prior-knowledge: %q", out)
		}
	}
}

// TestHTTP2BidiStream runs gRPC-style bidirectional streams through fwd: four
// concurrent HTTP/2 requests on one h2c connection, each sending a line and
// reading its echo 50 times before the request body ends, then reading a
// trailer.
func TestHTTP2BidiStream(t *testing.T) {
	srv, err := fwdtest.StartH2Stream()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	fw := fwdTo(t, "grpcish", port{"grpc", 50051, catalog.HTTP2, srv.Addr})["grpc"]
	client, tr := h2cClient()
	defer tr.CloseIdleConnections()
	ctx := testCtx(t, 60*time.Second)

	const streams, rounds = 4, 50
	var wg sync.WaitGroup
	errs := make(chan error, streams)
	for s := range streams {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- bidiStream(ctx, client, "http://"+fw.Addr+"/stream", s, rounds)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Error(err)
		}
	}
}

func bidiStream(ctx context.Context, client *http.Client, url string, id, rounds int) error {
	pr, pw := io.Pipe()
	defer pw.Close()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, pr)
	if err != nil {
		return err
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("stream %d: %w", id, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Proto != "HTTP/2.0" {
		return fmt.Errorf("stream %d: %s %s", id, resp.Proto, resp.Status)
	}
	br := bufio.NewReader(resp.Body)
	for i := range rounds {
		msg := fmt.Sprintf("stream %d message %d %s", id, i, strings.Repeat("x", i*100))
		if _, err := io.WriteString(pw, msg+"\n"); err != nil {
			return fmt.Errorf("stream %d: write %d: %w", id, i, err)
		}
		line, err := br.ReadString('\n')
		if err != nil {
			return fmt.Errorf("stream %d: reading echo %d: %w", id, i, err)
		}
		if line != "echo "+msg+"\n" {
			return fmt.Errorf("stream %d: echo %d is %.60q", id, i, line)
		}
	}
	pw.Close()
	if rest, err := io.ReadAll(br); err != nil || len(rest) != 0 {
		return fmt.Errorf("stream %d: after the last echo: %q %v", id, rest, err)
	}
	if got := resp.Trailer.Get("X-Fwd-Lines"); got != fmt.Sprint(rounds) {
		return fmt.Errorf("stream %d: trailer X-Fwd-Lines %q, want %d", id, got, rounds)
	}
	return nil
}

// TestWebSocket upgrades an HTTP/1.1 connection to a WebSocket through fwd
// and exchanges messages both ways: the server's greeting, echoes of text
// and binary messages of every length encoding, a ping and a close.
func TestWebSocket(t *testing.T) {
	srv, err := fwdtest.StartWebSocketEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	fw := fwdTo(t, "ws", port{"ws", 8081, catalog.HTTP, srv.Addr})["ws"]
	ctx := testCtx(t, 30*time.Second)

	ws, err := fwdtest.DialWebSocket(ctx, fw.Addr, "/ws")
	if err != nil {
		t.Fatalf("upgrade through fwd: %v", err)
	}
	defer ws.Close()
	ws.SetDeadline(time.Now().Add(20 * time.Second))
	op, msg, err := ws.ReadMessage()
	if err != nil || op != fwdtest.OpText || string(msg) != fwdtest.WebSocketGreeting {
		t.Fatalf("server's greeting: op %d %q %v", op, msg, err)
	}
	big, _ := io.ReadAll(fwdtest.PRNG(3, 200000))
	cases := []struct {
		op  byte
		msg []byte
	}{
		{fwdtest.OpText, []byte("hello through fwd")},
		{fwdtest.OpText, []byte(strings.Repeat("ü", 100))}, // 16-bit length
		{fwdtest.OpBinary, big},                            // 64-bit length
		{fwdtest.OpBinary, nil},
		{fwdtest.OpPing, []byte("ping?")},
	}
	for i, c := range cases {
		if err := ws.WriteMessage(c.op, c.msg); err != nil {
			t.Fatalf("message %d: write: %v", i, err)
		}
		op, msg, err := ws.ReadMessage()
		if err != nil {
			t.Fatalf("message %d: read: %v", i, err)
		}
		wantOp := c.op
		if c.op == fwdtest.OpPing {
			wantOp = fwdtest.OpPong
		}
		if op != wantOp || !bytes.Equal(msg, c.msg) {
			t.Fatalf("message %d: got op %d, %d bytes; want op %d, %d bytes", i, op, len(msg), wantOp, len(c.msg))
		}
	}
	closeMsg := []byte{0x03, 0xe8} // 1000: normal closure
	if err := ws.WriteMessage(fwdtest.OpClose, closeMsg); err != nil {
		t.Fatal(err)
	}
	if op, msg, err := ws.ReadMessage(); err != nil || op != fwdtest.OpClose || !bytes.Equal(msg, closeMsg) {
		t.Fatalf("close: op %d %v %v", op, msg, err)
	}
	if _, _, err := ws.ReadMessage(); err != io.EOF {
		t.Fatalf("after close: %v, want EOF (server closed the connection)", err)
	}
}
