package mux

import (
	"encoding/binary"
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
	wmu  sync.Mutex
	wbuf []byte // control frames being written, under wmu

	ctlMu   sync.Mutex
	ctl     []ctlFrame
	ctlWake chan struct{}

	mu           sync.Mutex
	streams      map[uint32]*Stream
	nextID       uint32
	remoteGoAway bool

	acceptCh  chan *Stream
	handler   func(*Stream) // set by SetHandler; guarded by mu
	done      chan struct{}
	closeOnce sync.Once
	closeErr  error

	rtt      atomic.Int64 // smoothed ping round trip, ns; 0 until measured
	pingID   atomic.Uint32
	pingSent atomic.Int64
	pong     chan uint32
	extra    atomic.Int64 // window granted beyond initialWindow, all streams
}

// ctlFrame is a header-only frame queued for the control writer.
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
		conn:    conn,
		client:  client,
		cfg:     cfg.withDefaults(),
		ctlWake: make(chan struct{}, 1),
		streams: map[uint32]*Stream{},
		done:    make(chan struct{}),
		pong:    make(chan uint32, 1),
	}
	s.nextID = 2
	if client {
		s.nextID = 1
	}
	s.acceptCh = make(chan *Stream, s.cfg.AcceptBacklog)
	go s.recvLoop()
	go s.ctlLoop()
	go s.keepAlive()
	return s
}

// CloseChan is closed when the session ends.
func (s *Session) CloseChan() <-chan struct{} { return s.done }

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
		s.conn.Close()
		s.mu.Lock()
		streams := make([]*Stream, 0, len(s.streams))
		for _, st := range s.streams {
			streams = append(streams, st)
		}
		s.streams = map[uint32]*Stream{}
		s.mu.Unlock()
		for _, st := range streams {
			st.terminate(ErrSessionClosed, false)
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
	s.queueCtl(ctlFrame{typ: typeGoAway})
}

func (s *Session) removeStream(st *Stream) {
	s.mu.Lock()
	if s.streams[st.id] == st {
		delete(s.streams, st.id)
	}
	s.mu.Unlock()
}

// write sends one frame, already complete with its header. It may block;
// it must never be called from the receive loop.
func (s *Session) write(st *Stream, frame []byte) error {
	s.wmu.Lock()
	if st != nil {
		if f := st.openFlagsLocked(); f != 0 {
			binary.BigEndian.PutUint16(frame[2:4], binary.BigEndian.Uint16(frame[2:4])|f)
		}
	}
	_, err := s.conn.Write(frame)
	s.wmu.Unlock()
	if err != nil {
		s.closeWith(fmt.Errorf("mux: write: %w", err))
		return s.closeErr
	}
	return nil
}

// queueCtl hands a header-only frame to the control writer. It never
// blocks, so the receive loop may use it.
func (s *Session) queueCtl(f ctlFrame) {
	s.ctlMu.Lock()
	s.ctl = append(s.ctl, f)
	s.ctlMu.Unlock()
	select {
	case s.ctlWake <- struct{}{}:
	default:
	}
}

func (s *Session) ctlLoop() {
	var spare []ctlFrame
	for {
		select {
		case <-s.ctlWake:
		case <-s.done:
			return
		}
		s.ctlMu.Lock()
		frames := s.ctl
		s.ctl = spare[:0]
		s.ctlMu.Unlock()
		if len(frames) == 0 {
			spare = frames
			continue
		}
		s.wmu.Lock()
		b := s.wbuf[:0]
		for _, f := range frames {
			flags := f.flags
			if f.st != nil {
				if f.flags&flagRST != 0 && f.st.synPending {
					continue // the peer never heard of it
				}
				flags |= f.st.openFlagsLocked()
			}
			b = append(b, make([]byte, HeaderSize)...)
			putHeader(b[len(b)-HeaderSize:], f.typ, flags, f.id, f.length)
		}
		var err error
		if len(b) > 0 {
			_, err = s.conn.Write(b)
		}
		if cap(b) <= 64<<10 {
			s.wbuf = b
		} else {
			s.wbuf = nil
		}
		s.wmu.Unlock()
		clear(frames)
		spare = frames[:0]
		if err != nil {
			s.closeWith(fmt.Errorf("mux: write: %w", err))
			return
		}
	}
}

// keepAlive measures the round trip at once, then pings every interval and
// ends the session when a ping goes unanswered.
func (s *Session) keepAlive() {
	s.ping(time.Second)
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
		if !s.ping(s.cfg.KeepAliveTimeout) {
			s.closeWith(ErrKeepAlive)
			return
		}
	}
}

// ping sends a ping and waits up to timeout for its answer, recording the
// round trip. It reports whether the answer came (or the session ended).
func (s *Session) ping(timeout time.Duration) bool {
	id := s.pingID.Add(1)
	s.pingSent.Store(time.Now().UnixNano())
	s.queueCtl(ctlFrame{typ: typePing, flags: flagSYN, length: id})
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		select {
		case got := <-s.pong:
			if got == id {
				return true
			}
		case <-timer.C:
			return false
		case <-s.done:
			return true
		}
	}
}

func (s *Session) onPing(flags uint16, opaque uint32) {
	if flags&flagSYN != 0 {
		s.queueCtl(ctlFrame{typ: typePing, flags: flagACK, length: opaque})
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
			s.closeWith(ErrSessionClosed)
			return
		}
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
		default:
			err = fmt.Errorf("%w: frame type %d", ErrProtocol, hdr[1])
		}
		if err != nil {
			s.closeWith(err)
			return
		}
	}
}

func (s *Session) onStreamFrame(typ byte, flags uint16, id, length uint32) error {
	var st *Stream
	opened := false
	if flags&flagSYN != 0 {
		var err error
		if st, err = s.incoming(id); err != nil {
			return err
		}
		opened = true
	} else {
		s.mu.Lock()
		st = s.streams[id]
		s.mu.Unlock()
	}
	if typ == typeData && length > 0 {
		if st == nil {
			// A stream we already forgot (reset, closed): drop its data.
			if _, err := io.CopyN(io.Discard, s.conn, int64(length)); err != nil {
				return ErrSessionClosed
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
		st.terminate(ErrReset, false)
	} else if flags&flagFIN != 0 {
		st.remoteClose()
	}
	if opened {
		// Handed on only now, with its first frame's data readable: the
		// acceptor does not have to wait for it.
		s.dispatch(st)
	}
	return nil
}

// incoming registers a stream the peer opened.
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
	s.streams[id] = st
	return st, nil
}

// dispatch hands a stream the peer opened to the handler, else queues it for
// Accept.
func (s *Session) dispatch(st *Stream) {
	s.mu.Lock()
	if s.IsClosed() {
		s.mu.Unlock()
		return // closeWith terminates it
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
		st.terminate(ErrReset, true)
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
