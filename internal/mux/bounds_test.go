package mux

import (
	"errors"
	"io"
	"net"
	"runtime"
	"strings"
	"testing"
	"time"
)

// rawPeer is the server end of a session over net.Pipe whose other end the
// test drives by hand and never reads: the session's control writer blocks
// at its first frame, as it does against a peer that stopped reading.
func rawPeer(t *testing.T, cfg *Config) (*Session, net.Conn) {
	t.Helper()
	a, b := net.Pipe()
	s := Server(a, cfg)
	t.Cleanup(func() { s.Close(); b.Close() })
	return s, b
}

func frame(typ byte, flags uint16, id, length uint32) []byte {
	b := make([]byte, HeaderSize)
	putHeader(b, typ, flags, id, length)
	return b
}

func heapInUse() uint64 {
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	return ms.HeapAlloc
}

// waitUntil polls cond until it holds or d passes.
func waitUntil(t *testing.T, d time.Duration, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(d); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// TestOneByteFramesBounded fills a stream's window with 1-byte frames: what
// the receiver holds must stay near the bytes buffered, not a buffer per
// frame (which was 2 KiB each: 400 MiB here).
func TestOneByteFramesBounded(t *testing.T) {
	s, peer := rawPeer(t, nil)
	const n = 200000
	flood := make([]byte, 0, n*(HeaderSize+1))
	for i := range n {
		flags := uint16(0)
		if i == 0 {
			flags = flagSYN
		}
		flood = append(flood, frame(typeData, flags, 1, 1)...)
		flood = append(flood, byte(i))
	}
	before := heapInUse()
	go peer.Write(flood)
	st, err := s.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	waitUntil(t, 20*time.Second, "the flood", func() bool { return st.Buffered() == n })
	grown := int64(heapInUse()) - int64(before)
	runtime.KeepAlive(flood)
	t.Logf("heap grew %d KiB holding %d bytes in 1-byte frames", grown>>10, n)
	if grown > 4<<20 {
		t.Fatalf("heap grew %d KiB to hold %d bytes", grown>>10, n)
	}
	buf := make([]byte, n)
	if _, err := io.ReadFull(st, buf); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		if buf[i] != byte(i) {
			t.Fatalf("byte %d is %d", i, buf[i])
		}
	}
}

// TestSmallFramesPushedIntact interleaves small and large frames into a slow
// sink: coalesced chunks must come out in order.
func TestSmallFramesPushedIntact(t *testing.T) {
	s, peer := rawPeer(t, nil)
	var want []byte
	var flood []byte
	for i := 0; len(want) < 200<<10; i++ {
		size := []int{1, 7, 3000, 1, 20000, 100}[i%6]
		flags := uint16(0)
		if i == 0 {
			flags = flagSYN
		}
		flood = append(flood, frame(typeData, flags, 1, uint32(size))...)
		for j := range size {
			c := byte(i*31 + j)
			flood = append(flood, c)
			want = append(want, c)
		}
	}
	flood = append(flood, frame(typeWindowUpdate, flagFIN, 1, 0)...)
	go io.Copy(io.Discard, peer) // this peer reads
	go peer.Write(flood)
	st, err := s.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	sink := &sliceSink{slow: true, closed: make(chan struct{})}
	st.Push(sink, func(error) {})
	select {
	case <-sink.closed:
	case <-time.After(10 * time.Second):
		t.Fatal("no FIN")
	}
	sink.mu.Lock()
	defer sink.mu.Unlock()
	if got := sink.buf.Bytes(); string(got) != string(want) {
		t.Fatalf("pushed %d bytes, want %d, or out of order", len(got), len(want))
	}
}

