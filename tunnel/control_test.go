package tunnel

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
)

// scriptedGateway is a gateway of the test's own: it welcomes any login,
// then runs then on the control stream, as a newer or misbehaving gateway
// would.
func scriptedGateway(t *testing.T, then func(control *mux.Stream)) (addr, fingerprint string) {
	t.Helper()
	return scriptedGatewayWith(t, nil, func(_ *mux.Session, c *mux.Stream) { then(c) })
}

// scriptedGatewayWith is scriptedGateway whose welcome names features,
// and whose script also has the session, to open streams.
func scriptedGatewayWith(t *testing.T, features []string, then func(ms *mux.Session, control *mux.Stream)) (addr, fingerprint string) {
	t.Helper()
	// The shared test certificate (testdata/README.md); this package's own
	// tests cannot import fwdtest, which imports it.
	cert, err := tls.LoadX509KeyPair("../testdata/certs/gateway.pem", "../testdata/certs/gateway.key")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		raw, err := ln.Accept()
		if err != nil {
			return
		}
		ms := mux.Server(tls.Server(raw, ServerTLSConfig(cert)), muxConfig(0))
		t.Cleanup(func() { ms.Close() })
		control, err := ms.AcceptStream()
		if err != nil {
			return
		}
		if _, err := readControl(bufio.NewReader(control)); err != nil {
			return
		}
		writeControl(control, &controlMsg{Type: msgWelcome, Version: Version, Features: features})
		then(ms, control)
	}()
	return ln.Addr().String(), Fingerprint(cert.Certificate[0])
}

func dialScripted(t *testing.T, addr, fp string) *Session {
	t.Helper()
	s, err := Dial(context.Background(), addr, &ClientConfig{Token: "fwd_x", Trust: Trust{Fingerprint: fp}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// TestClientSkipsUnknownControlMessages: a newer gateway's message types
// are skipped; the session stays up.
func TestClientSkipsUnknownControlMessages(t *testing.T) {
	sent := make(chan struct{})
	addr, fp := scriptedGateway(t, func(c *mux.Stream) {
		writeControl(c, &controlMsg{Type: "catalog_changed_in_version_9", Message: "x"})
		close(sent)
	})
	s := dialScripted(t, addr, fp)
	<-sent
	select {
	case <-s.Done():
		t.Fatalf("session ended on an unknown message type: %v", s.Err())
	case <-time.After(300 * time.Millisecond):
	}
}

// TestControlStreamEndEndsSession: when the gateway closes the control
// stream, the session ends, and says so.
func TestControlStreamEndEndsSession(t *testing.T) {
	addr, fp := scriptedGateway(t, func(c *mux.Stream) { c.Close() })
	s := dialScripted(t, addr, fp)
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session still up after the gateway closed the control stream")
	}
	if err := s.Err(); err == nil || !strings.Contains(err.Error(), "ended the control stream") {
		t.Fatalf("session ended with %v, want the control stream's end", err)
	}
}

// TestControlErrorEndsSession: an error message after the welcome (a token
// removed, say) ends the session with the gateway's words.
func TestControlErrorEndsSession(t *testing.T) {
	addr, fp := scriptedGateway(t, func(c *mux.Stream) {
		writeControl(c, &controlMsg{Type: msgError, Code: codeUnauthorized, Message: "token refused: it was removed"})
	})
	s := dialScripted(t, addr, fp)
	select {
	case <-s.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session still up after the gateway's error message")
	}
	if err := s.Err(); !errors.Is(err, ErrUnauthorized) || !strings.Contains(err.Error(), "it was removed") {
		t.Fatalf("session ended with %v, want the gateway's refusal", err)
	}
}
