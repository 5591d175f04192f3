package mux

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"errors"
	"io"
	mrand "math/rand/v2"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/hashicorp/yamux"

	"github.com/fwd-dev/fwd/internal/bench"
)

// tlsPair returns both ends of a TLS 1.3 connection over loopback TCP; with
// via set, the client dials through it (a relay address maker).
func tlsPair(t testing.TB, via func(addr string) string) (client, server net.Conn) {
	t.Helper()
	// The shared test certificate (testdata/README.md).
	cert, err := tls.LoadX509KeyPair("../../testdata/certs/gateway.pem", "../../testdata/certs/gateway.key")
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	addr := ln.Addr().String()
	if via != nil {
		addr = via(addr)
	}
	accepted := make(chan net.Conn, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			accepted <- nil
			return
		}
		s := tls.Server(c, &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13})
		s.Handshake()
		accepted <- s
	}()
	raw, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	c := tls.Client(raw, &tls.Config{InsecureSkipVerify: true, MinVersion: tls.VersionTLS13})
	if err := c.Handshake(); err != nil {
		t.Fatal(err)
	}
	s := <-accepted
	if s == nil {
		t.Fatal("accept failed")
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return c, s
}

func sessions(t testing.TB, cfg *Config, via func(string) string) (*Session, *Session) {
	c, s := tlsPair(t, via)
	cs, ss := Client(c, cfg), Server(s, cfg)
	t.Cleanup(func() { cs.Close(); ss.Close() })
	return cs, ss
}

func TestStreamHalfCloseBothWays(t *testing.T) {
	cs, ss := sessions(t, nil, nil)
	st, err := cs.OpenStream()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Write([]byte("hello")); err != nil {
		t.Fatal(err)
	}
	if err := st.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	peer, err := ss.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(peer)
	if err != nil || string(got) != "hello" {
		t.Fatalf("server read %q, %v", got, err)
	}
	// The other direction still flows after the client's FIN.
	if _, err := peer.Write([]byte("world")); err != nil {
		t.Fatal(err)
	}
	peer.CloseWrite()
	got, err = io.ReadAll(st)
	if err != nil || string(got) != "world" {
		t.Fatalf("client read %q, %v", got, err)
	}
	st.Close()
	peer.Close()
	waitUntil(t, 5*time.Second, "both ends to forget the stream", func() bool { return cs.NumStreams() == 0 && ss.NumStreams() == 0 })
}

func TestResetReachesPeer(t *testing.T) {
	cs, ss := sessions(t, nil, nil)
	st, _ := cs.OpenStream()
	st.Write([]byte("x"))
	peer, err := ss.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 1)
	if _, err := io.ReadFull(peer, buf); err != nil {
		t.Fatal(err)
	}
	st.Reset()
	if _, err := peer.Read(buf); !errors.Is(err, ErrReset) {
		t.Fatalf("read after peer reset: %v, want ErrReset", err)
	}
	if _, err := peer.Write(buf); !errors.Is(err, ErrReset) {
		t.Fatalf("write after peer reset: %v, want ErrReset", err)
	}
	waitUntil(t, 5*time.Second, "both ends to forget the stream", func() bool { return cs.NumStreams() == 0 && ss.NumStreams() == 0 })
}

func TestReadDeadline(t *testing.T) {
	cs, ss := sessions(t, nil, nil)
	st, _ := cs.OpenStream()
	st.Write([]byte("x"))
	peer, _ := ss.AcceptStream()
	peer.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	buf := make([]byte, 8)
	peer.Read(buf)
	start := time.Now()
	_, err := peer.Read(buf)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("read past deadline: %v", err)
	}
	if time.Since(start) > 5*time.Second {
		t.Fatal("deadline fired late")
	}
}

// echo accepts streams and echoes each back, half-closing after EOF.
func echo(ss *Session) {
	for {
		st, err := ss.AcceptStream()
		if err != nil {
			return
		}
		go func() {
			io.Copy(st, st)
			st.CloseWrite()
		}()
	}
}

