// Package sockets tells which sockets are listening on this machine and which
// process holds them, like ss -tulnp, so that fwd can say who is in the way
// of a port instead of only "address already in use".
package sockets

import (
	"fmt"
	"net/netip"
)

// Listener is one listening TCP socket or bound UDP socket.
type Listener struct {
	Network string         // "tcp" or "udp"
	Addr    netip.AddrPort // as bound: 0.0.0.0:6379, [::]:80, 127.0.0.1:5432; IPv4-mapped addresses unmapped
	Inode   uint64         // Linux socket inode, 0 where unknown
	UID     int            // owner uid, -1 where unknown
	PID     int            // 0 when not readable, as for another user's process without root
	Program string         // process name from /proc/PID/comm, "" when unknown
}

// Describe names the holder as precisely as the caller may know it, for a
// user-facing note such as "port 5432 is held by pid 4242 (postgres)". The
// zero Listener reads "a process of uid 0", so use it only on one that List
// or Holder returned.
func (l Listener) Describe() string {
	switch {
	case l.PID > 0 && l.Program != "":
		return fmt.Sprintf("pid %d (%s)", l.PID, l.Program)
	case l.PID > 0:
		return fmt.Sprintf("pid %d", l.PID)
	case l.UID >= 0:
		return fmt.Sprintf("a process of uid %d", l.UID)
	}
	return "another process"
}

// baseNetwork accepts the net package's names so that callers can pass the
// network they failed to bind as is.
func baseNetwork(network string) (string, error) {
	switch network {
	case "tcp", "tcp4", "tcp6":
		return "tcp", nil
	case "udp", "udp4", "udp6":
		return "udp", nil
	}
	return "", fmt.Errorf("sockets: unsupported network %q", network)
}
