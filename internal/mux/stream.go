package mux

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"
)

// Sink takes a stream's incoming data in place of Read (see Stream.Push).
type Sink interface {
	// TryWrite writes what it can of b without blocking and returns how
	// much; the receive loop calls it, so it must never wait.
	TryWrite(b []byte) (int, error)
	// Write writes all of b, waiting as long as it takes. It is called from
	// a goroutine that drains a backlog.
	Write(b []byte) (int, error)
	// CloseWrite is called once the peer's FIN has been passed on.
	CloseWrite() error
}

// Stream is one bidirectional byte stream of a session. Read, Write and
// the deadline setters may be called concurrently with each other; two
// concurrent Writes are serialised.
type Stream struct {
	s  *Session
	id uint32

	// synPending and ackPending are guarded by s.wmu: the first frame
	// written for the stream carries SYN (we opened it) or ACK (the peer
	// did).
	synPending bool
	ackPending bool

	peer bool // opened by the peer; set before the stream is shared

	// bulkAt is when the stream last wrote a big frame or passed
	// bulkBytes (see sendQueue); 0 if never. counted is what it wrote since
	// countFrom. All three under s.wmu.
	bulkAt, countFrom time.Duration
	counted           int

	// Pending control frames, under s.ctlMu (see Session.queueStreamCtl).
	ctlQueued bool
	ctlRST    bool
	ctlDelta  uint32

	wlock sync.Mutex // one writer at a time

	mu         sync.Mutex
	q          []chunk // received, not yet read or written to the sink
	sendWindow uint32
	recvAvail  uint32      // what the peer may still send
	recvWin    uint32      // current receive window size
	consumed   uint32      // read since the last window update
	lastGrant  int64       // when the last window update was sent, unix ns
	state      streamState // FIN, RST, session end: see streamState
	readClosed bool        // Close called: incoming data is discarded (see streamState)
	err        error       // why the stream is reset: set with stateReset
	writing    bool        // a data frame is being written (s.write)
	finOwed    bool        // CloseWrite came while writing: the writer sends FIN
	rdl, wdl   time.Time
	readCh     chan struct{}
	writeCh    chan struct{}
	linger     *time.Timer

	// peerDone runs once when the peer is done with the stream (see
	// OnPeerDone); under mu until taken.
	peerDone func()

	sink      Sink
	sinkDone  func(error)
	sinkEnd   bool // sinkDone called
	draining  bool // a goroutine writes q to sink
	finPassed bool
}

var errPushedTwice = errors.New("mux: Push called twice")

// chunk is part of a pooled buffer holding received bytes b[off:end].
type chunk struct {
	buf      *[]byte
	off, end int
}

func (c chunk) bytes() []byte { return (*c.buf)[c.off:c.end] }

func newStream(s *Session, id uint32) *Stream {
	return &Stream{
		s:          s,
		id:         id,
		sendWindow: initialWindow,
		recvAvail:  initialWindow,
		recvWin:    initialWindow,
		lastGrant:  time.Now().UnixNano(),
		readCh:     make(chan struct{}, 1),
		writeCh:    make(chan struct{}, 1),
	}
}

// Session returns the session the stream belongs to.
func (st *Stream) Session() *Session { return st.s }

// LocalAddr and RemoteAddr are the session connection's.
func (st *Stream) LocalAddr() net.Addr  { return st.s.LocalAddr() }
func (st *Stream) RemoteAddr() net.Addr { return st.s.RemoteAddr() }

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// openFlagsLocked returns SYN or ACK if the stream still owes it; s.wmu held.
func (st *Stream) openFlagsLocked() uint16 {
	var f uint16
	if st.synPending {
		f |= flagSYN
		st.synPending = false
	}
	if st.ackPending {
		f |= flagACK
		st.ackPending = false
	}
	return f
}

// announce sends the SYN of a stream opened here and not written to yet, so
// that a stream whose first move is to wait for the peer exists for the
// peer.
func (st *Stream) announce() {
	st.s.wmu.Lock()
	pending := st.synPending
	st.s.wmu.Unlock()
	if !pending {
		return
	}
	var hdr [HeaderSize]byte
	putHeader(hdr[:], typeWindowUpdate, 0, st.id, 0)
	st.s.write(st, hdr[:]) // carries the SYN, unless a Write just did
}

