package mux

import (
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

const (
	// longQueue caps the bytes a TCP socket holds unsent on a path that
	// is not local (see localRTT): past it the socket takes no more, so
	// bulk data waits in the session's writers, where small frames go
	// first (writeLock), instead of in a send buffer of megabytes that a
	// query's answer, coming now and then, would queue behind: on a
	// 100 Mbit/s link, 4 MiB is a third of a second.
	longQueue = 128 << 10
	// shortQueue is the cap while small frames share the session with
	// bulk ones (see sendQueue), on any path: a ping or a query then waits
	// behind this much at most.
	shortQueue = 16 << 10
	// localRTT is the round trip below which a path counts as local (the
	// same host, the same rack). There a capped queue costs throughput,
	// since the sender is woken for every few frames and the CPU is what
	// limits (16 KiB cost a quarter of one stream's loopback throughput in
	// fwdbench, even 512 KiB a tenth), while an uncapped one drains in
	// milliseconds; so the socket keeps its own setting there except while
	// the traffic is mixed. On a longer path the wake-ups are rare and
	// the drain is slow: the cap stays.
	localRTT = 200 // µs
	// rcvBufFloor is the smallest receive buffer set on a short path: on
	// loopback, a ping beside bulk streams waits behind at most this much
	// in the receiver, and fwdbench's throughput was the untuned socket's.
	rcvBufFloor = 64 << 10
	// fastLink is the link speed a clamped receive buffer must still
	// carry: 10 Gbit/s, in bytes per µs.
	fastLink = 1250
	// autoTuneCeiling is about where the kernel's receive autotuning
	// stops (tcp_rmem's default maximum is 6 MiB): a path that needs
	// more is left to it.
	autoTuneCeiling = 4 << 20
)

// tuneSocket keeps the bytes queued in the kernel for conn short when conn
// is TCP (or TLS over TCP): every small frame waits, in order, behind what
// is queued there, whatever the session's writers decide. On loopback
// under load fwdbench found 1.7 MB unsent at the sender and 1 MB in the
// receiver's buffer, each way: tens of milliseconds for a ping. The
// receive buffer is clamped here once, and on a path that is not local
// the send queue to longQueue; it is cut to shortQueue while the traffic
// is mixed (sendQueue).
func tuneSocket(conn net.Conn) sendQueue {
	for range 4 { // unwrap a few layers at most
		nc, ok := conn.(interface{ NetConn() net.Conn })
		if !ok {
			break
		}
		conn = nc.NetConn()
	}
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return sendQueue{}
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return sendQueue{}
	}
	q := sendQueue{born: time.Now()}
	// Failures (an old kernel, a socket that is not TCP) leave the
	// defaults, which are only slower under load.
	rc.Control(func(fd uintptr) {
		info, err := unix.GetsockoptTCPInfo(int(fd), unix.IPPROTO_TCP, unix.TCP_INFO)
		if err != nil {
			return
		}
		if n := rcvBufFor(info.Min_rtt); n > 0 {
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, n)
		}
		own, err := unix.GetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT)
		if err != nil {
			return
		}
		long := queueFor(info.Min_rtt, own)
		if long != own && unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, long) != nil {
			return
		}
		q.setLowat = func(short bool) {
			n := long
			if short {
				n = shortQueue
			}
			rc.Control(func(fd uintptr) {
				unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_NOTSENT_LOWAT, n)
			})
		}
	})
	return q
}

// queueFor is the send queue's cap when the traffic is not mixed, on a
// path whose shortest round trip is minRTT µs, for a socket whose own
// setting is own.
func queueFor(minRTT uint32, own int) int {
	if minRTT < localRTT {
		return own
	}
	return longQueue
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
