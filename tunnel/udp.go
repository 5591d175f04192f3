package tunnel

import (
	"errors"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
)

// relayUDP carries one UDP flow: datagrams framed on the stream go to the
// target through a connected UDP socket (so that only the target's replies
// come back), and replies go back framed. The flow ends when the client
// closes the stream or nothing moves either way for idle: a one-way flow
// (statsd, syslog) is as alive as a chatty one.
func relayUDP(st *mux.Stream, target *net.UDPConn, idle time.Duration, log *slog.Logger) {
	defer target.Close()
	clock := watchIdle(idle, func() {
		// Both loops take a passed deadline as their end.
		st.SetReadDeadline(time.Unix(1, 0))
		target.SetReadDeadline(time.Unix(1, 0))
	})
	defer clock.stop()
	done := make(chan struct{})
	go func() {
		defer close(done)
		replies(st, target, clock, log)
	}()
	buf := make([]byte, MaxDatagram)
	for {
		n, err := ReadDatagram(st, buf)
		if err != nil {
			break
		}
		clock.touch()
		// A target that refuses (ICMP unreachable) fails this one datagram,
		// as it would without fwd in between; the flow goes on.
		target.Write(buf[:n])
	}
	target.Close()
	<-done
}

// idleClock is a flow's last movement in either direction, and the timer
// that ends the flow once neither direction moved for idle. One timer per
// flow, checked when it fires, costs less than a deadline set per datagram.
type idleClock struct {
	idle time.Duration
	last atomic.Int64 // unix ns

	mu    sync.Mutex  // orders setting timer with its callback's Reset
	timer *time.Timer // nil when idle is 0: flows never expire
}

func watchIdle(idle time.Duration, end func()) *idleClock {
	c := &idleClock{idle: idle}
	c.touch()
	if idle > 0 {
		c.mu.Lock()
		c.timer = time.AfterFunc(idle, func() { c.check(end) })
		c.mu.Unlock()
	}
	return c
}

// check runs when the timer fires: it waits on if either direction moved
// meanwhile, else ends the flow.
func (c *idleClock) check(end func()) {
	if left := time.Until(time.Unix(0, c.last.Load()).Add(c.idle)); left > 0 {
		c.mu.Lock()
		c.timer.Reset(left)
		c.mu.Unlock()
		return
	}
	end()
}

func (c *idleClock) touch() { c.last.Store(time.Now().UnixNano()) }

func (c *idleClock) stop() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.timer != nil {
		c.timer.Stop()
	}
}

// replies sends the target's datagrams back on the stream. A slow client
// blocks only this flow; meanwhile the kernel drops what overflows the
// socket's buffer, which is what UDP promises.
func replies(st *mux.Stream, target *net.UDPConn, clock *idleClock, log *slog.Logger) {
	defer st.Close()
	buf := make([]byte, 2+MaxDatagram)
	for {
		n, err := target.Read(buf[2:])
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue // ICMP port unreachable after an earlier send
		}
		if err != nil {
			return
		}
		clock.touch()
		frame, _ := AppendDatagram(buf[:0], buf[2:2+n])
		if _, err := st.Write(frame); err != nil {
			log.Debug("udp flow ended", "err", err)
			return
		}
	}
}