// wait blocks until ch is signalled, the deadline passes or the session
// ends.
func (st *Stream) wait(ch chan struct{}, deadline time.Time) error {
	var timeout <-chan time.Time
	if !deadline.IsZero() {
		d := time.Until(deadline)
		if d <= 0 {
			return os.ErrDeadlineExceeded
		}
		t := time.NewTimer(d)
		defer t.Stop()
		timeout = t.C
	}
	select {
	case <-ch:
		return nil
	case <-timeout:
		return os.ErrDeadlineExceeded
	case <-st.s.done:
		return nil // the caller finds the stream reset
	}
}

// Read reads received data. It returns io.EOF after the peer's FIN.
func (st *Stream) Read(p []byte) (int, error) {
	for {
		st.mu.Lock()
		if len(st.q) > 0 && !st.draining && st.sink == nil {
			n := 0
			for n < len(p) && len(st.q) > 0 {
				c := &st.q[0]
				k := copy(p[n:], c.bytes())
				n += k
				c.off += k
				if c.off == c.end {
					PutBuffer(c.buf)
					st.q[0] = chunk{}
					st.q = st.q[1:]
				}
			}
			if len(st.q) == 0 {
				st.q = nil
			}
			st.mu.Unlock()
			st.consume(n)
			return n, nil
		}
		switch {
		case st.readClosed:
			st.mu.Unlock()
			return 0, ErrStreamClosed
		case st.state == stateReset:
			err := st.err
			st.mu.Unlock()
			return 0, err
		case st.state.finRecv():
			st.mu.Unlock()
			return 0, io.EOF
		case st.sink != nil:
			st.mu.Unlock()
			return 0, ErrStreamClosed
		}
		dl := st.rdl
		st.mu.Unlock()
		st.announce()
		if err := st.wait(st.readCh, dl); err != nil {
			return 0, err
		}
	}
}

// Buffered returns how many received bytes wait to be read.
func (st *Stream) Buffered() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	n := 0
	for _, c := range st.q {
		n += c.end - c.off
	}
	return n
}

// Write sends p, waiting for send window as needed.
func (st *Stream) Write(p []byte) (int, error) {
	st.wlock.Lock()
	defer st.wlock.Unlock()
	written := 0
	for len(p) > 0 {
		n := min(len(p), MaxBuffer-HeaderSize)
		bp := GetBuffer(HeaderSize + n)
		b := (*bp)[:HeaderSize+n]
		copy(b[HeaderSize:], p[:n])
		k, err := st.send(b)
		PutBuffer(bp)
		written += k
		if err != nil {
			return written, err
		}
		p = p[n:]
	}
	return written, nil
}

// WriteHeadroom sends b[HeaderSize:], using b[:HeaderSize] (and, when the
// send window splits it into several frames, the bytes before each later
// frame's payload, already sent by then) for frame headers: no copy. It
// returns the payload bytes sent. b is the caller's again when it returns.
func (st *Stream) WriteHeadroom(b []byte) (int, error) {
	st.wlock.Lock()
	defer st.wlock.Unlock()
	return st.send(b)
}

func (st *Stream) send(b []byte) (int, error) {
	off := HeaderSize
	for off < len(b) {
		st.mu.Lock()
		switch {
		case st.state == stateReset:
			err := st.err
			st.mu.Unlock()
			return off - HeaderSize, err
		case st.state.finSent():
			st.mu.Unlock()
			return off - HeaderSize, ErrStreamClosed
		}
		if st.sendWindow == 0 {
			dl := st.wdl
			st.mu.Unlock()
			if err := st.wait(st.writeCh, dl); err != nil {
				return off - HeaderSize, err
			}
			continue
		}
		n := min(int(st.sendWindow), len(b)-off)
		st.sendWindow -= uint32(n)
		st.writing = true
		st.mu.Unlock()
		frame := b[off-HeaderSize : off+n]
		putHeader(frame, typeData, 0, st.id, uint32(n))
		err := st.s.write(st, frame)
		st.mu.Lock()
		st.writing = false
		owed := st.finOwed
		st.finOwed = false
		st.mu.Unlock()
		if owed {
			st.sendFIN() // after the frame, as CloseWrite asked
		}
		if err != nil {
			return off - HeaderSize, err
		}
		off += n
	}
	return off - HeaderSize, nil
}

