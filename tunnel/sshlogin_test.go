package tunnel

import (
	"bufio"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// sshGateway is a real gateway over TLS on loopback whose users log in
// with SSH keys: alice (project shop) by key, and anyone holding a
// certificate of ca for principal "carol" (project shop too).
type sshGateway struct {
	addr, fingerprint string
	gw                *Gateway
	alice, ca         ssh.Signer
}

func newSigner(t *testing.T) ssh.Signer {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func startSSHGateway(t *testing.T, users ...User) *sshGateway {
	t.Helper()
	cert, err := tls.LoadX509KeyPair("../testdata/certs/gateway.pem", "../testdata/certs/gateway.key")
	if err != nil {
		t.Fatal(err)
	}
	g := &sshGateway{alice: newSigner(t), ca: newSigner(t)}
	users = append([]User{
		{Name: "alice", Keys: []ssh.PublicKey{g.alice.PublicKey()}, Projects: []string{"shop"}},
		{Name: "carol", Projects: []string{"shop"}},
	}, users...)
	cfg := &GatewayConfig{
		Users:      users,
		SSHUserCAs: []ssh.PublicKey{g.ca.PublicKey()},
		Catalog: catalog.Catalog{Projects: []catalog.Project{
			{Name: "shop", Services: []catalog.Resource{{Kind: catalog.Service, Project: "shop", Name: "api",
				Ports: []catalog.Port{{Port: 80, Protocol: catalog.TCP, Targets: []string{"127.0.0.1:9"}}}}}},
			{Name: "secret", Services: []catalog.Resource{{Kind: catalog.Service, Project: "secret", Name: "api",
				Ports: []catalog.Port{{Port: 80, Protocol: catalog.TCP, Targets: []string{"127.0.0.1:9"}}}}}},
		}},
	}
	g.gw = &Gateway{Config: cfg, TLS: ServerTLSConfig(cert)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	g.addr, g.fingerprint = ln.Addr().String(), Fingerprint(cert.Certificate[0])
	go g.gw.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		g.gw.Shutdown(ctx)
	})
	return g
}

func (g *sshGateway) login(signers ...ssh.Signer) (*Session, error) {
	return Dial(context.Background(), g.addr, &ClientConfig{SSHSigners: signers, Trust: Trust{Fingerprint: g.fingerprint}})
}

// certificate signs a user certificate of key for principals, valid from
// after to before.
func certificate(t *testing.T, ca, key ssh.Signer, after, before time.Time, principals ...string) ssh.Signer {
	t.Helper()
	c := &ssh.Certificate{Key: key.PublicKey(), CertType: ssh.UserCert, KeyId: "test", ValidPrincipals: principals,
		ValidAfter: uint64(after.Unix()), ValidBefore: uint64(before.Unix()),
		Permissions: ssh.Permissions{Extensions: map[string]string{"permit-port-forwarding": ""}}}
	if err := c.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewCertSigner(c, key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestSSHKeyLogin(t *testing.T) {
	g := startSSHGateway(t)
	s, err := g.login(g.alice)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cat := s.Catalog()
	if got := cat.ProjectNames(); len(got) != 1 || got[0] != "shop" {
		t.Errorf("alice sees %v, want only her project shop", got)
	}
}

// TestSSHLoginPicksTheAuthorizedKey: of several keys offered, the gateway
// challenges the one a user has, as ssh tries one key after another.
func TestSSHLoginPicksTheAuthorizedKey(t *testing.T) {
	g := startSSHGateway(t)
	s, err := g.login(newSigner(t), newSigner(t), g.alice)
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

func TestSSHLoginWithRSAKeySignsSHA256(t *testing.T) {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	key, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	g := startSSHGateway(t, User{Name: "rob", Keys: []ssh.PublicKey{key.PublicKey()}, Projects: []string{"*"}})
	s, err := g.login(key)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cat := s.Catalog()
	if got := cat.ProjectNames(); len(got) != 2 {
		t.Errorf("rob sees %v, want both projects", got)
	}
}

func TestSSHLoginRefusals(t *testing.T) {
	g := startSSHGateway(t)
	now := time.Now()
	stranger := newSigner(t)
	other := newSigner(t)
	cases := []struct {
		name   string
		signer ssh.Signer
		want   string
	}{
		{"key not authorized", stranger, "key not authorized: ssh-ed25519 " + ssh.FingerprintSHA256(stranger.PublicKey())},
		{"certificate expired", certificate(t, g.ca, newSigner(t), now.Add(-2*time.Hour), now.Add(-time.Hour), "carol"), "certificate expired: valid until"},
		{"certificate not yet valid", certificate(t, g.ca, newSigner(t), now.Add(time.Hour), now.Add(2*time.Hour), "carol"), "certificate not yet valid: valid from"},
		{"principal not allowed", certificate(t, g.ca, newSigner(t), now.Add(-time.Minute), now.Add(time.Hour), "mallory"), `principal not allowed: the certificate names "mallory"`},
		{"unknown CA", certificate(t, other, newSigner(t), now.Add(-time.Minute), now.Add(time.Hour), "carol"), "certificate not signed by a CA the gateway trusts: signed by " + ssh.FingerprintSHA256(other.PublicKey())},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s, err := g.login(tc.signer)
			if err == nil {
				s.Close()
				t.Fatal("login accepted")
			}
			if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q: want ErrUnauthorized saying %q", err, tc.want)
			}
			g.gw.logins.succeeded("127.0.0.1") // keep the next case from being throttled
		})
	}
}

func TestSSHCertificateLogin(t *testing.T) {
	g := startSSHGateway(t)
	now := time.Now()
	s, err := g.login(certificate(t, g.ca, newSigner(t), now.Add(-time.Minute), now.Add(time.Hour), "dave", "carol"))
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
}

// TestSSHLoginFailuresAreRateLimited: a refused key counts as a failed
// login, as a wrong token does.
func TestSSHLoginFailuresAreRateLimited(t *testing.T) {
	g := startSSHGateway(t)
	stranger := newSigner(t)
	var err error
	for range 8 {
		var s *Session
		if s, err = g.login(stranger); err == nil {
			s.Close()
			t.Fatal("login accepted")
		}
		if errors.Is(err, ErrThrottled) {
			break
		}
	}
	if !errors.Is(err, ErrThrottled) {
		t.Fatalf("after 8 refused keys: %v, want ErrThrottled", err)
	}
	if _, err := g.login(g.alice); !errors.Is(err, ErrThrottled) {
		t.Errorf("a good key while throttled: %v, want ErrThrottled (keys are not checked while the source waits)", err)
	}
}

// rawLogin runs an SSH-key login by hand on a new TLS session, and hands
// the challenge and the session's own binding to sign; what sign returns
// is sent as the signature. It returns the gateway's last reply.
func rawLogin(t *testing.T, g *sshGateway, key ssh.Signer, sign func(nonce, binding []byte) []byte) *controlMsg {
	t.Helper()
	raw, err := net.Dial("tcp", g.addr)
	if err != nil {
		t.Fatal(err)
	}
	tlsConf, err := Trust{Fingerprint: g.fingerprint}.clientTLSConfig("127.0.0.1")
	if err != nil {
		t.Fatal(err)
	}
	conn := tls.Client(raw, tlsConf)
	t.Cleanup(func() { conn.Close() })
	if err := conn.Handshake(); err != nil {
		t.Fatal(err)
	}
	cs := conn.ConnectionState()
	binding, err := sessionBinding(cs, cs.PeerCertificates[0].Raw)
	if err != nil {
		t.Fatal(err)
	}
	ms := mux.Client(conn, muxConfig(0))
	t.Cleanup(func() { ms.Close() })
	control, err := ms.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	control.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(control)
	if err := writeControl(control, &controlMsg{Type: msgHello, Version: Version, SSHKeys: []string{wireKey(key.PublicKey())}}); err != nil {
		t.Fatal(err)
	}
	challenge, err := readControl(br)
	if err != nil || challenge.Type != msgChallenge {
		t.Fatalf("challenge: %+v, %v", challenge, err)
	}
	if err := writeControl(control, &controlMsg{Type: msgSSHSignature, Signature: sign(challenge.Nonce, binding)}); err != nil {
		t.Fatal(err)
	}
	reply, err := readControl(br)
	if err != nil {
		t.Fatal(err)
	}
	return reply
}

// TestSSHLoginSignatureCannotBeReplayed: a signature is good for the one
// challenge on the one TLS session it was made for. One made on another
// session, for its challenge (replayed), or for this challenge but bound
// to another session (relayed by a man in the middle who holds a TLS
// session of his own), is refused.
func TestSSHLoginSignatureCannotBeReplayed(t *testing.T) {
	g := startSSHGateway(t)
	sign := func(nonce, binding []byte) []byte {
		sig, err := signLogin(g.alice, signedData(nonce, binding))
		if err != nil {
			t.Fatal(err)
		}
		return ssh.Marshal(sig)
	}
	var captured []byte
	var firstBinding []byte
	reply := rawLogin(t, g, g.alice, func(nonce, binding []byte) []byte {
		captured, firstBinding = sign(nonce, binding), binding
		return captured
	})
	if reply.Type != msgWelcome {
		t.Fatalf("the honest login was refused: %+v", reply)
	}
	reply = rawLogin(t, g, g.alice, func(_, _ []byte) []byte { return captured })
	if reply.Type != msgError || reply.Code != codeSSHRefused || !strings.Contains(reply.Message, "it was not made for this session") {
		t.Errorf("replayed signature: %+v, want refused", reply)
	}
	reply = rawLogin(t, g, g.alice, func(nonce, _ []byte) []byte { return sign(nonce, firstBinding) })
	if reply.Type != msgError || reply.Code != codeSSHRefused {
		t.Errorf("this challenge signed for another TLS session: %+v, want refused", reply)
	}
	otherCert := append([]byte{}, firstBinding...)
	otherCert[len(otherCert)-1] ^= 1
	reply = rawLogin(t, g, g.alice, func(nonce, binding []byte) []byte {
		return sign(nonce, append(binding[:32:32], otherCert[32:]...))
	})
	if reply.Type != msgError || reply.Code != codeSSHRefused {
		t.Errorf("signed for another gateway's certificate: %+v, want refused", reply)
	}
}

// TestSSHLoginToOlderGateway: a gateway of the previous version reads a
// hello without a token as a wrong token. The client says what that means.
func TestSSHLoginToOlderGateway(t *testing.T) {
	cert, err := tls.LoadX509KeyPair("../testdata/certs/gateway.pem", "../testdata/certs/gateway.key")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		ms := mux.Server(tls.Server(raw, ServerTLSConfig(cert)), muxConfig(0))
		defer ms.Close()
		control, err := ms.AcceptStream()
		if err != nil {
			return
		}
		if _, err := readControl(bufio.NewReader(control)); err != nil {
			return
		}
		// What version 1 gateways before SSH login answer to it.
		writeControl(control, &controlMsg{Type: msgError, Code: codeUnauthorized, Message: "the gateway does not know this token; check --token or FWD_TOKEN"})
		time.Sleep(100 * time.Millisecond)
	}()
	_, err = Dial(context.Background(), ln.Addr().String(), &ClientConfig{SSHSigners: []ssh.Signer{newSigner(t)}, Trust: Trust{Fingerprint: Fingerprint(cert.Certificate[0])}})
	if !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "older fwd gateway") {
		t.Errorf("error %v: want ErrUnauthorized naming an older gateway", err)
	}
}

