package tunnel

import (
	"bufio"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// sshListener is a gateway serving SSH on loopback (ServeSSH), with real
// targets: alice (key) and carol (certificates of ca) may use project
// shop, whose api and db echo; project other's db is outside their scope
// and counts the connections it accepts, which must stay none.
type sshListener struct {
	gw        *Gateway
	addr      string
	hostKey   ssh.Signer
	alice, ca ssh.Signer
	logs      *lockedBuffer
	secret    string       // other's db target
	accepted  atomic.Int64 // connections the secret target accepted
	mu        sync.Mutex
	dialled   []string // every address the gateway dialled
	served    chan error
}

// lockedBuffer is a log the gateway writes while the test reads it.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// echoTarget is a TCP echo server that half-closes after the client does.
func echoTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
				c.(*net.TCPConn).CloseWrite()
			}()
		}
	}()
	return ln.Addr().String()
}

// holdTarget accepts connections and holds them open, never reading nor
// closing, until the test ends: a target that does not end a connection
// when its client goes.
func holdTarget(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var (
		mu    sync.Mutex
		conns []net.Conn
	)
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	return ln.Addr().String()
}

func startSSHListener(t *testing.T, limits Limits) *sshListener {
	t.Helper()
	f := &sshListener{hostKey: newSigner(t), alice: newSigner(t), ca: newSigner(t), logs: &lockedBuffer{}, served: make(chan error, 1)}
	secret, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { secret.Close() })
	go func() {
		for {
			c, err := secret.Accept()
			if err != nil {
				return
			}
			f.accepted.Add(1)
			c.Close()
		}
	}()
	f.secret = secret.Addr().String()
	echo, hold := echoTarget(t), holdTarget(t)
	tcp := func(port uint16, target string) catalog.Port {
		return catalog.Port{Port: port, Protocol: catalog.TCP, Targets: []string{target}}
	}
	cfg := &GatewayConfig{
		Users: []User{
			{Name: "alice", Keys: []ssh.PublicKey{f.alice.PublicKey()}, Projects: []string{"shop"}},
			{Name: "carol", Projects: []string{"shop"}},
			{Name: "dave", Projects: []string{"other"}},
		},
		SSHUserCAs: []ssh.PublicKey{f.ca.PublicKey()},
		Catalog: catalog.Catalog{Projects: []catalog.Project{
			{Name: "shop",
				Services: []catalog.Resource{{Kind: catalog.Service, Project: "shop", Name: "api", Hostnames: []string{"api.shop.internal"},
					Ports: []catalog.Port{tcp(8080, echo), {Port: 53, Protocol: catalog.UDP, Targets: []string{"127.0.0.1:53"}}}},
					{Kind: catalog.Service, Project: "shop", Name: "hold", Ports: []catalog.Port{tcp(9, hold)}}},
				Addons: []catalog.Resource{{Kind: catalog.Addon, Project: "shop", Name: "db", Ports: []catalog.Port{tcp(5432, echo)}}}},
			{Name: "other",
				Addons: []catalog.Resource{{Kind: catalog.Addon, Project: "other", Name: "db", Hostnames: []string{"db.other.internal"},
					Ports: []catalog.Port{tcp(5432, f.secret)}}}},
		}},
		Limits: limits,
	}
	f.gw = &Gateway{Config: cfg, Logger: slog.New(slog.NewTextHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		Dial: func(ctx context.Context, network, addr string) (net.Conn, error) {
			f.mu.Lock()
			f.dialled = append(f.dialled, addr)
			f.mu.Unlock()
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	f.addr = ln.Addr().String()
	go func() { f.served <- f.gw.ServeSSH(ln, f.hostKey) }()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		f.gw.Shutdown(ctx)
		if t.Failed() {
			t.Logf("gateway log:\n%s", f.logs.String())
		}
	})
	return f
}