func (st *Stream) addSendWindow(n uint32) {
	st.mu.Lock()
	st.sendWindow += n
	st.mu.Unlock()
	notify(st.writeCh)
}

// CloseWrite sends FIN: the peer reads EOF after what was written. Reads go
// on until the peer's FIN. A Write waiting for window meanwhile fails with
// ErrStreamClosed; a frame being written goes out before the FIN.
// CloseWrite never waits for another goroutine's Write.
func (st *Stream) CloseWrite() error {
	st.mu.Lock()
	e := st.transition(evCloseWrite)
	err := st.err // a reset stream's CloseWrite fails with why
	st.mu.Unlock()
	if err != nil {
		return err
	}
	return st.run(e)
}

func (st *Stream) sendFIN() error {
	var hdr [HeaderSize]byte
	putHeader(hdr[:], typeWindowUpdate, flagFIN, st.id, 0)
	return st.s.write(st, hdr[:])
}

// Close sends FIN if not sent and stops reading: data still arriving is
// discarded. A stream whose peer does not FIN within the session's
// CloseTimeout is reset.
func (st *Stream) Close() error {
	err := st.CloseWrite()
	st.apply(evClose)
	if err == ErrReset || err == ErrSessionClosed {
		return nil
	}
	return err
}

// Reset aborts the stream both ways: the peer's reads and writes fail
// with a reset.
func (st *Stream) Reset() error {
	st.apply(evReset)
	return nil
}

func (st *Stream) releaseQueue() {
	for i := range st.q {
		PutBuffer(st.q[i].buf)
	}
	st.q = nil
}

// OnPeerDone arranges for fn to run once the peer is done with the stream:
// its FIN or RST has arrived, or the stream or the session ended. If that
// has happened already fn runs at once. fn runs on the session's receive
// loop, in frame order, so it must not block: a limit that counts streams
// the peer holds open can free a slot before the peer's next stream arrives.
func (st *Stream) OnPeerDone(fn func()) {
	st.mu.Lock()
	if st.state.peerDone() {
		st.mu.Unlock()
		fn()
		return
	}
	st.peerDone = fn
	st.mu.Unlock()
}

// takePeerDoneLocked returns the OnPeerDone function to run, once, or nil;
// st.mu held.
func (st *Stream) takePeerDoneLocked() func() {
	fn := st.peerDone
	st.peerDone = nil
	return fn
}

// remove takes the stream out of the session and gives back the window it
// was granted beyond the initial one. A stream reset while closed is
// removed twice (by evForget, and by its reset or the control writer): the
// session's map says whether it still counted.
func (st *Stream) remove() {
	if !st.s.removeStream(st) {
		return
	}
	st.mu.Lock()
	extra := int64(st.recvWin) - initialWindow
	st.mu.Unlock()
	if extra > 0 {
		st.s.extra.Add(-extra)
	}
}

// receive reads a data frame body of n bytes from the connection and hands
// it to the stream. Only the receive loop calls it.
func (st *Stream) receive(n uint32) error {
	st.mu.Lock()
	if n > st.recvAvail {
		st.mu.Unlock()
		return ErrProtocol
	}
	st.recvAvail -= n
	st.mu.Unlock()
	for n > 0 {
		size := int(min(n, maxChunk))
		n -= uint32(size)
		// A small piece, or one that fits the spare room of the last
		// queued buffer, is read into the session's scratch buffer and
		// copied on: what a stream holds stays within twice what it
		// buffers (plus a buffer), however the peer cuts its frames.
		if size <= classes[0] || size <= st.tailRoom() {
			b := st.s.scratchBuf(size)
			if _, err := io.ReadFull(st.s.conn, b); err != nil {
				return readError(err)
			}
			st.deliverCopy(b)
			continue
		}
		bp := GetBuffer(size)
		if _, err := io.ReadFull(st.s.conn, (*bp)[:size]); err != nil {
			PutBuffer(bp)
			return readError(err)
		}
		st.deliver(chunk{buf: bp, end: size})
	}
	return nil
}

