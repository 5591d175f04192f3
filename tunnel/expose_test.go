package tunnel

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

func TestExposeHeaderRoundTrip(t *testing.T) {
	b := appendExposeHeader(nil, 0x01020304, "203.0.113.7:51000")
	id, peer, err := readExposeHeader(bytes.NewReader(b))
	if err != nil || id != 0x01020304 || peer != "203.0.113.7:51000" {
		t.Fatalf("round trip: %d %q %v", id, peer, err)
	}
	long := appendExposeHeader(nil, 1, strings.Repeat("x", 200))
	if _, peer, err := readExposeHeader(bytes.NewReader(long)); err != nil || len(peer) != maxPeerText {
		t.Errorf("a long peer text: %d bytes, %v; want it cut to %d", len(peer), err, maxPeerText)
	}
	for _, bad := range [][]byte{
		{'F', 1, 0, 0, 0, 1, 0},   // a data stream's magic
		{'E', 2, 0, 0, 0, 1, 0},   // another version
		{'E', 1, 0, 0, 0, 1, 200}, // a peer text over the limit
		{'E', 1, 0, 0},            // cut short
	} {
		if _, _, err := readExposeHeader(bytes.NewReader(bad)); !errors.Is(err, ErrBadHeader) {
			t.Errorf("header %v: %v, want ErrBadHeader", bad, err)
		}
	}
}

func TestExposeRequestCheck(t *testing.T) {
	ok := ExposeRequest{LocalPort: 3000, Name: "web"}
	if err := ok.Check(); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		req  ExposeRequest
		want string
	}{
		{ExposeRequest{Name: "web"}, "no local port"},
		{ExposeRequest{LocalPort: 1, Name: "a--b"}, "cannot be part of a URL"},
		{ExposeRequest{LocalPort: 1, Name: "Web"}, "cannot be part of a URL"},
		{ExposeRequest{LocalPort: 1, Name: "web", PortName: "-x"}, "port name"},
		{ExposeRequest{LocalPort: 1, Name: strings.Repeat("a", 40), PortName: strings.Repeat("b", 20)}, "over 63 characters"},
		{ExposeRequest{LocalPort: 1, Name: "web", Auth: "nouser"}, "user:password"},
		{ExposeRequest{LocalPort: 1, Name: "web", Auth: "u:p", TCP: true}, "cannot guard a TCP exposure"},
		{ExposeRequest{LocalPort: 1, Name: "web", Symmetric: true}, "add tcp"},
		{ExposeRequest{LocalPort: 1, Name: "web", TCP: true, Symmetric: true, RemotePort: 2}, "give one"},
		{ExposeRequest{LocalPort: 1, Name: "web", AllowIPs: []string{"10.0.0.0/33"}}, "not an address or CIDR"},
	} {
		if err := c.req.Check(); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %v, want %q", c.req, err, c.want)
		}
	}
}

// TestOldGatewayCannotExpose: a gateway whose welcome does not name the
// expose feature (one older than exposing; here scripted) is never sent
// an expose request, and the caller is told why.
func TestOldGatewayCannotExpose(t *testing.T) {
	addr, fp := scriptedGateway(t, func(*mux.Stream) {})
	s := dialScripted(t, addr, fp)
	if s.CanExpose() {
		t.Fatal("CanExpose after a welcome without the feature")
	}
	if _, err := s.Expose(context.Background(), ExposeRequest{LocalAddr: "127.0.0.1:1", LocalPort: 1, Name: "web"}); !errors.Is(err, ErrExposeUnsupported) {
		t.Fatalf("Expose: %v, want ErrExposeUnsupported", err)
	}
}

// exposingGateway is a real Gateway that exposes, on loopback; it
// returns its address and the certificate's fingerprint.
func exposingGateway(t *testing.T, token string) (addr, fp string) {
	t.Helper()
	return exposingGatewayWith(t, token, catalog.Catalog{})
}

// exposingGatewayWith is exposingGateway serving cat.
func exposingGatewayWith(t *testing.T, token string, cat catalog.Catalog) (addr, fp string) {
	t.Helper()
	cert, err := tls.LoadX509KeyPair("../testdata/certs/gateway.pem", "../testdata/certs/gateway.key")
	if err != nil {
		t.Fatal(err)
	}
	gw := &Gateway{TLS: ServerTLSConfig(cert), Config: &GatewayConfig{
		Tokens:  []Token{{Name: "t", SHA256: sha256.Sum256([]byte(token)), Projects: []string{"*"}, Expose: true}},
		Expose:  &ExposeConfig{Domain: "expose.test"},
		Catalog: cat,
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go gw.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	})
	return ln.Addr().String(), Fingerprint(cert.Certificate[0])
}

// TestOldClientNeverSeesExposing: a hello without the feature (an older
// client's) gets a welcome without it, and an expose message from such a
// client is not acted on.
func TestOldClientNeverSeesExposing(t *testing.T) {
	addr, fp := exposingGateway(t, "fwd_old")
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	conf, _ := Trust{Fingerprint: fp}.clientTLSConfig("127.0.0.1")
	ms := mux.Client(tls.Client(raw, conf), muxConfig(0))
	defer ms.Close()
	opened := make(chan struct{}, 1)
	ms.SetHandler(func(st *mux.Stream) { opened <- struct{}{}; st.Reset() })
	control, err := ms.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	control.SetDeadline(time.Now().Add(5 * time.Second))
	writeControl(control, &controlMsg{Type: msgHello, Version: Version, Token: "fwd_old"})
	br := bufio.NewReader(control)
	welcome, err := readControl(br)
	if err != nil || welcome.Type != msgWelcome || len(welcome.Features) != 0 {
		t.Fatalf("welcome %+v, %v: want one without features", welcome, err)
	}
	writeControl(control, &controlMsg{Type: msgExpose, ID: 1, Expose: &ExposeRequest{LocalPort: 3000, Name: "web"}})
	control.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if m, err := readControl(br); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("after an expose request from a client that did not offer the feature: %+v, %v; want no answer", m, err)
	}
	select {
	case <-opened:
		t.Fatal("the gateway opened a stream to a client that did not offer exposing")
	default:
	}
}

