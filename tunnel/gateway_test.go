package tunnel_test

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

const testToken = "fwd_test_token"

// gatewayFixture is a gateway over real TLS on loopback whose dials are
// recorded, serving project shop (service api, tcp 80, to an echo server)
// and project secret, which the test token may not see.
type gatewayFixture struct {
	addr, fingerprint, echo string
	gw                      *tunnel.Gateway
	mu                      sync.Mutex
	dialed                  []string
}

func newGateway(t *testing.T, limits tunnel.Limits) *gatewayFixture {
	t.Helper()
	f := &gatewayFixture{echo: echoServer(t)}
	cfg := &tunnel.GatewayConfig{
		Tokens: []tunnel.Token{{Name: "t", SHA256: sha256.Sum256([]byte(testToken)), Projects: []string{"shop"}}},
		Catalog: catalog.Catalog{Projects: []catalog.Project{
			{Name: "shop", Services: []catalog.Resource{{Kind: catalog.Service, Project: "shop", Name: "api",
				Ports: []catalog.Port{{Name: "http", Port: 80, Protocol: catalog.TCP, Targets: []string{f.echo}}}}}},
			{Name: "secret", Services: []catalog.Resource{{Kind: catalog.Service, Project: "secret", Name: "api",
				Ports: []catalog.Port{{Name: "http", Port: 80, Protocol: catalog.TCP, Targets: []string{f.echo}}}}}},
		}},
		Limits: limits,
	}
	cert, err := fwdtest.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	f.fingerprint = tunnel.Fingerprint(cert.Certificate[0])
	f.gw = &tunnel.Gateway{Config: cfg, TLS: tunnel.ServerTLSConfig(cert),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			f.mu.Lock()
			f.dialed = append(f.dialed, addr)
			f.mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	go f.gw.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		f.gw.Shutdown(ctx)
	})
	return f
}

func (f *gatewayFixture) dial(t *testing.T, token string) (*tunnel.Session, error) {
	t.Helper()
	return tunnel.Dial(context.Background(), f.addr, &tunnel.ClientConfig{Token: token, Trust: tunnel.Trust{Fingerprint: f.fingerprint}})
}

func echoServer(t *testing.T) string {
	srv, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr
}

func TestGatewayDialsOnlyCatalogTargets(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	s, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cat := s.Catalog()
	if names := cat.ProjectNames(); len(names) != 1 || names[0] != "shop" {
		t.Fatalf("token scoped to shop sees %v", names)
	}
	api := catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}
	refused := []tunnel.Target{
		{ID: catalog.ID{Project: "secret", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 80}, // out of scope
		{ID: catalog.ID{Project: "nope", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 80},
		{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "web"}, Network: "tcp", Port: 80},
		{ID: catalog.ID{Project: "shop", Kind: catalog.Addon, Name: "api"}, Network: "tcp", Port: 80},
		{ID: api, Network: "tcp", Port: 81},
		{ID: api, Network: "udp", Port: 80},
	}
	for _, tg := range refused {
		st, err := s.Open(tg)
		if err != nil {
			t.Fatal(err)
		}
		var se *tunnel.StreamError
		if err := st.Status(); !errors.As(err, &se) || se.Status != tunnel.StatusNotFound {
			t.Errorf("%v: status %v, want not found", tg, err)
		}
		st.Close()
	}
	// The out-of-scope project reads exactly like a missing one.
	st, _ := s.Open(refused[0])
	msgSecret := st.Status().Error()
	st2, _ := s.Open(refused[1])
	msgMissing := st2.Status().Error()
	if strings.Replace(msgSecret, "secret", "nope", 1) != msgMissing {
		t.Errorf("scope leaks: %q vs %q", msgSecret, msgMissing)
	}
	ok, _ := s.Open(tunnel.Target{ID: api, Network: "tcp", Port: 80})
	ok.Write([]byte("hi"))
	buf := make([]byte, 2)
	if _, err := io.ReadFull(ok, buf); err != nil || string(buf) != "hi" {
		t.Fatalf("catalog target: %q, %v", buf, err)
	}
	ok.Close()
	f.mu.Lock()
	defer f.mu.Unlock()
	for _, a := range f.dialed {
		if a != f.echo {
			t.Errorf("gateway dialed %s, which is not in its catalog", a)
		}
	}
	if len(f.dialed) != 1 {
		t.Errorf("gateway dialed %d times, want once: %v", len(f.dialed), f.dialed)
	}
}

func TestLoginFailuresAreRateLimited(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	for i := range 5 {
		if _, err := f.dial(t, "fwd_wrong"); !errors.Is(err, tunnel.ErrUnauthorized) {
			t.Fatalf("attempt %d: %v, want ErrUnauthorized", i+1, err)
		}
	}
	// Past the free budget the source must wait, even with the right token,
	// and is told so after TLS, with the seconds to wait.
	_, err := f.dial(t, testToken)
	var le *tunnel.LoginError
	if !errors.Is(err, tunnel.ErrThrottled) || !errors.As(err, &le) || le.RetryAfter <= 0 {
		t.Fatalf("sixth attempt at once: %v, want ErrThrottled with a wait", err)
	}
	if !strings.Contains(err.Error(), "try again in") {
		t.Fatalf("throttled login says %q, want how long to wait", err)
	}
}

