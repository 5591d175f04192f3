package tunnel_test

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

var apiTarget = tunnel.Target{ID: catalog.ID{Project: "shop", Kind: catalog.Service, Name: "api"}, Network: "tcp", Port: 80}

func echoRoundTrip(t *testing.T, st *tunnel.Stream, msg string) {
	t.Helper()
	st.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := st.Write([]byte(msg)); err != nil {
		t.Fatalf("write: %v", err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(st, got); err != nil || string(got) != msg {
		t.Fatalf("echo: %q, %v", got, err)
	}
}

// TestStreamsBeforeLoginRefused: a peer that has not logged in gets every
// stream but the control stream reset, so it cannot make the gateway
// buffer anything.
func TestStreamsBeforeLoginRefused(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	raw, err := tls.Dial("tcp", f.addr, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13, NextProtos: []string{"fwd/1"}})
	if err != nil {
		t.Fatal(err)
	}
	ms := mux.Client(raw, nil)
	defer ms.Close()
	control, _ := ms.OpenStream()
	control.Write([]byte{0}) // a hello that never completes
	for i := range 5 {
		st, err := ms.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		st.Write(make([]byte, 64<<10))
		st.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := st.Read(make([]byte, 1)); !errors.Is(err, mux.ErrReset) {
			t.Fatalf("stream %d before login: %v, want a reset", i, err)
		}
	}
	if ms.IsClosed() {
		t.Fatalf("session ended: %v", ms.Err())
	}
}

// TestGatewayShutdownGoesAway: once Shutdown starts, a client's session
// reports GoingAway and refuses new streams at once, while a stream already
// open keeps working until it ends.
func TestGatewayShutdownGoesAway(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	sess, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	st, err := sess.Open(apiTarget)
	if err != nil {
		t.Fatal(err)
	}
	echoRoundTrip(t, st, "before")
	select {
	case <-sess.GoingAway():
		t.Fatal("GoingAway before shutdown")
	default:
	}
	shut := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		shut <- f.gw.Shutdown(ctx)
	}()
	select {
	case <-sess.GoingAway():
	case <-time.After(5 * time.Second):
		t.Fatal("GoingAway not closed after Shutdown")
	}
	start := time.Now()
	if _, err := sess.Open(apiTarget); err == nil {
		t.Fatal("Open after GoAway succeeded")
	} else if d := time.Since(start); d > time.Second { // at once, not after a 5 s dial
		t.Fatalf("Open took %v to fail", d)
	}
	echoRoundTrip(t, st, "during shutdown")
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned %v with a stream open", err)
	default:
	}
	st.Close()
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Shutdown did not finish once the stream ended")
	}
	select {
	case <-sess.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("session still up")
	}
	if err := sess.Err(); err == nil || !errors.Is(err, mux.ErrSessionClosed) {
		t.Fatalf("Err() = %v", err)
	}
}

// TestShutdownRefusesStreamsWithStatus: a stream that reaches a gateway
// that is shutting down (opened before the client heard the GoAway) is
// refused with StatusLimit.
func TestShutdownRefusesStreamsWithStatus(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	sess, err := f.dial(t, testToken)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	held, _ := sess.Open(apiTarget) // keeps Shutdown waiting
	echoRoundTrip(t, held, "x")
	late, err := sess.Open(apiTarget) // opened, not sent yet
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		f.gw.Shutdown(ctx)
	}()
	<-sess.GoingAway()
	late.SetDeadline(time.Now().Add(5 * time.Second))
	err = late.Status()
	var se *tunnel.StreamError
	if !errors.As(err, &se) || se.Status != tunnel.StatusLimit || !strings.Contains(se.Message, "shutting down") {
		t.Fatalf("stream during shutdown: %v", err)
	}
	held.Close()
}

func TestDialRefusesNonFwdServer(t *testing.T) {
	cert, err := fwdtest.Certificate()
	if err != nil {
		t.Fatal(err)
	}
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { c.(*tls.Conn).Handshake(); io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	_, err = tunnel.Dial(context.Background(), ln.Addr().String(), &tunnel.ClientConfig{
		Token: testToken, Trust: tunnel.Trust{Fingerprint: tunnel.Fingerprint(cert.Certificate[0])}, DialTimeout: 5 * time.Second})
	if !errors.Is(err, tunnel.ErrUnreachable) || !strings.Contains(err.Error(), "not a fwd gateway") {
		t.Fatalf("Dial to a TLS server without fwd/1: %v", err)
	}
}

// failingListener fails its first accepts as a process out of file
// descriptors does.
type failingListener struct {
	net.Listener
	fails atomic.Int32
}

func (l *failingListener) Accept() (net.Conn, error) {
	if l.fails.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestServeBacksOffOnAcceptErrors(t *testing.T) {
	f := newGateway(t, tunnel.DefaultLimits())
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fl := &failingListener{Listener: ln}
	fl.fails.Store(4)
	served := make(chan error, 1)
	go func() { served <- f.gw.Serve(fl) }()
	sess, err := tunnel.Dial(context.Background(), ln.Addr().String(), &tunnel.ClientConfig{
		Token: testToken, Trust: tunnel.Trust{Fingerprint: f.fingerprint}, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("Dial after accept errors: %v", err)
	}
	sess.Close()
	select {
	case err := <-served:
		t.Fatalf("Serve returned %v", err)
	default:
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	f.gw.Shutdown(ctx)
	if err := <-served; !errors.Is(err, tunnel.ErrGatewayClosed) {
		t.Fatalf("Serve after Shutdown: %v", err)
	}
}