// TestPingFloodBounded pings a session that cannot answer (its peer does
// not read): only the latest answer may be kept.
func TestPingFloodBounded(t *testing.T) {
	s, peer := rawPeer(t, nil)
	chunk := make([]byte, 0, 10000*HeaderSize)
	for i := range 10000 {
		chunk = append(chunk, frame(typePing, flagSYN, 0, uint32(i))...)
	}
	before := heapInUse()
	for range 50 { // 500k pings, 6 MB
		if _, err := peer.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	grown := int64(heapInUse()) - int64(before)
	t.Logf("heap grew %d KiB over 500k unanswered pings", grown>>10)
	if grown > 1<<20 {
		t.Fatalf("heap grew %d KiB over 500k unanswered pings", grown>>10)
	}
	if s.IsClosed() {
		t.Fatalf("session ended: %v", s.Err())
	}
}

// TestResetFloodEndsSession opens streams past the backlog at a session
// whose peer does not read: the resets it owes pile up to a cap, then the
// session ends with a protocol error.
func TestResetFloodEndsSession(t *testing.T) {
	s, peer := rawPeer(t, &Config{AcceptBacklog: 1})
	// The control writer takes whatever is queued in one batch before its
	// write blocks, and under the race detector that batch can be large, so
	// keep opening (boundedly) until the session ends and the write fails.
	go func() {
		for id := uint32(1); id < 2*64*ctlSlack; id += 2 {
			if _, err := peer.Write(frame(typeWindowUpdate, flagSYN, id, 0)); err != nil {
				return
			}
		}
	}()
	select {
	case <-s.CloseChan():
	case <-time.After(10 * time.Second):
		t.Fatal("session still up")
	}
	if !errors.Is(s.Err(), ErrProtocol) {
		t.Fatalf("session ended with %v, want ErrProtocol", s.Err())
	}
}

func TestMaxStreamsResets(t *testing.T) {
	cs, ss := sessions(t, &Config{MaxStreams: 2}, nil)
	var open []*Stream
	for i := range 3 {
		st, err := cs.OpenStream()
		if err != nil {
			t.Fatal(err)
		}
		st.Write([]byte{byte(i)})
		open = append(open, st)
	}
	for range 2 {
		if _, err := ss.AcceptStream(); err != nil {
			t.Fatal(err)
		}
	}
	third := open[2]
	third.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := third.Read(make([]byte, 1)); !errors.Is(err, ErrReset) {
		t.Fatalf("stream over MaxStreams: %v, want ErrReset", err)
	}
	// Once one closes, another may open.
	open[0].Reset()
	waitUntil(t, 5*time.Second, "the reset stream to go", func() bool { return ss.NumStreams() == 1 })
	st, _ := cs.OpenStream()
	st.Write([]byte("x"))
	if _, err := ss.AcceptStream(); err != nil {
		t.Fatal(err)
	}
}

// TestCloseUnblocksWrite closes a stream while a Write waits for window:
// Close must return at once, the Write fail, and the peer read what was
// sent, then EOF.
func TestCloseUnblocksWrite(t *testing.T) {
	cs, ss := sessions(t, nil, nil)
	st, _ := cs.OpenStream()
	st.Write([]byte("x"))
	peer, err := ss.AcceptStream()
	if err != nil {
		t.Fatal(err)
	}
	wrote := make(chan error, 1)
	go func() {
		_, err := st.Write(make([]byte, 1<<20))
		wrote <- err
	}()
	waitUntil(t, 5*time.Second, "the window to fill", func() bool { return peer.Buffered() == initialWindow })
	closed := make(chan error, 1)
	go func() { closed <- st.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatalf("Close: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close blocked behind a Write waiting for window")
	}
	select {
	case err := <-wrote:
		if !errors.Is(err, ErrStreamClosed) {
			t.Fatalf("Write: %v, want ErrStreamClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Write still blocked after Close")
	}
	peer.SetReadDeadline(time.Now().Add(5 * time.Second))
	got, err := io.ReadAll(peer)
	if err != nil || len(got) != initialWindow {
		t.Fatalf("peer read %d bytes, %v; want %d then EOF", len(got), err, initialWindow)
	}
}

func TestGoingAway(t *testing.T) {
	cs, ss := sessions(t, nil, nil)
	st, _ := cs.OpenStream()
	st.Write([]byte("x"))
	peer, _ := ss.AcceptStream()
	ss.GoAway()
	select {
	case <-cs.GoingAway():
	case <-time.After(5 * time.Second):
		t.Fatal("GoingAway not closed")
	}
	if cs.IsClosed() {
		t.Fatal("session ended")
	}
	if _, err := cs.OpenStream(); !errors.Is(err, ErrGoAway) {
		t.Fatalf("OpenStream after GoAway: %v", err)
	}
	// The open stream goes on.
	peer.Write([]byte("y"))
	b := make([]byte, 1)
	if _, err := io.ReadFull(st, b); err != nil || b[0] != 'y' {
		t.Fatalf("read %q, %v", b, err)
	}
}

func TestSessionErrKeepsCause(t *testing.T) {
	c, s := tlsPair(t, nil)
	cs := Client(c, nil)
	s.Close()
	select {
	case <-cs.CloseChan():
	case <-time.After(5 * time.Second):
		t.Fatal("session still up")
	}
	err := cs.Err()
	if !errors.Is(err, ErrSessionClosed) || !errors.Is(err, io.EOF) || !strings.Contains(err.Error(), "EOF") {
		t.Fatalf("Err() = %v, want ErrSessionClosed wrapping io.EOF", err)
	}
	if _, err := cs.AcceptStream(); !errors.Is(err, io.EOF) {
		t.Fatalf("AcceptStream: %v", err)
	}
}

// TestKeepAliveBusyLinkStaysUp answers no ping but keeps frames coming, as a
// link whose answers sit behind bulk data does: the session must stay up
// while frames arrive (past the 1 s start-up ping, one keepalive ping may
// wait 5 x 1 s), and end once they stop. Without the busy-link rule it
// ends at about 2.1 s.
func TestKeepAliveBusyLinkStaysUp(t *testing.T) {
	start := time.Now()
	s, peer := rawPeer(t, &Config{KeepAliveInterval: 100 * time.Millisecond, KeepAliveTimeout: time.Second})
	go io.Copy(io.Discard, peer)
	for i := 0; time.Since(start) < 3*time.Second; i++ {
		if _, err := peer.Write(frame(typePing, flagSYN, 0, uint32(i))); err != nil {
			t.Fatalf("session ended while frames arrived: %v", s.Err())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if s.IsClosed() {
		t.Fatalf("session ended while frames arrived: %v", s.Err())
	}
	select {
	case <-s.CloseChan():
	case <-time.After(5 * time.Second):
		t.Fatal("session still up with nothing arriving and no ping answered")
	}
	if !errors.Is(s.Err(), ErrKeepAlive) {
		t.Fatalf("session ended with %v, want ErrKeepAlive", s.Err())
	}
}

// TestKeepAliveEndsPeerThatNeverAnswers: frames that keep coming do not keep
// a session up for ever when its pings are never answered.
func TestKeepAliveEndsPeerThatNeverAnswers(t *testing.T) {
	s, peer := rawPeer(t, &Config{KeepAliveInterval: 50 * time.Millisecond, KeepAliveTimeout: 200 * time.Millisecond})
	go io.Copy(io.Discard, peer)
	for i := 0; !s.IsClosed(); i++ {
		if i == 2000 { // 10 s of traffic
			t.Fatal("session kept up by traffic although no ping was ever answered")
		}
		if _, err := peer.Write(frame(typePing, flagSYN, 0, uint32(i))); err != nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	<-s.CloseChan()
	if !errors.Is(s.Err(), ErrKeepAlive) {
		t.Fatalf("session ended with %v, want ErrKeepAlive", s.Err())
	}
}
