package mux

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"time"
)

// Config tunes a session. The zero value of each field means its default.
type Config struct {
	// AcceptBacklog is how many opened streams may wait for Accept; more
	// are reset. Default 1024.
	AcceptBacklog int
	// MaxStreams caps the streams the peer may have open on the session at
	// once; a stream opened beyond it is reset. Streams opened here are not
	// counted. Default 4096.
	MaxStreams int
	// KeepAliveInterval is how often a ping is sent; a ping not answered
	// within KeepAliveTimeout (default: the interval) ends the session.
	// Zero disables keepalives (an RTT ping is still sent at start).
	KeepAliveInterval time.Duration
	KeepAliveTimeout  time.Duration
	// MaxStreamWindow caps a stream's receive window. Default 32 MiB.
	MaxStreamWindow uint32
	// MaxSessionWindow caps the window granted beyond the initial 256 KiB,
	// summed over a session's streams: the most a session can be made to
	// buffer above 256 KiB per stream. Default 256 MiB.
	MaxSessionWindow int64
	// CloseTimeout is how long a stream closed by Close waits for the
	// peer's FIN before it is reset. Default 1 minute.
	CloseTimeout time.Duration
}

func (c *Config) withDefaults() Config {
	out := Config{}
	if c != nil {
		out = *c
	}
	if out.AcceptBacklog <= 0 {
		out.AcceptBacklog = 1024
	}
	if out.MaxStreams <= 0 {
		out.MaxStreams = 4096
	}
	if out.KeepAliveTimeout <= 0 {
		out.KeepAliveTimeout = out.KeepAliveInterval
	}
	if out.MaxStreamWindow < initialWindow {
		if out.MaxStreamWindow == 0 {
			out.MaxStreamWindow = 32 << 20
		} else {
			out.MaxStreamWindow = initialWindow
		}
	}
	if out.MaxSessionWindow <= 0 {
		out.MaxSessionWindow = 256 << 20
	}
	if out.CloseTimeout <= 0 {
		out.CloseTimeout = time.Minute
	}
	return out
}

// Session is one multiplexed connection. Its methods are safe for
// concurrent use.
type Session struct {
	conn   net.Conn
	client bool
	cfg    Config

	// wmu serialises writes to conn, so frames never interleave. The
	// open flags of streams (synPending, ackPending) are guarded by it too,
	// so that the first frame written for a stream is the one carrying
	// them.
	wmu   writeLock
	wbuf  []byte    // control frames being written, under wmu
	sendQ sendQueue // the socket's send queue, under wmu

	// The control writer's queue is bounded whatever the peer does: one
	// pending entry per stream (window update deltas merged, or an RST),
	// only the latest ping answer, and at most ctlSlack entries beyond the
	// streams open; past that the peer is not reading and the session ends.
	ctlMu      sync.Mutex
	ctlStreams []*Stream  // streams with a window update or RST pending
	ctlFrames  []ctlFrame // takeCtl's buffer, under wmu
	ctlPing    bool       // our ping, ctlPingID
	ctlPingID  uint32
	ctlPong    bool // answer to the peer's latest ping, ctlPongID
	ctlPongID  uint32
	ctlGoAway  bool
	ctlWake    chan struct{}
	// ctlPending is set while any of the above waits to be written, so
	// that a data write sends it first without taking ctlMu for nothing.
	ctlPending atomic.Bool

	mu           sync.Mutex
	streams      map[uint32]*Stream
	peerStreams  int // streams the peer opened, in streams
	nextID       uint32
	remoteGoAway bool
	goingAway    chan struct{} // closed on the peer's GoAway or session end
	goingOnce    sync.Once

	scratch []byte // the receive loop's buffer for small frames

	acceptCh  chan *Stream
	handler   func(*Stream) // set by SetHandler; guarded by mu
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	rtt      atomic.Int64 // smoothed ping round trip, ns; 0 until measured
	pingID   atomic.Uint32
	pingSent atomic.Int64
	pong     chan uint32
	// framesIn counts frames received; keepalive reads it to tell a busy
	// link (a pong queued behind bulk data) from a dead one.
	framesIn atomic.Uint64
	extra    atomic.Int64 // window granted beyond initialWindow, all streams
}

// smallFrame is the largest frame payload that counts as interactive: its
// writer goes ahead of bulk ones (see writeLock). A relay reading a busy
// socket fills its 64 KiB buffer; a query or a keystroke is far below this.
const smallFrame = 16 << 10

