package bench

import (
	"fmt"
	"io"
	"net"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/internal/retry"
)

// MaxQueued is the most a DelayRelay holds per direction of a connection.
// It must exceed what a fast link carries in one delay: 64 MiB queued over a
// 25 ms one-way delay is 20 Gbit/s, so the relay itself caps neither the
// bandwidth nor any window under test.
const MaxQueued = 64 << 20

// relayReadSize is one read from a side of the relay.
const relayReadSize = 256 << 10

// DelayRelay is a TCP relay that holds every byte for a fixed time in each
// direction, so that a path through it behaves like a link with twice that
// round-trip time. It reads each side as fast as bytes come, timestamps
// each chunk and writes it out when due, so the sender's TCP sees a fast
// local link and only the flow control of the layers above (yamux, ssh
// channels) meets the delay. Byte order and half-closes are kept. Link is
// the faithful model, with TCP end to end; the relay is the fallback where
// network namespaces and TUN devices are not available.
type DelayRelay struct {
	ln       net.Listener
	upstream string
	delay    time.Duration

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup
}

// NewDelayRelay listens on listen (host:port, port 0 for a free one) and
// relays each connection to upstream with oneWay delay in each direction.
// Both addresses must be loopback.
func NewDelayRelay(listen, upstream string, oneWay time.Duration) (*DelayRelay, error) {
	if err := checkLoopback(upstream); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		return nil, fmt.Errorf("bench: delay relay listen: %w", err)
	}
	r := &DelayRelay{ln: ln, upstream: upstream, delay: oneWay, conns: map[net.Conn]struct{}{}}
	r.wg.Add(1)
	go r.serve()
	return r, nil
}

// Addr is the relay's listening address.
func (r *DelayRelay) Addr() string { return r.ln.Addr().String() }

// Close stops the relay and cuts every connection through it.
func (r *DelayRelay) Close() error {
	err := r.ln.Close()
	r.mu.Lock()
	r.closed = true
	for c := range r.conns {
		c.Close()
	}
	r.mu.Unlock()
	r.wg.Wait()
	return err
}

// track registers c for Close; it reports false if the relay is closing.
func (r *DelayRelay) track(c net.Conn) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return false
	}
	r.conns[c] = struct{}{}
	return true
}

func (r *DelayRelay) untrack(c net.Conn) {
	r.mu.Lock()
	delete(r.conns, c)
	r.mu.Unlock()
	c.Close()
}

// serve relays each connection on a goroutine of its own until Close.
// Failures to accept (out of file descriptors, say) are waited out.
func (r *DelayRelay) serve() {
	defer r.wg.Done()
	retry.AcceptLoop(r.ln, nil, func(down net.Conn) {
		r.wg.Add(1)
		go func() {
			defer r.wg.Done()
			r.relay(down.(*net.TCPConn))
		}()
	}, nil)
}

// relay carries one connection until both directions have ended.
func (r *DelayRelay) relay(down *net.TCPConn) {
	if !r.track(down) {
		down.Close()
		return
	}
	defer r.untrack(down)
	c, err := net.DialTimeout("tcp", r.upstream, dialTimeout)
	if err != nil {
		return
	}
	up := c.(*net.TCPConn)
	if !r.track(up) {
		up.Close()
		return
	}
	defer r.untrack(up)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); r.pipe(up, down) }()
	go func() { defer wg.Done(); r.pipe(down, up) }()
	wg.Wait()
}

// pipe moves src to dst through a delay queue: a reader that timestamps
// chunks and a writer that sends each when due. On any error both
// connections are closed, which ends the other direction too.
func (r *DelayRelay) pipe(dst, src *net.TCPConn) {
	q := newDelayQueue(MaxQueued)
	done := make(chan struct{})
	go func() {
		defer close(done)
		r.drain(q, dst, src)
	}()
	buf := getBuf()
	defer func() { putBuf(buf) }()
	for {
		n, err := src.Read(buf)
		if n > 0 {
			// A big read hands its buffer over whole; a small one is
			// copied, so that tiny chunks do not each pin a big buffer.
			data := buf[:n]
			if n >= relayReadSize/8 {
				buf = getBuf()
			} else {
				data = append([]byte(nil), data...)
			}
			if !q.push(data, time.Now().Add(r.delay)) {
				break // the writer failed
			}
		}
		if err == io.EOF {
			q.push(nil, time.Now().Add(r.delay)) // the FIN is delayed too
			break
		}
		if err != nil {
			q.abort()
			dst.Close()
			src.Close()
			break
		}
	}
	<-done
}