// TestClientDialsOnlyItsOwnAddress: a stream the gateway opens names an
// exposure by id only (the gateway here is scripted, to open what it
// likes): an id the client never exposed is answered "not found", and the
// exposed id reaches the local address the client chose.
func TestClientDialsOnlyItsOwnAddress(t *testing.T) {
	local, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	go func() {
		for {
			c, err := local.Accept()
			if err != nil {
				return
			}
			io.WriteString(c, "local app")
			c.Close()
		}
	}()
	type answer struct {
		id   uint32
		err  error
		body string
	}
	answers := make(chan answer, 2)
	addr, fp := scriptedGatewayWith(t, []string{featureExpose}, func(ms *mux.Session, control *mux.Stream) {
		br := bufio.NewReader(control)
		m, err := readControl(br)
		if err != nil || m.Type != msgExpose {
			return
		}
		writeControl(control, &controlMsg{Type: msgExposed, ID: m.ID, Grant: &ExposeGrant{URL: "https://x"}})
		for _, id := range []uint32{m.ID + 100, m.ID} {
			st, err := ms.OpenStream()
			if err != nil {
				return
			}
			st.Write(appendExposeHeader(nil, id, "192.0.2.1:1"))
			st.SetReadDeadline(time.Now().Add(5 * time.Second))
			err = readStatus(st)
			var body []byte
			if err == nil {
				body, _ = io.ReadAll(st)
			}
			answers <- answer{id, err, string(body)}
		}
	})
	s := dialScripted(t, addr, fp)
	if !s.CanExpose() {
		t.Fatal("CanExpose false after a welcome with the feature")
	}
	e, err := s.Expose(context.Background(), ExposeRequest{LocalAddr: local.Addr().String(), LocalPort: 1, Name: "web"})
	if err != nil {
		t.Fatal(err)
	}
	unknown, known := <-answers, <-answers
	if !errors.Is(unknown.err, &StreamError{Status: StatusNotFound}) {
		t.Errorf("stream for id %d, never exposed: %v, want status not found", unknown.id, unknown.err)
	}
	if known.err != nil || known.body != "local app" || known.id != e.id {
		t.Errorf("stream for the exposed id: %+v, want the local app's bytes", known)
	}
}

// countingObserver counts what the metrics would show.
type countingObserver struct {
	NopObserver
	opened, closed    atomic.Int64
	toTarget, fromTgt atomic.Int64
}

func (o *countingObserver) StreamOpened(string) { o.opened.Add(1) }
func (o *countingObserver) StreamClosed(string) { o.closed.Add(1) }
func (o *countingObserver) ByteCounters(string) (*atomic.Int64, *atomic.Int64) {
	return &o.toTarget, &o.fromTgt
}

// TestExposedRequestsInMetrics: a request through an HTTPS exposure is a
// stream of the session in the gateway's metrics, with its bytes.
func TestExposedRequestsInMetrics(t *testing.T) {
	cert, err := tls.LoadX509KeyPair("../testdata/certs/gateway.pem", "../testdata/certs/gateway.key")
	if err != nil {
		t.Fatal(err)
	}
	obs := &countingObserver{}
	gw := &Gateway{TLS: ServerTLSConfig(cert), Observer: obs, Config: &GatewayConfig{
		Tokens: []Token{{Name: "t", SHA256: sha256.Sum256([]byte("fwd_m")), Projects: []string{"*"}, Expose: true}},
		Expose: &ExposeConfig{Domain: "expose.test"},
	}}
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	edge, _ := net.Listen("tcp", "127.0.0.1:0")
	go gw.Serve(ln)
	go gw.ServeExposeHTTPS(edge, &tls.Config{Certificates: []tls.Certificate{cert}})
	defer func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		gw.Shutdown(ctx)
	}()
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "counted") }))
	defer app.Close()
	s, err := Dial(context.Background(), ln.Addr().String(), &ClientConfig{Token: "fwd_m", Trust: Trust{Fingerprint: Fingerprint(cert.Certificate[0])}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	e, err := s.Expose(context.Background(), ExposeRequest{LocalAddr: app.Listener.Addr().String(), LocalPort: 1, Name: "m"})
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(e.Grant.URL)
	tr := &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname()}, // the test certificate does not name *.expose.test; what is counted is the point here
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, edge.Addr().String())
		}}
	resp, err := (&http.Client{Transport: tr, Timeout: 10 * time.Second}).Get(e.Grant.URL)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "counted" {
		t.Fatalf("through the exposure: %q", body)
	}
	if obs.opened.Load() != 1 || obs.toTarget.Load() == 0 || obs.fromTgt.Load() < int64(len("counted")) {
		t.Fatalf("metrics: %d streams opened, %d bytes to the app, %d from it; want 1 and both counted", obs.opened.Load(), obs.toTarget.Load(), obs.fromTgt.Load())
	}
	e.Close() // the proxy's idle connection to the app goes with the exposure
	deadline := time.Now().Add(5 * time.Second)
	for obs.closed.Load() != 1 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if obs.closed.Load() != 1 {
		t.Errorf("%d streams closed after the exposure was withdrawn, want 1", obs.closed.Load())
	}
}
