package forward

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/fwd-dev/fwd/tunnel"
)

// flowQueue is how many datagrams a flow holds while its stream is busy or
// still opening. Past that, datagrams are dropped: UDP semantics, and one
// slow flow never holds up another.
const flowQueue = 256

// udpPort serves one forwarded UDP port. Each local client address is a flow
// carried on its own stream, so replies reach the client that asked.
type udpPort struct {
	c      *Client
	conn   *net.UDPConn
	target tunnel.Target
	log    *slog.Logger
	idle   time.Duration
	ctx    context.Context
	cancel context.CancelFunc

	traffic *traffic

	mu      sync.Mutex
	flows   map[netip.AddrPort]*udpFlow
	wg      sync.WaitGroup
	dropped atomic.Int64
}

// udpFlow is one client address's traffic.
type udpFlow struct {
	from netip.AddrPort
	out  chan []byte  // datagrams from the client, already framed for the stream
	last atomic.Int64 // unix nanoseconds of the last datagram either way
}

func (c *Client) serveUDP(conn *net.UDPConn, target tunnel.Target, log *slog.Logger, tr *traffic) *udpPort {
	ctx, cancel := context.WithCancel(context.Background())
	p := &udpPort{c: c, conn: conn, target: target, log: log, idle: c.opts.UDPFlowIdle,
		ctx: ctx, cancel: cancel, flows: map[netip.AddrPort]*udpFlow{}, traffic: tr}
	p.wg.Add(1)
	go p.readLoop()
	return p
}

func (p *udpPort) readLoop() {
	defer p.wg.Done()
	buf := make([]byte, tunnel.MaxDatagram)
	for {
		n, from, err := p.conn.ReadFromUDPAddrPort(buf)
		if err != nil {
			if p.ctx.Err() != nil || errors.Is(err, net.ErrClosed) {
				return
			}
			continue // ICMP errors from earlier replies; the socket is fine
		}
		f := p.flow(from)
		// Framed here, in the one copy a queued datagram needs anyway, so
		// the flow writes it as it is and holds no frame buffer of its own.
		// n never exceeds MaxDatagram, so framing cannot fail.
		frame, _ := tunnel.AppendDatagram(make([]byte, 0, 2+n), buf[:n])
		select {
		case f.out <- frame:
		default:
			if p.dropped.Add(1)%1000 == 1 {
				p.log.Warn("udp flow cannot keep up: dropping datagrams", "client", from.String(), "dropped_total", p.dropped.Load())
			}
		}
	}
}

// flow returns from's flow, starting it on first sight.
func (p *udpPort) flow(from netip.AddrPort) *udpFlow {
	p.mu.Lock()
	defer p.mu.Unlock()
	if f := p.flows[from]; f != nil {
		return f
	}
	f := &udpFlow{from: from, out: make(chan []byte, flowQueue)}
	f.touch()
	p.flows[from] = f
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.run(f)
		p.mu.Lock()
		delete(p.flows, from)
		p.mu.Unlock()
	}()
	return f
}

func (f *udpFlow) touch() { f.last.Store(time.Now().UnixNano()) }

// run opens the flow's stream, starts the reply reader and sends datagrams
// until the flow is idle, the stream fails or the port closes.
func (p *udpPort) run(f *udpFlow) {
	sess, err := p.c.link.session(p.ctx, p.c.opts.ConnectWait)
	if err != nil {
		p.log.Warn("dropping udp flow", "client", f.from.String(), "err", err)
		return
	}
	st, err := sess.Open(p.target)
	if err != nil {
		p.log.Warn("dropping udp flow", "client", f.from.String(), "err", err)
		return
	}
	defer st.Close()
	p.traffic.open.Add(1)
	defer p.traffic.open.Add(-1)
	replies := make(chan struct{})
	go func() {
		defer close(replies)
		p.replies(f, st)
	}()
	idle := time.NewTimer(p.idle)
	defer idle.Stop()
	for {
		select {
		case frame := <-f.out:
			f.touch()
			if _, err := st.Write(frame); err != nil {
				return
			}
			p.traffic.sent.Add(int64(len(frame) - 2)) // less the length prefix
		case <-idle.C:
			if rest := p.idle - time.Since(time.Unix(0, f.last.Load())); rest > 0 {
				idle.Reset(rest)
				continue
			}
			return
		case <-replies:
			return
		case <-p.ctx.Done():
			return
		}
	}
}

// replies writes the gateway's datagrams back to the flow's client.
func (p *udpPort) replies(f *udpFlow, st stream) {
	buf := make([]byte, tunnel.MaxDatagram)
	for {
		n, err := tunnel.ReadDatagram(st, buf)
		if err != nil {
			var se *tunnel.StreamError
			if errors.As(err, &se) {
				p.log.Warn(se.Message)
			}
			return
		}
		f.touch()
		if _, err := p.conn.WriteToUDPAddrPort(buf[:n], f.from); err == nil {
			p.traffic.received.Add(int64(n))
		}
	}
}

// stopAccepting ends the port at once: a UDP flow has no end to wait for.
func (p *udpPort) stopAccepting() { p.close() }

func (p *udpPort) drained() <-chan struct{} {
	done := make(chan struct{})
	close(done)
	return done
}

func (p *udpPort) close() {
	p.cancel()
	p.conn.Close()
	p.wg.Wait()
}