// tailRoom is the spare room after the last queued chunk.
func (st *Stream) tailRoom() int {
	st.mu.Lock()
	defer st.mu.Unlock()
	if k := len(st.q); k > 0 {
		c := st.q[k-1]
		return len(*c.buf) - c.end
	}
	return 0
}

// queueLocked appends b to the queue, into the last chunk's spare room if it
// fits (nobody touches a chunk's bytes past its end), else in a new buffer.
// st.mu held.
func (st *Stream) queueLocked(b []byte) {
	if k := len(st.q); k > 0 {
		c := &st.q[k-1]
		if len(*c.buf)-c.end >= len(b) {
			c.end += copy((*c.buf)[c.end:], b)
			return
		}
	}
	bp := GetBuffer(len(b))
	st.q = append(st.q, chunk{buf: bp, end: copy(*bp, b)})
}

// deliverCopy is deliver for bytes in the receive loop's scratch buffer:
// they are copied if they have to wait.
func (st *Stream) deliverCopy(b []byte) {
	st.mu.Lock()
	if st.readClosed || st.state == stateReset || st.sinkEnd {
		st.mu.Unlock()
		st.consume(len(b))
		return
	}
	if st.sink == nil || st.draining || len(st.q) > 0 {
		st.queueLocked(b)
		st.mu.Unlock()
		notify(st.readCh)
		return
	}
	sink := st.sink
	st.mu.Unlock()
	n, err := sink.TryWrite(b)
	if err != nil {
		st.endSink(err)
		return
	}
	st.consume(n)
	if n == len(b) {
		return
	}
	st.mu.Lock()
	st.queueLocked(b[n:])
	st.draining = true
	st.mu.Unlock()
	go st.drain()
}

func (st *Stream) deliver(c chunk) {
	st.mu.Lock()
	if st.readClosed || st.state == stateReset || st.sinkEnd {
		st.mu.Unlock()
		PutBuffer(c.buf)
		st.consume(c.end)
		return
	}
	if st.sink == nil || st.draining || len(st.q) > 0 {
		st.q = append(st.q, c)
		st.mu.Unlock()
		notify(st.readCh)
		return
	}
	sink := st.sink
	st.mu.Unlock()
	n, err := sink.TryWrite(c.bytes())
	if err != nil {
		PutBuffer(c.buf)
		st.endSink(err)
		return
	}
	st.consume(n)
	if n == c.end {
		PutBuffer(c.buf)
		return
	}
	c.off = n
	st.mu.Lock()
	st.q = append(st.q, c)
	st.draining = true
	st.mu.Unlock()
	go st.drain()
}

// Push makes the stream write what it receives to sink instead of being
// read: the receive loop writes to the sink without blocking, and a
// goroutine takes over only while the sink cannot keep up. done is called
// once: with nil after the peer's FIN has been passed on (sink.CloseWrite),
// or with the error that ended the stream (reset, session end, a sink
// write that failed). done must not block. Data already received is
// written first.
func (st *Stream) Push(sink Sink, done func(error)) {
	st.announce()
	st.mu.Lock()
	if st.sink != nil {
		st.mu.Unlock()
		done(errPushedTwice)
		return
	}
	st.sink, st.sinkDone = sink, done
	if st.state == stateReset {
		err := st.err
		st.mu.Unlock()
		st.endSink(err)
		return
	}
	// Whatever arrived before goes first, as much as the sink takes now;
	// meanwhile the receive loop queues (draining is set).
	st.draining = true
	for {
		if st.state == stateReset || st.sinkEnd {
			st.releaseQueue()
			st.draining = false
			st.mu.Unlock()
			return
		}
		if len(st.q) == 0 {
			st.q = nil
			st.draining = false
			fin := st.state.finRecv()
			st.mu.Unlock()
			if fin {
				st.finishSink()
			}
			return
		}
		c := st.q[0]
		st.mu.Unlock()
		n, err := sink.TryWrite(c.bytes())
		if err != nil {
			st.endSink(err)
			st.mu.Lock()
			continue
		}
		st.consume(n)
		st.mu.Lock()
		// The receive loop may have added to this chunk meanwhile.
		st.q[0].off += n
		if n < c.end-c.off {
			st.mu.Unlock()
			go st.drain()
			return
		}
		if st.q[0].off == st.q[0].end {
			PutBuffer(c.buf)
			st.q[0] = chunk{}
			st.q = st.q[1:]
		}
	}
}