// busyPingTimeouts is how many timeouts a ping may wait for its answer while
// other frames keep arriving.
const busyPingTimeouts = 5

// ctlSlack is how many control entries may be pending beyond one per open
// stream (resets of streams already forgotten, refused streams).
const ctlSlack = 1024

// ctlFrame is a header-only frame for the control writer.
type ctlFrame struct {
	st     *Stream // nil for session frames
	typ    byte
	flags  uint16
	id     uint32
	length uint32
}

// Client starts the client end of a session over conn (odd stream ids).
func Client(conn net.Conn, cfg *Config) *Session { return newSession(conn, true, cfg) }

// Server starts the server end of a session over conn (even stream ids).
func Server(conn net.Conn, cfg *Config) *Session { return newSession(conn, false, cfg) }

func newSession(conn net.Conn, client bool, cfg *Config) *Session {
	s := &Session{
		conn:      conn,
		client:    client,
		cfg:       cfg.withDefaults(),
		ctlWake:   make(chan struct{}, 1),
		streams:   map[uint32]*Stream{},
		done:      make(chan struct{}),
		goingAway: make(chan struct{}),
		pong:      make(chan uint32, 1),
	}
	s.nextID = 2
	if client {
		s.nextID = 1
	}
	s.acceptCh = make(chan *Stream, s.cfg.AcceptBacklog)
	s.sendQ = tuneSocket(conn)
	go s.recvLoop()
	go s.ctlLoop()
	go s.keepAlive()
	return s
}

// CloseChan is closed when the session ends.
func (s *Session) CloseChan() <-chan struct{} { return s.done }

// GoingAway is closed when the peer announced GoAway (OpenStream then
// fails with ErrGoAway; streams already open go on) or the session ended.
func (s *Session) GoingAway() <-chan struct{} { return s.goingAway }

func (s *Session) closeGoingAway() { s.goingOnce.Do(func() { close(s.goingAway) }) }

// IsClosed reports whether the session has ended.
func (s *Session) IsClosed() bool {
	select {
	case <-s.done:
		return true
	default:
		return false
	}
}

// Err returns why the session ended, or nil while it runs.
func (s *Session) Err() error {
	select {
	case <-s.done:
		return s.closeErr
	default:
		return nil
	}
}

// Close ends the session and resets every stream on it.
func (s *Session) Close() error {
	s.closeWith(ErrSessionClosed)
	return nil
}

// RTT returns the last measured round trip (smoothed), 0 before the first.
func (s *Session) RTT() time.Duration { return time.Duration(s.rtt.Load()) }

// NumStreams returns the number of streams open on the session.
func (s *Session) NumStreams() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.streams)
}

// LocalAddr and RemoteAddr are the underlying connection's.
func (s *Session) LocalAddr() net.Addr  { return s.conn.LocalAddr() }
func (s *Session) RemoteAddr() net.Addr { return s.conn.RemoteAddr() }

func (s *Session) closeWith(err error) {
	s.closeOnce.Do(func() {
		s.closeErr = err
		close(s.done)
		s.closeGoingAway()
		s.conn.Close()
		s.mu.Lock()
		streams := make([]*Stream, 0, len(s.streams))
		for _, st := range s.streams {
			streams = append(streams, st)
		}
		s.streams = map[uint32]*Stream{}
		s.peerStreams = 0
		s.mu.Unlock()
		for _, st := range streams {
			st.apply(evSessionEnd)
		}
	})
}

// OpenStream creates a stream. Nothing is sent until its first Write,
// CloseWrite, Read that has to wait, or Push: that frame carries the SYN,
// so that opening costs no frame of its own.
func (s *Session) OpenStream() (*Stream, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.IsClosed() {
		return nil, ErrSessionClosed
	}
	if s.remoteGoAway {
		return nil, ErrGoAway
	}
	id := s.nextID
	if id >= 1<<32-2 {
		return nil, fmt.Errorf("%w: stream ids exhausted", ErrSessionClosed)
	}
	s.nextID += 2
	st := newStream(s, id)
	st.synPending = true
	s.streams[id] = st
	return st, nil
}

// AcceptStream waits for the peer to open a stream.
func (s *Session) AcceptStream() (*Stream, error) {
	select {
	case st := <-s.acceptCh:
		return st, nil
	case <-s.done:
		return nil, s.closeErr
	}
}

// Accept is AcceptStream for callers that want a net.Conn.
func (s *Session) Accept() (net.Conn, error) { return s.AcceptStream() }

