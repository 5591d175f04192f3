package mux

import (
	"net"
	"syscall"

	"golang.org/x/sys/unix"
)

const (
	// notSentLowat caps the bytes a TCP socket holds that are not sent
	// yet: past it the socket does not take more, so bulk data waits in
	// the session's writers, where small frames go first (writeLock),
	// instead of in a send buffer of megabytes that they would queue
	// behind. Two bulk frames' worth keeps the link busy: with 16 KiB
	// (and a 64 KiB receive buffer) one stream's loopback throughput fell
	// by a quarter; 128 KiB with 128 KiB costs a few percent and keeps
	// most of the gain under load (fwdbench, see the commit that set it).
	notSentLowat = 128 << 10
	// rcvBufFloor is the smallest receive buffer set on a short path.
	rcvBufFloor = 128 << 10
	// fastLink is the link speed a clamped receive buffer must still
	// carry: 10 Gbit/s, in bytes per µs.
	fastLink = 1250
	// autoTuneCeiling is about where the kernel's receive autotuning
	// stops (tcp_rmem's default maximum is 6 MiB): a path that needs
	// more is left to it.
	autoTuneCeiling = 4 << 20
)

// tuneSocket keeps the bytes queued in the kernel for conn short when conn
// is TCP (or TLS over TCP). Every small frame waits, in order, behind what
// is queued there, whatever the session's writers decide. On loopback
// under load fwdbench found 1.7 MB unsent at the sender and 1 MB in the
// receiver's buffer, each way: tens of milliseconds for a ping.
func tuneSocket(conn net.Conn) {
	for range 4 { // unwrap a few layers at most
		nc, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = nc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return
	}
	// Failures (an old kernel, a socket that is not TCP) leave the
	// defaults, which are only slower under load.
	rc.Control(func(fd uintptr) {
		unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, notSentLowat)
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return
		}
		if n := rcvBufFor(info.Min_rtt); n > 0 {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
	})
}

// rcvBufFor is the receive buffer for a path whose shortest round trip so
// far (the TCP and TLS handshakes) is minRTT µs: twice what fastLink needs
// over it, at least rcvBufFloor; 0, autotuning left alone, when that is
// beyond what autotuning reaches anyway. A receiver that falls behind (on
// a busy machine, the session's one receive loop against its many writers)
// otherwise lets autotuning grow the buffer to megabytes of queue on a
// path that needs kilobytes. A long path (the 50 ms link of fwdbench needs
// 16 MB) keeps autotuning.
func rcvBufFor(minRTT uint32) int {
	need := 2 * int64(minRTT) * fastLink
	if need > autoTuneCeiling {
		return 0
	}
	return max(int(need), rcvBufFloor)
}