// drain writes the queue's chunks to dst when due; a nil chunk is the
// source's EOF, passed on as a half-close.
func (r *DelayRelay) drain(q *delayQueue, dst, src *net.TCPConn) {
	for {
		c, ok := q.pop()
		if !ok {
			return
		}
		if wait := time.Until(c.due); wait > 0 {
			time.Sleep(wait)
		}
		if c.data == nil {
			dst.CloseWrite()
			return
		}
		if _, err := dst.Write(c.data); err != nil {
			q.abort()
			dst.Close()
			src.Close()
			return
		}
		q.release(len(c.data))
		if cap(c.data) == relayReadSize {
			putBuf(c.data)
		}
	}
}

// Relay read buffers are pooled: at several Gbit/s, allocating one per read
// makes the garbage collector, not the link, the bottleneck.
var relayBufs = sync.Pool{New: func() any { return make([]byte, relayReadSize) }}

func getBuf() []byte { return relayBufs.Get().([]byte) }

func putBuf(b []byte) { relayBufs.Put(b[:relayReadSize]) }

// chunk is bytes read at one moment, to be written at due.
type chunk struct {
	data []byte
	due  time.Time
}

// delayQueue is a FIFO of chunks bounded in bytes: push blocks while it is
// full, which pushes back on the sender as a slow link would.
type delayQueue struct {
	mu      sync.Mutex
	cond    *sync.Cond
	chunks  []chunk
	queued  int
	max     int
	aborted bool
}

func newDelayQueue(max int) *delayQueue {
	q := &delayQueue{max: max}
	q.cond = sync.NewCond(&q.mu)
	return q
}

// push appends data, waiting for room; it reports false once aborted.
func (q *delayQueue) push(data []byte, due time.Time) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.aborted && q.queued > 0 && q.queued+len(data) > q.max {
		q.cond.Wait()
	}
	if q.aborted {
		return false
	}
	q.chunks = append(q.chunks, chunk{data: data, due: due})
	q.queued += len(data)
	q.cond.Broadcast()
	return true
}

// offer appends data unless that would take the queue past its bound, as a
// router's tail drop does; it counts cap(data), the memory held. It reports
// whether data was queued, and whether the queue is still open.
func (q *delayQueue) offer(data []byte, due time.Time) (queued, open bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.aborted {
		return false, false
	}
	if q.queued+cap(data) > q.max {
		return false, true
	}
	q.chunks = append(q.chunks, chunk{data: data, due: due})
	q.queued += cap(data)
	q.cond.Broadcast()
	return true, true
}

// pop takes the oldest chunk, waiting for one; it reports false once
// aborted. The chunk's bytes still count against the bound until release,
// so that bytes waiting in the writer are bounded too.
func (q *delayQueue) pop() (chunk, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for !q.aborted && len(q.chunks) == 0 {
		q.cond.Wait()
	}
	if q.aborted {
		return chunk{}, false
	}
	c := q.chunks[0]
	q.chunks[0] = chunk{}
	q.chunks = q.chunks[1:]
	return c, true
}

func (q *delayQueue) release(n int) {
	q.mu.Lock()
	q.queued -= n
	q.cond.Broadcast()
	q.mu.Unlock()
}

func (q *delayQueue) abort() {
	q.mu.Lock()
	q.aborted = true
	q.cond.Broadcast()
	q.mu.Unlock()
}

func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bench: %q: %w", addr, err)
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("%w: %q", ErrNotLoopback, addr)
	}
	return nil
}
