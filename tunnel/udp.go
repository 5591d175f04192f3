package tunnel

import (
	"errors"
	"log/slog"
	"net"
	"os"
	"syscall"
	"time"

	"github.com/fwd-dev/fwd/internal/mux"
)

// relayUDP carries one UDP flow: datagrams framed on the stream go to the
// target through a connected UDP socket (so that only the target's replies
// come back), and replies go back framed. The flow ends when the client
// closes the stream or nothing moves for idle.
func relayUDP(st *mux.Stream, target *net.UDPConn, idle time.Duration, log *slog.Logger) {
	defer target.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		replies(st, target, idle, log)
	}()
	buf := make([]byte, MaxDatagram)
	for {
		if idle > 0 {
			st.SetReadDeadline(time.Now().Add(idle))
		}
		n, err := ReadDatagram(st, buf)
		if err != nil {
			break
		}
		// A target that refuses (ICMP unreachable) fails this one datagram,
		// as it would without fwd in between; the flow goes on.
		target.Write(buf[:n])
	}
	target.Close()
	<-done
}

// replies sends the target's datagrams back on the stream. A slow client
// blocks only this flow; meanwhile the kernel drops what overflows the
// socket's buffer, which is what UDP promises.
func replies(st *mux.Stream, target *net.UDPConn, idle time.Duration, log *slog.Logger) {
	defer st.Close()
	buf := make([]byte, 2+MaxDatagram)
	for {
		if idle > 0 {
			target.SetReadDeadline(time.Now().Add(idle))
		}
		n, err := target.Read(buf[2:])
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return
		}
		if errors.Is(err, syscall.ECONNREFUSED) {
			continue // ICMP port unreachable after an earlier send
		}
		if err != nil {
			return
		}
		frame, _ := AppendDatagram(buf[:0], buf[2:2+n])
		if _, err := st.Write(frame); err != nil {
			log.Debug("udp flow ended", "err", err)
			return
		}
	}
}