// dial logs in as user with signer; banner gets what the gateway's
// banners say.
func (f *sshListener) dial(user string, signer ssh.Signer, banner *strings.Builder) (*ssh.Client, error) {
	conf := &ssh.ClientConfig{
		User:            user,
		Auth:            []ssh.AuthMethod{ssh.PublicKeys(signer)},
		HostKeyCallback: ssh.FixedHostKey(f.hostKey.PublicKey()),
		Timeout:         5 * time.Second,
	}
	if banner != nil {
		conf.BannerCallback = func(msg string) error { banner.WriteString(msg); return nil }
	}
	return ssh.Dial("tcp", f.addr, conf)
}

func (f *sshListener) login(t *testing.T, user string, signer ssh.Signer) *ssh.Client {
	t.Helper()
	c, err := f.dial(user, signer, nil)
	if err != nil {
		t.Fatalf("ssh login as %s: %v", user, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// waitLog waits for the gateway to log a line holding s: it logs a
// failed login after the client has heard of it.
func (f *sshListener) waitLog(t *testing.T, s string) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !strings.Contains(f.logs.String(), s); {
		if time.Now().After(deadline) {
			t.Fatalf("gateway log does not say %q:\n%s", s, f.logs.String())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func (f *sshListener) dials() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.dialled...)
}

// echoThrough sends msg over a direct-tcpip channel to dest, half-closes
// and expects exactly msg back, then the target's end.
func echoThrough(t *testing.T, c *ssh.Client, dest, msg string) {
	t.Helper()
	conn, err := c.Dial("tcp", dest)
	if err != nil {
		t.Fatalf("ssh -L to %s: %v", dest, err)
	}
	defer conn.Close()
	if _, err := io.WriteString(conn, msg); err != nil {
		t.Fatal(err)
	}
	if err := conn.(interface{ CloseWrite() error }).CloseWrite(); err != nil {
		t.Fatal(err)
	}
	got, err := readAllWithin(conn, 5*time.Second)
	if err != nil || got != msg {
		t.Fatalf("echo through %s: %q, %v; want %q", dest, got, err, msg)
	}
}

func readAllWithin(r io.Reader, d time.Duration) (string, error) {
	type result struct {
		b   []byte
		err error
	}
	done := make(chan result, 1)
	go func() {
		b, err := io.ReadAll(r)
		done <- result{b, err}
	}()
	select {
	case res := <-done:
		return string(res.b), res.err
	case <-time.After(d):
		return "", errors.New("timed out")
	}
}

// wantRefused opens a direct-tcpip channel to dest and expects the
// gateway to refuse it for reason, saying msg.
func wantRefused(t *testing.T, c *ssh.Client, dest string, reason ssh.RejectionReason, msg string) {
	t.Helper()
	conn, err := c.Dial("tcp", dest)
	if err == nil {
		conn.Close()
		t.Fatalf("channel to %s opened, want it refused with %q", dest, msg)
	}
	var oe *ssh.OpenChannelError
	if !errors.As(err, &oe) || oe.Reason != reason || oe.Message != msg {
		t.Errorf("channel to %s: %v; want %v %q", dest, err, reason, msg)
	}
}

func TestSSHGatewayForwards(t *testing.T) {
	f := startSSHListener(t, DefaultLimits())
	c := f.login(t, "alice", f.alice)
	echoThrough(t, c, "api.shop:8080", "GET / HTTP/1.0\r\n\r\n")
	echoThrough(t, c, "db.shop:5432", "addon")
	echoThrough(t, c, "API.Shop.:8080", "any case, a final dot")
	echoThrough(t, c, "api.shop.internal:8080", "a catalog hostname")
	// Several at once, on one connection.
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			echoThrough(t, c, "api.shop:8080", strings.Repeat("x", 1<<20))
		}()
	}
	wg.Wait()
	logs := f.logs.String()
	if !strings.Contains(logs, `msg="ssh session started"`) || !strings.Contains(logs, "user=alice auth=ssh-key") {
		t.Errorf("no ssh session started line for alice:\n%s", logs)
	}
	// Keepalives (ServerAliveInterval) are answered, and the connection
	// lives on.
	if _, _, err := c.SendRequest("keepalive@openssh.com", true, nil); err != nil {
		t.Errorf("keepalive: %v", err)
	}
	echoThrough(t, c, "api.shop:8080", "still there")
}

// TestSSHGatewayRefusesOutsideTheCatalog: a destination that is not one
// of the login's catalog ports is refused as administratively prohibited,
// with a reason, and never dialled; out of scope reads as nonexistent.
func TestSSHGatewayRefusesOutsideTheCatalog(t *testing.T) {
	f := startSSHListener(t, DefaultLimits())
	c := f.login(t, "alice", f.alice)
	for _, tc := range []struct{ dest, msg string }{
		{"db.other:5432", "db.other:5432: no such service or addon in your projects"},
		{"db.other.internal:5432", "db.other.internal:5432: no such service or addon in your projects"},
		{"nope.shop:5432", "nope.shop:5432: no such service or addon in your projects"},
		{"db.nowhere:5432", "db.nowhere:5432: no such service or addon in your projects"},
		{"api.shop:9999", "api.shop:9999: api has no TCP port 9999 (its TCP ports: 8080)"},
		{"api.shop:53", "api.shop:53: api's port 53 is UDP, which SSH cannot forward: forward it with fwd"},
		{"10.0.0.5:22", "10.0.0.5:22: not a catalog service or addon: use <name>.<project>:<port>"},
		{f.secret, f.secret + ": not a catalog service or addon: use <name>.<project>:<port>"},
		{"localhost:5432", "localhost:5432: not a catalog service or addon: use <name>.<project>:<port>"},
		{"[::1]:5432", "[::1]:5432: not a catalog service or addon: use <name>.<project>:<port>"},
	} {
		wantRefused(t, c, tc.dest, ssh.Prohibited, tc.msg)
	}
	// A port no TCP port can have.
	_, _, err := c.OpenChannel("direct-tcpip", ssh.Marshal(&directTCPIP{Host: "api.shop", Port: 1 << 20, OriginHost: "127.0.0.1", OriginPort: 1}))
	var oe *ssh.OpenChannelError
	if !errors.As(err, &oe) || oe.Reason != ssh.Prohibited || oe.Message != "api.shop:1048576: api has no TCP port 1048576" {
		t.Errorf("port 1048576: %v", err)
	}
	if d := f.dials(); len(d) != 0 {
		t.Errorf("the gateway dialled %v for refused channels", d)
	}
	if n := f.accepted.Load(); n != 0 {
		t.Errorf("the out-of-scope target accepted %d connections", n)
	}
	// dave, whose project other is, reaches it: the refusal above was the
	// scope's.
	now := time.Now()
	dave := f.login(t, "dave", certificate(t, f.ca, newSigner(t), now.Add(-time.Minute), now.Add(time.Hour), "dave"))
	conn, err := dave.Dial("tcp", "db.other:5432")
	if err != nil {
		t.Fatalf("dave to db.other: %v", err)
	}
	conn.Close()
	if !strings.Contains(f.logs.String(), `msg="ssh channel refused"`) {
		t.Errorf("no ssh channel refused line:\n%s", f.logs.String())
	}
}

// TestSSHGatewayIsNoShellNorProxy: sessions (shell, exec, subsystem),
// Unix sockets, other channel types and remote forwarding are refused.
func TestSSHGatewayIsNoShellNorProxy(t *testing.T) {
	f := startSSHListener(t, DefaultLimits())
	c := f.login(t, "alice", f.alice)
	if s, err := c.NewSession(); err == nil {
		s.Close()
		t.Error("session channel opened")
	} else if oe := new(ssh.OpenChannelError); !errors.As(err, &oe) || oe.Reason != ssh.Prohibited || !strings.Contains(oe.Message, "no shell, command or subsystem") {
		t.Errorf("session: %v", err)
	}
	for _, typ := range []string{"direct-streamlocal@openssh.com", "x11", "auth-agent@openssh.com", "forwarded-tcpip"} {
		_, _, err := c.OpenChannel(typ, nil)
		var oe *ssh.OpenChannelError
		if !errors.As(err, &oe) || oe.Reason != ssh.Prohibited {
			t.Errorf("%s channel: %v, want administratively prohibited", typ, err)
		}
	}
	// ssh -R 8022:...: the request, and its cancellation.
	forward := ssh.Marshal(&struct {
		Addr string
		Port uint32
	}{"127.0.0.1", 8022})
	for _, req := range []string{"tcpip-forward", "cancel-tcpip-forward", "streamlocal-forward@openssh.com"} {
		if ok, _, err := c.SendRequest(req, true, forward); ok || err != nil {
			t.Errorf("%s: %v, %v; want refused", req, ok, err)
		}
	}
	if ln, err := c.Listen("tcp", "127.0.0.1:0"); err == nil {
		ln.Close()
		t.Error("tcpip-forward (ssh -R) accepted")
	}
	if d := f.dials(); len(d) != 0 {
		t.Errorf("the gateway dialled %v", d)
	}
	echoThrough(t, c, "api.shop:8080", "the connection is still good")
}

func TestSSHGatewayCertificateLogin(t *testing.T) {
	f := startSSHListener(t, DefaultLimits())
	now := time.Now()
	// The user name picks which of the principals logs in.
	both := certificate(t, f.ca, newSigner(t), now.Add(-time.Minute), now.Add(time.Hour), "dave", "carol")
	carol := f.login(t, "carol", both)
	echoThrough(t, carol, "api.shop:8080", "carol's")
	wantRefused(t, carol, "db.other:5432", ssh.Prohibited, "db.other:5432: no such service or addon in your projects")
	dave := f.login(t, "dave", both)
	wantRefused(t, dave, "api.shop:8080", ssh.Prohibited, "api.shop:8080: no such service or addon in your projects")
	if !strings.Contains(f.logs.String(), "user=carol auth=ssh-cert") {
		t.Errorf("no ssh-cert session line for carol:\n%s", f.logs.String())
	}
	// A certificate issued without permit-port-forwarding forwards nothing.
	key := newSigner(t)
	c := &ssh.Certificate{Key: key.PublicKey(), CertType: ssh.UserCert, KeyId: "no-fwd", ValidPrincipals: []string{"carol"},
		ValidAfter: uint64(now.Add(-time.Minute).Unix()), ValidBefore: uint64(now.Add(time.Hour).Unix())}
	if err := c.SignCert(rand.Reader, f.ca); err != nil {
		t.Fatal(err)
	}
	noFwd, err := ssh.NewCertSigner(c, key)
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, f.login(t, "carol", noFwd), "api.shop:8080", ssh.Prohibited,
		"api.shop:8080: your certificate does not permit port forwarding (it was issued without permit-port-forwarding)")
}