// SetHandler makes the session hand every stream the peer opens from now
// on to h, called from the receive loop as soon as the stream's first frame
// has been read (its data is then readable), instead of queueing it for
// Accept. h must not block: it typically starts a goroutine. Streams
// already waiting for Accept are handed to h before SetHandler returns.
// A stream handed over while the session ends fails like any other.
func (s *Session) SetHandler(h func(*Stream)) {
	s.mu.Lock()
	s.handler = h
	var queued []*Stream
	for {
		select {
		case st := <-s.acceptCh:
			queued = append(queued, st)
			continue
		default:
		}
		break
	}
	s.mu.Unlock()
	for _, st := range queued {
		h(st)
	}
}

// GoAway tells the peer to open no more streams.
func (s *Session) GoAway() {
	s.ctlMu.Lock()
	s.ctlGoAway = true
	s.ctlPending.Store(true)
	s.ctlMu.Unlock()
	s.wakeCtl()
}

// removeStream forgets st and reports whether it was still there: not if
// removed before, never added (a refused stream), or taken by closeWith.
func (s *Session) removeStream(st *Stream) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.streams[st.id] != st {
		return false
	}
	delete(s.streams, st.id)
	if st.peer {
		s.peerStreams--
	}
	return true
}

// write sends one frame, already complete with its header. It may block;
// it must never be called from the receive loop.
//
// Control frames queued before it go out first, in the same hold of wmu: a
// stream reset before another is opened has its RST on the wire before
// that stream's SYN, so the peer never counts streams this side has let go
// of (and a window update or a ping's answer does not wait behind data).
func (s *Session) write(st *Stream, frame []byte) error {
	if len(frame)-HeaderSize > smallFrame {
		s.wmu.LockBulk()
	} else {
		s.wmu.Lock()
	}
	reset, err := s.flushCtlLocked()
	if err == nil {
		if st != nil {
			if frame[1] == typeData {
				s.sendQ.noteData(st, len(frame)-HeaderSize)
			}
			if f := st.openFlagsLocked(); f != 0 {
				binary.BigEndian.PutUint16(frame[2:4], binary.BigEndian.Uint16(frame[2:4])|f)
			}
		}
		_, err = s.conn.Write(frame)
	}
	s.wmu.Unlock()
	forget(reset)
	if err != nil {
		s.closeWith(fmt.Errorf("mux: write: %w", err))
		return s.closeErr
	}
	return nil
}

func (s *Session) wakeCtl() {
	select {
	case s.ctlWake <- struct{}{}:
	default:
	}
}

// queueStreamCtl asks the control writer for a window update of delta
// (merged with one already pending) or, with rst, a reset of st. It never
// blocks, so the receive loop may use it. A peer that makes entries pile up
// by not reading ends the session.
func (s *Session) queueStreamCtl(st *Stream, delta uint32, rst bool) {
	s.ctlMu.Lock()
	if rst {
		st.ctlRST = true
	} else {
		st.ctlDelta += delta
	}
	if !st.ctlQueued {
		if len(s.ctlStreams) >= ctlSlack && len(s.ctlStreams) >= s.NumStreams()+ctlSlack {
			s.ctlMu.Unlock()
			s.closeWith(fmt.Errorf("%w: peer does not read: control frames backlog", ErrProtocol))
			return
		}
		st.ctlQueued = true
		s.ctlPending.Store(true)
		s.ctlStreams = append(s.ctlStreams, st)
	}
	s.ctlMu.Unlock()
	s.wakeCtl()
}

var zeroHeader [HeaderSize]byte

// ctlLoop writes control frames as they are queued, when no data write
// takes them along first.
func (s *Session) ctlLoop() {
	for {
		select {
		case <-s.ctlWake:
		case <-s.done:
			return
		}
		s.wmu.Lock()
		reset, err := s.flushCtlLocked()
		s.wmu.Unlock()
		forget(reset)
		if err != nil {
			s.closeWith(fmt.Errorf("mux: write: %w", err))
			return
		}
	}
}

// flushCtlLocked writes every queued control frame, with s.wmu held. It
// returns the streams whose RST it wrote (or that were never announced),
// for the caller to forget once it lets go of wmu.
func (s *Session) flushCtlLocked() (reset []*Stream, err error) {
	if !s.ctlPending.Load() {
		return nil, nil
	}
	frames := s.takeCtl()
	b := s.wbuf[:0]
	for _, f := range frames {
		flags := f.flags
		if f.st != nil {
			if f.flags&flagRST != 0 {
				reset = append(reset, f.st)
				if f.st.synPending {
					continue // the peer never heard of it
				}
			}
			flags |= f.st.openFlagsLocked()
		}
		b = append(b, zeroHeader[:]...)
		putHeader(b[len(b)-HeaderSize:], f.typ, flags, f.id, f.length)
	}
	clear(frames) // hold no stream longer than needed
	if len(b) > 0 {
		_, err = s.conn.Write(b)
	}
	if cap(b) <= 64<<10 {
		s.wbuf = b
	} else {
		s.wbuf = nil
	}
	return reset, err
}