// TestManyStreamsIntact sends 1 MiB each way on 200 streams at once, so
// windows fill up both ways at once: nothing may deadlock or get mixed up.
func TestManyStreamsIntact(t *testing.T) {
	n := 200
	if testing.Short() {
		n = 50
	}
	cs, ss := sessions(t, nil, nil)
	go echo(ss)
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			data := make([]byte, 1<<20)
			r := mrand.New(mrand.NewPCG(uint64(i), 1))
			for j := range data {
				data[j] = byte(r.Uint32())
			}
			st, err := cs.OpenStream()
			if err != nil {
				errs <- err
				return
			}
			defer st.Close()
			go func() {
				// Odd-sized writes, so frames and reads never line up.
				for b := data; len(b) > 0; {
					k := min(len(b), 1+r.IntN(100000))
					if _, err := st.Write(b[:k]); err != nil {
						return
					}
					b = b[k:]
				}
				st.CloseWrite()
			}()
			got, err := io.ReadAll(st)
			if err != nil {
				errs <- err
				return
			}
			if sha256.Sum256(got) != sha256.Sum256(data) {
				errs <- errors.New("echo differs")
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

// TestWindowGrowsWithRTT moves 48 MiB over a link with 40 ms round trips.
// At the initial 256 KiB window that takes 7.5 s; grown windows do it in
// well under that.
func TestWindowGrowsWithRTT(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 48 MiB over a delayed link")
	}
	var relay *bench.DelayRelay
	cs, ss := sessions(t, nil, func(addr string) string {
		r, err := bench.NewDelayRelay("127.0.0.1:0", addr, 20*time.Millisecond)
		if err != nil {
			t.Fatal(err)
		}
		relay = r
		return r.Addr()
	})
	defer relay.Close()
	const size = 48 << 20
	go func() {
		st, err := ss.AcceptStream()
		if err != nil {
			return
		}
		buf := make([]byte, 1)
		st.Read(buf)
		st.Write(make([]byte, size))
		st.CloseWrite()
	}()
	st, _ := cs.OpenStream()
	st.Write([]byte{1})
	start := time.Now()
	n, err := io.Copy(io.Discard, st)
	if err != nil || n != size {
		t.Fatalf("got %d bytes, %v", n, err)
	}
	took := time.Since(start)
	t.Logf("48 MiB at 40 ms RTT in %s (rtt measured %s)", took, cs.RTT())
	if took > 4*time.Second {
		t.Fatalf("took %s: the window did not grow", took)
	}
}

func TestSessionWindowCap(t *testing.T) {
	cfg := &Config{MaxStreamWindow: 4 << 20, MaxSessionWindow: 1 << 20}
	s := &Session{cfg: cfg.withDefaults()}
	if !s.reserveWindow(1 << 20) {
		t.Fatal("reserve within the cap refused")
	}
	if s.reserveWindow(1) {
		t.Fatal("reserve past the cap allowed")
	}
}

// TestKeepAliveNoticesDeadLink freezes the link: the session must end
// within interval + timeout.
func TestKeepAliveNoticesDeadLink(t *testing.T) {
	var frozen *freezer
	// The timeout leaves room for a loaded CI machine under the race
	// detector; a live link must never trip it.
	cs, _ := sessions(t, &Config{KeepAliveInterval: 100 * time.Millisecond, KeepAliveTimeout: 500 * time.Millisecond}, func(addr string) string {
		frozen = newFreezer(t, addr)
		return frozen.addr
	})
	time.Sleep(300 * time.Millisecond) // a few pings answered
	if cs.IsClosed() {
		t.Fatal("session ended on a live link")
	}
	frozen.freeze()
	select {
	case <-cs.CloseChan():
		if !errors.Is(cs.Err(), ErrKeepAlive) {
			t.Fatalf("session ended with %v, want ErrKeepAlive", cs.Err())
		}
	case <-time.After(5 * time.Second):
		t.Fatal("dead link not noticed")
	}
}

// freezer is a TCP relay that can stop forwarding, like a link that drops
// every packet.
type freezer struct {
	addr string
	mu   sync.Mutex
	cold bool
}

func newFreezer(t testing.TB, upstream string) *freezer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	f := &freezer{addr: ln.Addr().String()}
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		u, err := net.Dial("tcp", upstream)
		if err != nil {
			return
		}
		t.Cleanup(func() { c.Close(); u.Close() })
		go f.copy(u, c)
		f.copy(c, u)
	}()
	return f
}

func (f *freezer) freeze() { f.mu.Lock(); f.cold = true; f.mu.Unlock() }

func (f *freezer) copy(dst, src net.Conn) {
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if err != nil {
			return
		}
		f.mu.Lock()
		cold := f.cold
		f.mu.Unlock()
		if !cold {
			dst.Write(buf[:n])
		}
	}
}