// TestSSHGatewayRefusesLogins: the wrong user name for a key or a
// certificate, an unknown key, an expired or foreign certificate.
func TestSSHGatewayRefusesLogins(t *testing.T) {
	f := startSSHListener(t, DefaultLimits())
	now := time.Now()
	carolCert := certificate(t, f.ca, newSigner(t), now.Add(-time.Minute), now.Add(time.Hour), "carol")
	for _, tc := range []struct {
		name, user string
		signer     ssh.Signer
		log        string
	}{
		{"alice's key as carol", "carol", f.alice, `user \"carol\": key not authorized: ssh-ed25519 SHA256:`},
		{"alice's key as a stranger", "mallory", f.alice, `user \"mallory\": key not authorized: ssh-ed25519 SHA256:`},
		{"carol's certificate as alice", "alice", carolCert, `principal not allowed`},
		{"unknown key", "alice", newSigner(t), "key not authorized: ssh-ed25519 SHA256:"},
		{"expired certificate", "carol", certificate(t, f.ca, newSigner(t), now.Add(-2*time.Hour), now.Add(-time.Hour), "carol"), "certificate expired"},
		{"foreign CA", "carol", certificate(t, newSigner(t), newSigner(t), now.Add(-time.Minute), now.Add(time.Hour), "carol"), "not signed by a CA the gateway trusts"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := f.dial(tc.user, tc.signer, nil)
			if err == nil {
				c.Close()
				t.Fatal("login accepted")
			}
			if !strings.Contains(err.Error(), "unable to authenticate") {
				t.Errorf("error %v, want an authentication failure", err)
			}
			f.waitLog(t, tc.log)
			f.gw.logins.succeeded("127.0.0.1") // keep the next case from being throttled
		})
	}
	// No password, no keyboard-interactive, no "none".
	for _, auth := range []ssh.AuthMethod{ssh.Password("secret"), ssh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return []string{"secret"}, nil })} {
		c, err := ssh.Dial("tcp", f.addr, &ssh.ClientConfig{User: "alice", Auth: []ssh.AuthMethod{auth}, HostKeyCallback: ssh.FixedHostKey(f.hostKey.PublicKey()), Timeout: 5 * time.Second})
		if err == nil {
			c.Close()
			t.Error("a login without a key was accepted")
		}
		f.gw.logins.succeeded("127.0.0.1")
	}
	f.waitLog(t, `user \"alice\": no public key offered`)
	if strings.Contains(f.logs.String(), "secret") {
		t.Errorf("the gateway logged a password:\n%s", f.logs.String())
	}
}