// takeCtl takes the queued control frames: the ping's answer first, then
// our ping, window updates and resets, and a go away last.
func (s *Session) takeCtl() []ctlFrame {
	s.ctlMu.Lock()
	defer s.ctlMu.Unlock()
	s.ctlPending.Store(false)
	frames := s.ctlFrames[:0]
	if s.ctlPong {
		frames = append(frames, ctlFrame{typ: typePing, flags: flagACK, length: s.ctlPongID})
		s.ctlPong = false
	}
	if s.ctlPing {
		frames = append(frames, ctlFrame{typ: typePing, flags: flagSYN, length: s.ctlPingID})
		s.ctlPing = false
	}
	for _, st := range s.ctlStreams {
		f := ctlFrame{st: st, typ: typeWindowUpdate, id: st.id, length: st.ctlDelta}
		if st.ctlRST {
			f.flags, f.length = flagRST, 0
		}
		st.ctlQueued, st.ctlRST, st.ctlDelta = false, false, 0
		frames = append(frames, f)
	}
	clear(s.ctlStreams)
	s.ctlStreams = s.ctlStreams[:0]
	if s.ctlGoAway {
		frames = append(frames, ctlFrame{typ: typeGoAway})
		s.ctlGoAway = false
	}
	s.ctlFrames = frames
	return frames
}

// forget removes streams whose RST is written: from then on they no
// longer count as open.
func forget(reset []*Stream) {
	for _, st := range reset {
		st.remove()
	}
}

// keepAlive measures the round trip at once, then pings every interval and
// ends the session when a ping goes unanswered.
func (s *Session) keepAlive() {
	s.ping(time.Second, 1)
	if s.cfg.KeepAliveInterval <= 0 {
		return
	}
	t := time.NewTicker(s.cfg.KeepAliveInterval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
		case <-s.done:
			return
		}
		if !s.ping(s.cfg.KeepAliveTimeout, busyPingTimeouts) {
			s.closeWith(ErrKeepAlive)
			return
		}
	}
}

// ping sends a ping and waits up to timeout for its answer, recording the
// round trip. It reports whether the answer came (or the session ended).
// While other frames keep arriving the link is alive, so the wait goes on a
// timeout at a time, up to maxWaits: on a saturated link, or a
// loaded machine, the answer can sit behind seconds of bulk data. A timeout
// with nothing received at all fails, and so does a peer that keeps sending
// but never answers.
func (s *Session) ping(timeout time.Duration, maxWaits int) bool {
	id := s.pingID.Add(1)
	s.pingSent.Store(time.Now().UnixNano())
	s.ctlMu.Lock()
	s.ctlPing, s.ctlPingID = true, id
	s.ctlPending.Store(true)
	s.ctlMu.Unlock()
	s.wakeCtl()
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	seen := s.framesIn.Load()
	for waits := 1; ; {
		select {
		case got := <-s.pong:
			if got == id {
				return true
			}
		case <-timer.C:
			now := s.framesIn.Load()
			if now == seen || waits >= maxWaits {
				return false
			}
			seen = now
			waits++
			timer.Reset(timeout)
		case <-s.done:
			return true
		}
	}
}

func (s *Session) onPing(flags uint16, opaque uint32) {
	if flags&flagSYN != 0 {
		// Only the latest answer is kept: a peer that pings without
		// reading makes nothing pile up.
		s.ctlMu.Lock()
		s.ctlPong, s.ctlPongID = true, opaque
		s.ctlPending.Store(true)
		s.ctlMu.Unlock()
		s.wakeCtl()
		return
	}
	if flags&flagACK != 0 && opaque == s.pingID.Load() {
		sample := time.Now().UnixNano() - s.pingSent.Load()
		if old := s.rtt.Load(); old > 0 {
			sample = (old*7 + sample) / 8
		}
		s.rtt.Store(sample)
		select {
		case s.pong <- opaque:
		default:
		}
	}
}