// BenchmarkLogin measures a whole login on loopback (TCP, TLS 1.3, the
// control stream and the welcome) with a token and with SSH keys, whose
// challenge costs a round trip and a signature more:
//
//	go test -run '^$' -bench BenchmarkLogin ./tunnel/
func BenchmarkLogin(b *testing.B) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 3072)
	if err != nil {
		b.Fatal(err)
	}
	rsaSigner, err := ssh.NewSignerFromKey(rsaKey)
	if err != nil {
		b.Fatal(err)
	}
	_, edKey, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		b.Fatal(err)
	}
	edSigner, err := ssh.NewSignerFromKey(edKey)
	if err != nil {
		b.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair("../testdata/certs/gateway.pem", "../testdata/certs/gateway.key")
	if err != nil {
		b.Fatal(err)
	}
	cfg := &GatewayConfig{
		Tokens: []Token{{Name: "t", SHA256: sha256.Sum256([]byte("fwd_bench")), Projects: []string{"*"}}},
		Users: []User{{Name: "ed", Keys: []ssh.PublicKey{edSigner.PublicKey()}, Projects: []string{"*"}},
			{Name: "rsa", Keys: []ssh.PublicKey{rsaSigner.PublicKey()}, Projects: []string{"*"}}},
	}
	gw := &Gateway{Config: cfg, TLS: ServerTLSConfig(cert)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	go gw.Serve(ln)
	defer gw.Shutdown(context.Background())
	trust := Trust{Fingerprint: Fingerprint(cert.Certificate[0])}
	for _, bc := range []struct {
		name string
		cfg  ClientConfig
	}{
		{"token", ClientConfig{Token: "fwd_bench", Trust: trust}},
		{"ssh-ed25519", ClientConfig{SSHSigners: []ssh.Signer{edSigner}, Trust: trust}},
		{"rsa-3072", ClientConfig{SSHSigners: []ssh.Signer{rsaSigner}, Trust: trust}},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for range b.N {
				s, err := Dial(context.Background(), ln.Addr().String(), &bc.cfg)
				if err != nil {
					b.Fatal(err)
				}
				s.Close()
			}
		})
	}
}
