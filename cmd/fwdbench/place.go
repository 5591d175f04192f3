package main

import (
	"net"

	"github.com/fwd-dev/fwd/internal/bench"
)

// place is where a process runs and where connections are made from: the
// benchmark's own network namespace, or one side of a delayed TUN link.
type place struct {
	ns   string         // network namespace for ip netns exec; "" is ours
	host string         // the address servers listen on there
	dial bench.DialFunc // connects from there
	// listen listens there; freePort uses it.
	listen func(addr string) (net.Listener, error)
}

// hostPlace is the benchmark's own namespace, on loopback.
var hostPlace = place{
	host:   "127.0.0.1",
	dial:   bench.Dial,
	listen: func(addr string) (net.Listener, error) { return net.Listen("tcp", addr) },
}

// linkPlace is side s of link l; servers there listen on host.
func linkPlace(l *bench.Link, s bench.Side, host string) place {
	return place{
		ns:     l.Namespace(s),
		host:   host,
		dial:   l.Dialer(s),
		listen: func(addr string) (net.Listener, error) { return l.Listen(s, addr) },
	}
}

// command returns bin and args to run inside the place's namespace.
func (pl place) command(bin string, args ...string) (string, []string) {
	if pl.ns == "" {
		return bin, args
	}
	// ip netns exec execs the command itself (no fork), so the child's pid,
	// signals and parent-death signal are the command's own.
	return "ip", append([]string{"netns", "exec", pl.ns, bin}, args...)
}