// TestSSHGatewayRateLimitsLogins: failed SSH logins count as failed logins
// do over TLS; while the source must wait, even a good key is refused
// unchecked, and a banner says how long to wait.
func TestSSHGatewayRateLimitsLogins(t *testing.T) {
	f := startSSHListener(t, DefaultLimits())
	now := time.Now()
	f.gw.logins.mu.Lock()
	f.gw.logins.now = func() time.Time { return now } // the penalty must not run out mid-test
	f.gw.logins.mu.Unlock()
	stranger := newSigner(t)
	for i := range freeBudget {
		if c, err := f.dial("alice", stranger, nil); err == nil {
			c.Close()
			t.Fatalf("attempt %d: a stranger's key was accepted", i)
		}
	}
	var banner strings.Builder
	c, err := f.dial("alice", f.alice, &banner)
	if err == nil {
		c.Close()
		t.Fatal("alice logged in while her source must wait")
	}
	if want := "too many failed logins from 127.0.0.1: try again in 1s"; !strings.Contains(banner.String(), want) {
		t.Errorf("banner %q, want it to say %q", banner.String(), want)
	}
	// A throttled source gets no further charge, and a success clears it.
	f.gw.logins.mu.Lock()
	f.gw.logins.now = func() time.Time { return now.Add(2 * time.Second) }
	f.gw.logins.mu.Unlock()
	f.login(t, "alice", f.alice)
	if d := f.gw.logins.delay("127.0.0.1"); d != 0 {
		t.Errorf("after a good login the source still waits %v", d)
	}
}