func (s *Session) recvLoop() {
	var hdr [HeaderSize]byte
	for {
		if _, err := io.ReadFull(s.conn, hdr[:]); err != nil {
			s.closeWith(readError(err))
			return
		}
		s.framesIn.Add(1)
		if hdr[0] != protoVersion {
			s.closeWith(fmt.Errorf("%w: version %d", ErrProtocol, hdr[0]))
			return
		}
		flags := binary.BigEndian.Uint16(hdr[2:4])
		id := binary.BigEndian.Uint32(hdr[4:8])
		length := binary.BigEndian.Uint32(hdr[8:12])
		var err error
		switch hdr[1] {
		case typeData, typeWindowUpdate:
			err = s.onStreamFrame(hdr[1], flags, id, length)
		case typePing:
			s.onPing(flags, length)
		case typeGoAway:
			s.mu.Lock()
			s.remoteGoAway = true
			s.mu.Unlock()
			s.closeGoingAway()
		default:
			err = fmt.Errorf("%w: frame type %d", ErrProtocol, hdr[1])
		}
		if err != nil {
			s.closeWith(err)
			return
		}
	}
}

// readError is why the session ends when reading the connection failed.
func readError(err error) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: connection closed by peer: %w", ErrSessionClosed, err)
	}
	return fmt.Errorf("%w: read: %w", ErrSessionClosed, err)
}

func (s *Session) onStreamFrame(typ byte, flags uint16, id, length uint32) error {
	var st *Stream
	opened := false
	if flags&flagSYN != 0 {
		var err error
		if st, err = s.incoming(id); err != nil {
			return err
		}
		if st == nil {
			// Over MaxStreams: refused, its data dropped.
			refused := newStream(s, id)
			s.queueStreamCtl(refused, 0, true)
		}
		opened = st != nil
	} else {
		s.mu.Lock()
		st = s.streams[id]
		s.mu.Unlock()
	}
	if typ == typeData && length > 0 {
		if st == nil {
			// A stream we already forgot (reset, closed): drop its data.
			if _, err := io.CopyN(io.Discard, s.conn, int64(length)); err != nil {
				return readError(err)
			}
		} else if err := st.receive(length); err != nil {
			return err
		}
	}
	if st == nil {
		return nil
	}
	if typ == typeWindowUpdate && length > 0 {
		st.addSendWindow(length)
	}
	if flags&flagRST != 0 {
		st.apply(evPeerReset)
	} else if flags&flagFIN != 0 {
		st.apply(evPeerFIN)
	}
	if opened {
		// Handed on only now, with its first frame's data readable: the
		// acceptor does not have to wait for it.
		s.dispatch(st)
	}
	return nil
}

// incoming registers a stream the peer opened; nil, nil when MaxStreams
// peer streams are open already.
func (s *Session) incoming(id uint32) (*Stream, error) {
	if (id%2 == 1) == s.client || id == 0 {
		return nil, fmt.Errorf("%w: peer opened stream %d", ErrProtocol, id)
	}
	st := newStream(s, id)
	st.ackPending = true
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, dup := s.streams[id]; dup {
		return nil, fmt.Errorf("%w: stream %d opened twice", ErrProtocol, id)
	}
	if s.IsClosed() {
		return nil, ErrSessionClosed
	}
	if s.peerStreams >= s.cfg.MaxStreams {
		return nil, nil
	}
	st.peer = true
	s.peerStreams++
	s.streams[id] = st
	return st, nil
}

// dispatch hands a stream the peer opened to the handler, else queues it for
// Accept.
func (s *Session) dispatch(st *Stream) {
	s.mu.Lock()
	if s.IsClosed() {
		s.mu.Unlock()
		return // closeWith resets it
	}
	if h := s.handler; h != nil {
		s.mu.Unlock()
		h(st)
		return
	}
	select {
	case s.acceptCh <- st:
		s.mu.Unlock()
	default:
		s.mu.Unlock()
		// Backlog full: refuse it. Its data, if any, is dropped.
		st.apply(evReset)
	}
}

// reserveWindow takes n bytes of the session's extra window budget.
func (s *Session) reserveWindow(n int64) bool {
	if s.extra.Add(n) > s.cfg.MaxSessionWindow {
		s.extra.Add(-n)
		return false
	}
	return true
}

// scratchBuf returns the receive loop's buffer, n bytes long.
func (s *Session) scratchBuf(n int) []byte {
	if cap(s.scratch) < n {
		size := MaxBuffer
		for _, c := range classes {
			if n <= c {
				size = c
				break
			}
		}
		s.scratch = make([]byte, size)
	}
	return s.scratch[:n]
}
