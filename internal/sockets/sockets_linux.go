package sockets

import (
	"encoding/binary"
	"net/netip"
)

var system = procFS{root: "/proc", order: binary.NativeEndian}

// List returns every listening TCP socket and every unconnected (bound,
// server-side) UDP socket of this network namespace, IPv4 and IPv6, sorted by
// network, port and address. Owners are found in one scan of /proc/*/fd;
// sockets whose process this user may not inspect have PID 0.
func List() ([]Listener, error) {
	return system.list()
}

// Holder finds what stops ap from being bound for network ("tcp" or "udp";
// "tcp4" and the like are accepted): a socket bound to exactly that address,
// else a wildcard one (0.0.0.0, or [::], taken as dual stack) on that port
// that covers it; for a wildcard ap, any socket on the port. For TCP only
// listening sockets count: connections, in TIME_WAIT or not, do not stop a
// listener with SO_REUSEADDR, which Go sets. For UDP a connected socket counts
// too, since it holds its port as well. ok is false when nothing is found.
// Only the chosen socket's owner is looked up; when it belongs to another
// user and this process is not root, ok is true with PID 0 and UID set.
func Holder(network string, ap netip.AddrPort) (l Listener, ok bool, err error) {
	return system.holder(network, ap)
}