// TestSSHGatewayLimits: SSH connections count in MaxSessions, channels in
// MaxStreamsPerSession.
func TestSSHGatewayLimits(t *testing.T) {
	limits := DefaultLimits()
	limits.MaxSessions = 1
	limits.MaxStreamsPerSession = 1
	f := startSSHListener(t, limits)
	c := f.login(t, "alice", f.alice)
	var banner strings.Builder
	if c2, err := f.dial("alice", f.alice, &banner); err == nil {
		c2.Close()
		t.Error("a second session over MaxSessions 1 was accepted")
	} else if !strings.Contains(banner.String(), "limit of 1 sessions") {
		t.Errorf("second session: %v, banner %q", err, banner.String())
	}
	open, err := c.Dial("tcp", "api.shop:8080")
	if err != nil {
		t.Fatal(err)
	}
	wantRefused(t, c, "api.shop:8080", ssh.ResourceShortage, "api.shop:8080: gateway limit of 1 streams per session reached")
	open.Close()
	// The slot frees once the relay is done; a channel waits a moment for it.
	echoThrough(t, c, "api.shop:8080", "slot back")
}

// TestSSHGatewayHandshakeCap: unfinished SSH handshakes count in the
// handshake caps, as TLS ones do.
func TestSSHGatewayHandshakeCap(t *testing.T) {
	limits := DefaultLimits()
	limits.MaxHandshakesPerSource = 1
	f := startSSHListener(t, limits)
	// A connection that never speaks holds the source's one handshake;
	// the next one is closed before the gateway says a word.
	stall, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer stall.Close()
	if line, err := bufio.NewReader(stall).ReadString('\n'); err != nil || !strings.HasPrefix(line, "SSH-2.0-fwd") {
		t.Fatalf("first connection: %q, %v", line, err)
	}
	next, err := net.Dial("tcp", f.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer next.Close()
	next.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := next.Read(make([]byte, 64)); n != 0 || err == nil {
		t.Errorf("connection over the handshake cap: read %d bytes, %v; want it closed", n, err)
	}
}

// TestSSHGatewayIdleTimeout: a channel without traffic for IdleTimeout is
// closed, although an SSH channel has no deadlines of its own.
func TestSSHGatewayIdleTimeout(t *testing.T) {
	limits := DefaultLimits()
	limits.IdleTimeout = 200 * time.Millisecond
	f := startSSHListener(t, limits)
	c := f.login(t, "alice", f.alice)
	conn, err := c.Dial("tcp", "api.shop:8080")
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// The gateway's idle clock starts when it opened the channel, a moment
	// before Dial returned here: allow for that moment.
	start := time.Now().Add(-20 * time.Millisecond)
	if _, err := readAllWithin(conn, 5*time.Second); err != nil {
		t.Fatalf("idle channel: %v", err)
	}
	if d := time.Since(start); d < limits.IdleTimeout {
		t.Errorf("closed after %v, before the idle timeout", d)
	}
}

// TestSSHGatewayShutdown: Shutdown closes the SSH listener, refuses new
// channels, lets open ones finish, then closes every connection, as it
// does TLS sessions.
func TestSSHGatewayShutdown(t *testing.T) {
	f := startSSHListener(t, DefaultLimits())
	idle := f.login(t, "alice", f.alice)
	busy := f.login(t, "alice", f.alice)
	open, err := busy.Dial("tcp", "api.shop:8080")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- f.gw.Shutdown(context.Background()) }()
	select {
	case err := <-f.served:
		if !errors.Is(err, ErrGatewayClosed) {
			t.Errorf("ServeSSH returned %v, want ErrGatewayClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("ServeSSH still serving after Shutdown")
	}
	if _, err := net.Dial("tcp", f.addr); err == nil {
		t.Error("the SSH listener still accepts")
	}
	wantRefused(t, busy, "api.shop:8080", ssh.ResourceShortage, "api.shop:8080: gateway shutting down")
	if _, err := io.WriteString(open, "finishing"); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, len("finishing"))
	if _, err := io.ReadFull(open, buf); err != nil {
		t.Fatalf("open channel during shutdown: %v", err)
	}
	open.Close()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown still waiting after the last channel closed")
	}
	waitClosed(t, busy)
	waitClosed(t, idle)
}