// drain writes the backlog to the sink, blocking, then hands back to the
// receive loop's direct writes.
func (st *Stream) drain() {
	for {
		st.mu.Lock()
		if st.state == stateReset || st.sinkEnd {
			st.releaseQueue()
			st.draining = false
			st.mu.Unlock()
			return
		}
		if len(st.q) == 0 {
			st.q = nil
			st.draining = false
			fin := st.state.finRecv() && !st.sinkEnd
			st.mu.Unlock()
			if fin {
				st.finishSink()
			}
			return
		}
		c := st.q[0]
		st.mu.Unlock()
		n, err := st.sink.Write(c.bytes())
		if err != nil {
			st.endSink(err) // the loop then releases the queue
			continue
		}
		st.mu.Lock()
		// The receive loop may have added to this chunk meanwhile.
		st.q[0].off += n
		if st.q[0].off == st.q[0].end {
			PutBuffer(c.buf)
			st.q[0] = chunk{}
			st.q = st.q[1:]
		}
		st.mu.Unlock()
		st.consume(n)
	}
}

// finishSink passes the peer's FIN on to the sink, once.
func (st *Stream) finishSink() {
	st.mu.Lock()
	if st.finPassed || st.sinkEnd {
		st.mu.Unlock()
		return
	}
	st.finPassed = true
	st.mu.Unlock()
	err := st.sink.CloseWrite()
	st.endSink(err)
}

func (st *Stream) endSink(err error) {
	st.mu.Lock()
	if st.sink == nil || st.sinkEnd {
		st.mu.Unlock()
		return
	}
	st.sinkEnd = true
	done := st.sinkDone
	st.mu.Unlock()
	done(err)
}

// consume credits n bytes read (or written to the sink) and sends a window
// update once half the window is used, growing the window when it was used
// up within two round trips.
func (st *Stream) consume(n int) {
	if n == 0 {
		return
	}
	st.mu.Lock()
	st.consumed += uint32(n)
	if st.consumed < st.recvWin/2 || st.state.peerDone() {
		st.mu.Unlock()
		return
	}
	delta := st.consumed
	now := time.Now().UnixNano()
	rtt := max(st.s.rtt.Load(), int64(time.Millisecond))
	if st.recvWin < st.s.cfg.MaxStreamWindow && now-st.lastGrant < 2*rtt {
		grow := min(st.recvWin, st.s.cfg.MaxStreamWindow-st.recvWin)
		if st.s.reserveWindow(int64(grow)) {
			st.recvWin += grow
			delta += grow
		}
	}
	st.lastGrant = now
	st.consumed = 0
	st.recvAvail += delta
	st.mu.Unlock()
	st.s.queueStreamCtl(st, delta, false)
}

// SetReadDeadline bounds Read; the zero time means none.
func (st *Stream) SetReadDeadline(t time.Time) error {
	st.mu.Lock()
	st.rdl = t
	st.mu.Unlock()
	notify(st.readCh)
	return nil
}

// SetWriteDeadline bounds Write waiting for window.
func (st *Stream) SetWriteDeadline(t time.Time) error {
	st.mu.Lock()
	st.wdl = t
	st.mu.Unlock()
	notify(st.writeCh)
	return nil
}

// SetDeadline sets both deadlines.
func (st *Stream) SetDeadline(t time.Time) error {
	st.SetReadDeadline(t)
	return st.SetWriteDeadline(t)
}
