package deploy

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/internal/gwmetrics"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// The metrics must be the gateway's observer.
var _ tunnel.Observer = (*gwmetrics.Metrics)(nil)

// scrapeURL gets url as Prometheus's scraper would and parses the text
// with Prometheus's own parser.
func scrapeURL(t *testing.T, url string) map[string]*dto.MetricFamily {
	t.Helper()
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("GET %s: %s", url, resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("GET %s: Content-Type %q, want Prometheus text 0.0.4", url, ct)
	}
	p := expfmt.NewTextParser(model.LegacyValidation)
	fams, err := p.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatalf("GET %s is not Prometheus text: %v", url, err)
	}
	return fams
}

// sample is the value of the series of name whose labels include these.
func sample(fams map[string]*dto.MetricFamily, name string, labels ...string) (float64, bool) {
	f, ok := fams[name]
	if !ok {
		return 0, false
	}
next:
	for _, m := range f.GetMetric() {
		have := map[string]string{}
		for _, l := range m.GetLabel() {
			have[l.GetName()] = l.GetValue()
		}
		for i := 0; i+1 < len(labels); i += 2 {
			if have[labels[i]] != labels[i+1] {
				continue next
			}
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue(), true
		case m.Gauge != nil:
			return m.Gauge.GetValue(), true
		}
	}
	return 0, false
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestScrapeGatewayMetrics: a real gateway in-process, observed by
// gwmetrics and served on loopback: a session moves bytes both ways
// through an echo target, a stream to a target that refuses fails to
// dial, a token is refused; a scrape of /metrics is Prometheus text and
// its counters say so.
func TestScrapeGatewayMetrics(t *testing.T) {
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	defer echo.Close()
	refusing, closeRefusing, err := fwdtest.RefusingAddr()
	if err != nil {
		t.Fatal(err)
	}
	defer closeRefusing()
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Services: []catalog.Resource{
		{Name: "echo", Kind: catalog.Service, Project: "shop", Ports: []catalog.Port{{Port: 7, Protocol: catalog.TCP, Targets: []string{echo.Addr}}}},
		{Name: "down", Kind: catalog.Service, Project: "shop", Ports: []catalog.Port{{Port: 80, Protocol: catalog.TCP, Targets: []string{refusing}}}},
	}}}}
	token, err := tunnel.NewToken()
	if err != nil {
		t.Fatal(err)
	}
	cert, err := fwdtest.Certificate()
	if err != nil {
		t.Fatal(err)
	}

	alice, hostKey := newSigner(t), newSigner(t)
	m, err := gwmetrics.New(gwmetrics.Options{Transports: tunnel.Transports(), LoginReasons: tunnel.LoginFailureReasons()})
	if err != nil {
		t.Fatal(err)
	}
	mln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := m.Serve(mln, fwdtest.Logger(t))
	defer srv.Close()
	base := "http://" + srv.Addr().String()

	gw := &tunnel.Gateway{
		Config: &tunnel.GatewayConfig{
			Tokens:  []tunnel.Token{{Name: "ci", SHA256: sha256.Sum256([]byte(token)), Projects: []string{"shop"}}},
			Users:   []tunnel.User{{Name: "alice", Keys: []ssh.PublicKey{alice.PublicKey()}, Projects: []string{"shop"}}},
			Catalog: cat,
			Limits:  tunnel.DefaultLimits(),
		},
		TLS:      tunnel.ServerTLSConfig(cert),
		Logger:   fwdtest.Logger(t),
		Observer: m,
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	sshLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	served := make(chan error, 2)
	go func() { served <- gw.Serve(ln) }()
	go func() { served <- gw.ServeSSH(sshLn, hostKey) }()
	if status(t, base+"/readyz") != 503 {
		t.Error("/readyz is 200 before the command said ready")
	}
	m.SetReady(true)
	if status(t, base+"/readyz") != 200 {
		t.Error("/readyz is not 200 once ready")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	trust := tunnel.Trust{Fingerprint: tunnel.Fingerprint(cert.Certificate[0])}

	sess, err := tunnel.Dial(ctx, ln.Addr().String(), &tunnel.ClientConfig{Token: token, Trust: trust})
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()

	// Bytes both ways: 1 MiB out to the echo target and back.
	const n = 1 << 20
	payload := bytes.Repeat([]byte("0123456789abcdef"), n/16)
	st, err := sess.Open(tunnel.Target{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "echo"}, Network: "tcp", Port: 7})
	if err != nil {
		t.Fatal(err)
	}
	st.SetDeadline(time.Now().Add(15 * time.Second))
	// The first bytes and their echo: the stream is open while it relays.
	first := make([]byte, 16)
	if _, err := st.Write(payload[:16]); err != nil {
		t.Fatal(err)
	}
	if _, err := io.ReadFull(st, first); err != nil {
		t.Fatal(err)
	}
	open, _ := sample(scrapeURL(t, base+"/metrics"), "fwd_gateway_streams_open", "transport", "tls")
	go func() {
		st.Write(payload[16:])
		st.CloseWrite()
	}()
	rest, err := io.ReadAll(st)
	if back := append(first, rest...); err != nil || !bytes.Equal(back, payload) {
		t.Fatalf("echo gave %d bytes (%v), want the %d sent", len(back), err, n)
	}
	st.Close()

	// A target that refuses.
	down, err := sess.Open(tunnel.Target{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "down"}, Network: "tcp", Port: 80})
	if err != nil {
		t.Fatal(err)
	}
	down.SetDeadline(time.Now().Add(10 * time.Second))
	var se *tunnel.StreamError
	if err := down.Status(); !errors.As(err, &se) || se.Status != tunnel.StatusDialFailed {
		t.Fatalf("stream to a refusing target: %v, want a dial failure", err)
	}
	down.Close()

	// Stock ssh -L: bytes through a channel, then a key no user has.
	const sshN = 64 << 10
	if err := sshEcho(sshLn.Addr().String(), hostKey.PublicKey(), alice, payload[:sshN]); err != nil {
		t.Fatalf("ssh through the gateway: %v", err)
	}
	if err := sshEcho(sshLn.Addr().String(), hostKey.PublicKey(), newSigner(t), nil); err == nil {
		t.Fatal("an unknown SSH key logged in")
	}

	// Refused tokens, until the source is made to wait: failed logins are
	// free five times (tunnel/ratelimit.go), counting the SSH one.
	for i := range 5 {
		_, err := tunnel.Dial(ctx, ln.Addr().String(), &tunnel.ClientConfig{Token: "fwd_wrong", Trust: trust})
		if err == nil {
			t.Fatal("a wrong token logged in")
		}
		if i == 4 && !errors.Is(err, tunnel.ErrThrottled) {
			t.Errorf("sixth failed login: %v, want to be made to wait", err)
		}
	}

	fams := scrapeURL(t, base+"/metrics")
	for _, c := range []struct {
		name   string
		labels []string
		min    float64
	}{
		{"fwd_gateway_sessions_started_total", []string{"transport", "tls"}, 1},
		{"fwd_gateway_sessions_open", []string{"transport", "tls"}, 1},
		{"fwd_gateway_streams_opened_total", []string{"transport", "tls"}, 1},
		{"fwd_gateway_bytes_total", []string{"transport", "tls", "direction", "to_target"}, n},
		{"fwd_gateway_bytes_total", []string{"transport", "tls", "direction", "from_target"}, n},
		{"fwd_gateway_login_failures_total", []string{"transport", "tls", "reason", tunnel.LoginTokenRefused}, 1},
		{"fwd_gateway_dial_errors_total", []string{"project", "shop", "name", "down", "port", "80", "target", refusing}, 1},
		{"fwd_gateway_login_failures_total", []string{"transport", "tls", "reason", tunnel.LoginRateLimited}, 1},
		{"fwd_gateway_login_failures_total", []string{"transport", "ssh", "reason", tunnel.LoginSSHKeyRefused}, 1},
		{"fwd_gateway_sessions_started_total", []string{"transport", "ssh"}, 1},
		{"fwd_gateway_streams_opened_total", []string{"transport", "ssh"}, 1},
		{"fwd_gateway_bytes_total", []string{"transport", "ssh", "direction", "to_target"}, sshN},
		{"fwd_gateway_bytes_total", []string{"transport", "ssh", "direction", "from_target"}, sshN},
		{"fwd_gateway_ready", nil, 1},
	} {
		v, ok := sample(fams, c.name, c.labels...)
		if !ok || v < c.min {
			t.Errorf("%s%v = %v (found %v), want at least %v", c.name, c.labels, v, ok, c.min)
		}
	}
	if open < 1 {
		t.Errorf("fwd_gateway_streams_open was %v while a stream relayed", open)
	}
	for _, name := range []string{"go_goroutines", "process_open_fds"} {
		if _, ok := fams[name]; !ok {
			t.Errorf("no %s", name)
		}
	}

	// Draining: not ready, and sessions end.
	m.SetReady(false)
	shutdown, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShutdown()
	gw.Shutdown(shutdown)
	for range 2 {
		if err := <-served; !errors.Is(err, tunnel.ErrGatewayClosed) {
			t.Errorf("Serve: %v", err)
		}
	}
	if status(t, base+"/readyz") != 503 {
		t.Error("/readyz is 200 while draining")
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		v, _ := sample(scrapeURL(t, base+"/metrics"), "fwd_gateway_sessions_open", "transport", "tls")
		streams, _ := sample(scrapeURL(t, base+"/metrics"), "fwd_gateway_streams_open", "transport", "tls")
		if v == 0 && streams == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after Shutdown: %v sessions and %v streams still open", v, streams)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// sshEcho logs in to the SSH listener as alice with key and sends msg
// through a direct-tcpip channel to echo.shop:7, which echoes it.
func sshEcho(addr string, hostKey ssh.PublicKey, key ssh.Signer, msg []byte) error {
	c, err := ssh.Dial("tcp", addr, &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{ssh.PublicKeys(key)},
		HostKeyCallback: ssh.FixedHostKey(hostKey), Timeout: 5 * time.Second})
	if err != nil {
		return err
	}
	defer c.Close()
	ch, err := c.Dial("tcp", "echo.shop:7")
	if err != nil {
		return err
	}
	defer ch.Close()
	go func() {
		ch.Write(msg)
		ch.(interface{ CloseWrite() error }).CloseWrite()
	}()
	back, err := io.ReadAll(ch)
	if err == nil && !bytes.Equal(back, msg) {
		err = errors.New("the echo differs")
	}
	return err
}