// TestConcurrentWrongTokensCharged: 300 wrong tokens at once from one
// source. Each attempt is charged before its token is checked, so only
// the free budget's worth are checked at all; the rest are told to wait.
func TestConcurrentWrongTokensCharged(t *testing.T) {
	limits := tunnel.DefaultLimits()
	limits.MaxHandshakesPerSource = 300
	f := newGateway(t, limits)
	var checked, throttled, other atomic.Int32
	var wg sync.WaitGroup
	start := time.Now()
	for range 300 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := f.dial(t, "fwd_wrong")
			switch {
			case errors.Is(err, tunnel.ErrUnauthorized):
				checked.Add(1)
			case errors.Is(err, tunnel.ErrThrottled):
				throttled.Add(1)
			default:
				other.Add(1)
				t.Logf("unexpected: %v", err)
			}
		}()
	}
	wg.Wait()
	t.Logf("300 concurrent wrong tokens: %d checked, %d told to wait, %d other", checked.Load(), throttled.Load(), other.Load())
	// The free budget of 5, plus one attempt per penalty that ran out while
	// the burst lasted (the first penalty is 1 s, then 2 s, ...): on a
	// slow machine, or under -race, 300 logins take over a second.
	allowed := 5
	for p, d := time.Second, time.Since(start); d > p; p *= 2 {
		allowed++
		d -= p
	}
	if n := checked.Load(); int(n) > allowed {
		t.Fatalf("%d of 300 concurrent wrong tokens were checked, want at most %d (the free budget of 5, and one per penalty run out)", n, allowed)
	}
	if other.Load() > 0 {
		t.Fatalf("%d attempts failed otherwise", other.Load())
	}
}

func TestStreamAndSessionLimits(t *testing.T) {
	limits := tunnel.DefaultLimits()
	limits.MaxStreamsPerSession = 2
	limits.MaxSessions = 1
	f := newGateway(t, limits)
	s, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	open := openAPIStreams(t, s, 2)
	third, _ := s.Open(apiTarget)
	var se *tunnel.StreamError
	if err := third.Status(); !errors.As(err, &se) || se.Status != tunnel.StatusLimit {
		t.Fatalf("third stream: %v, want limit", err)
	}
	if _, err := f.dial(t, testToken); !errors.Is(err, tunnel.ErrRefused) || !strings.Contains(err.Error(), "limit") {
		t.Fatalf("second session: %v, want refused for the session limit", err)
	}
	for _, st := range open {
		st.Close()
	}
}

func TestOldTLSRefused(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	conn, err := tls.Dial("tcp", f.addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err == nil {
		conn.Close()
		t.Fatal("gateway accepted TLS 1.2")
	}
}

// namedServer answers every connection with its name and closes.
func namedServer(t *testing.T, name string) string {
	srv, err := fwdtest.Serve(func(c *net.TCPConn) { io.WriteString(c, name) })
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	return srv.Addr
}

func TestTargetsRoundRobinWithFailover(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	// Bound but not listening: refused, and no other test's Listen can
	// take the port meanwhile.
	down := boundNotListening(t)
	svc := &f.gw.Config.Catalog.Projects[0].Services[0]
	svc.Ports = append(svc.Ports, catalog.Port{Name: "rr", Port: 90, Protocol: catalog.TCP,
		Targets: []string{namedServer(t, "a"), down, namedServer(t, "b")}})
	s, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	counts := map[string]int{}
	for range 9 {
		st, err := s.Open(tunnel.Target{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 90})
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(st)
		if err != nil {
			t.Fatalf("stream %d: %v (a dead target must be skipped)", len(counts), err)
		}
		counts[string(b)]++
		st.Close()
	}
	// Three turns each: a, the dead one (which falls through to b), b.
	if counts["a"] != 3 || counts["b"] != 6 {
		t.Fatalf("answers %v, want a:3 b:6 (round-robin, failing over past the dead target)", counts)
	}
}

// TestStreamSlotFreedByClientFIN: a stream the client has finished sending
// on no longer counts against the session's stream limit, while a stream
// it holds open does.
func TestStreamSlotFreedByClientFIN(t *testing.T) {
	limits := tunnel.DefaultLimits()
	limits.MaxStreamsPerSession = 2
	f := newGateway(t, limits)
	s, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	open := openAPIStreams(t, s, 2)
	if err := open[0].CloseWrite(); err != nil {
		t.Fatal(err)
	}
	third, _ := s.Open(apiTarget)
	if err := third.Status(); err != nil {
		t.Fatalf("stream after another was half-closed: %v, want OK", err)
	}
	fourth, _ := s.Open(apiTarget)
	var se *tunnel.StreamError
	if err := fourth.Status(); !errors.As(err, &se) || se.Status != tunnel.StatusLimit {
		t.Fatalf("fourth stream with two open: %v, want limit", err)
	}
}

// openAPIStreams opens n streams to apiTarget, each answered OK.
func openAPIStreams(t *testing.T, s *tunnel.Session, n int) []*tunnel.Stream {
	t.Helper()
	var open []*tunnel.Stream
	for range n {
		st, err := s.Open(apiTarget)
		if err != nil {
			t.Fatal(err)
		}
		if err := st.Status(); err != nil {
			t.Fatal(err)
		}
		open = append(open, st)
	}
	return open
}