// TestSSHGatewayShutdownCutsAtGrace: channels still open when Shutdown's
// context ends are cut with their connection, even to a target that
// holds its side open.
func TestSSHGatewayShutdownCutsAtGrace(t *testing.T) {
	f := startSSHListener(t, DefaultLimits())
	c := f.login(t, "alice", f.alice)
	for _, dest := range []string{"api.shop:8080", "hold.shop:9"} {
		open, err := c.Dial("tcp", dest)
		if err != nil {
			t.Fatal(err)
		}
		defer open.Close()
	}
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- f.gw.Shutdown(ctx) }()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Shutdown: %v, want the deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown still waiting 5s after its grace period")
	}
	waitClosed(t, c)
}

func waitClosed(t *testing.T, c *ssh.Client) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("ssh connection still open")
	}
}

// TestSSHGatewaySessionLimitUnderConcurrentLogins: logins that finish at
// once do not all pass MaxSessions: each holds its place from the moment
// its key is verified, before its client hears it is in.
func TestSSHGatewaySessionLimitUnderConcurrentLogins(t *testing.T) {
	limits := DefaultLimits()
	limits.MaxSessions = 2
	f := startSSHListener(t, limits)
	var (
		mu  sync.Mutex
		ins []*ssh.Client
		wg  sync.WaitGroup
	)
	for range 12 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c, err := f.dial("alice", f.alice, nil); err == nil {
				mu.Lock()
				ins = append(ins, c)
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	defer func() {
		for _, c := range ins {
			c.Close()
		}
	}()
	if len(ins) != 2 {
		t.Fatalf("%d of 12 concurrent logins got in under MaxSessions 2", len(ins))
	}
}