func TestBacklogFullResets(t *testing.T) {
	cs, _ := sessions(t, &Config{AcceptBacklog: 1}, nil)
	a, _ := cs.OpenStream()
	a.Write([]byte("a"))
	b, _ := cs.OpenStream()
	b.Write([]byte("b"))
	buf := make([]byte, 1)
	b.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := b.Read(buf); !errors.Is(err, ErrReset) {
		t.Fatalf("stream over the backlog: %v, want ErrReset", err)
	}
}

// sliceSink collects pushed data; with slow set, TryWrite takes nothing so
// the backlog goroutine does the writing.
type sliceSink struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	slow   bool
	closed chan struct{}
}

func (s *sliceSink) TryWrite(b []byte) (int, error) {
	if s.slow {
		return 0, nil
	}
	return s.Write(b)
}

func (s *sliceSink) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.Write(b)
}

func (s *sliceSink) CloseWrite() error { close(s.closed); return nil }

func TestPushDeliversInOrderThenFIN(t *testing.T) {
	for _, slow := range []bool{false, true} {
		cs, ss := sessions(t, nil, nil)
		st, _ := cs.OpenStream()
		data := make([]byte, 3<<20)
		rand.Read(data)
		go func() {
			st.Write(data[:1000])
			time.Sleep(20 * time.Millisecond) // some arrives before Push
			st.Write(data[1000:])
			st.CloseWrite()
		}()
		peer, _ := ss.AcceptStream()
		time.Sleep(10 * time.Millisecond)
		sink := &sliceSink{slow: slow, closed: make(chan struct{})}
		done := make(chan error, 1)
		peer.Push(sink, func(err error) { done <- err })
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		<-sink.closed
		if !bytes.Equal(sink.buf.Bytes(), data) {
			t.Fatalf("slow=%v: pushed data differs (%d of %d bytes)", slow, sink.buf.Len(), len(data))
		}
	}
}

// TestYamuxInterop runs hashicorp/yamux at one end: the wire format is
// yamux's, so either end may be either implementation.
func TestYamuxInterop(t *testing.T) {
	data := make([]byte, 4<<20)
	rand.Read(data)
	yc := yamux.DefaultConfig()
	yc.LogOutput = io.Discard
	t.Run("yamux client", func(t *testing.T) {
		c, s := tlsPair(t, nil)
		ys, err := yamux.Client(c, yc)
		if err != nil {
			t.Fatal(err)
		}
		defer ys.Close()
		ss := Server(s, nil)
		defer ss.Close()
		go echo(ss)
		st, err := ys.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		go func() { st.Write(data); st.Close() }()
		got, err := io.ReadAll(st)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("echo through our server: %d bytes, %v", len(got), err)
		}
		if _, err := ys.Ping(); err != nil {
			t.Fatalf("yamux ping: %v", err)
		}
	})
	t.Run("yamux server", func(t *testing.T) {
		c, s := tlsPair(t, nil)
		ys, err := yamux.Server(s, yc)
		if err != nil {
			t.Fatal(err)
		}
		defer ys.Close()
		go func() {
			for {
				st, err := ys.AcceptStream()
				if err != nil {
					return
				}
				go func() { io.Copy(st, st); st.Close() }()
			}
		}()
		cs := Client(c, nil)
		defer cs.Close()
		st, _ := cs.OpenStream()
		go func() { st.Write(data); st.CloseWrite() }()
		got, err := io.ReadAll(st)
		if err != nil || !bytes.Equal(got, data) {
			t.Fatalf("echo through yamux server: %d bytes, %v", len(got), err)
		}
	})
}

// Streams reach a handler with their first frame's data readable, and
// streams queued for Accept before SetHandler are handed over too.
func TestSetHandler(t *testing.T) {
	cs, ss := sessions(t, nil, nil)
	early, _ := cs.OpenStream()
	early.Write([]byte("first"))
	waitUntil(t, 5*time.Second, "the stream to wait for Accept", func() bool { return len(ss.acceptCh) == 1 })
	got := make(chan *Stream, 2)
	ss.SetHandler(func(st *Stream) { got <- st })
	late, _ := cs.OpenStream()
	late.Write([]byte("second"))
	for _, want := range []string{"first", "second"} {
		var st *Stream
		select {
		case st = <-got:
		case <-time.After(5 * time.Second):
			t.Fatalf("%s: not handed over", want)
		}
		if n := st.Buffered(); n != len(want) {
			t.Errorf("%s: %d bytes buffered, want %d", want, n, len(want))
		}
		buf := make([]byte, len(want))
		if _, err := io.ReadFull(st, buf); err != nil || string(buf) != want {
			t.Errorf("read %q, %v, want %q", buf, err, want)
		}
	}
}
