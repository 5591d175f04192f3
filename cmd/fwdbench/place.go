package main

import (
	"github.com/fwd-dev/fwd/internal/bench"
)

// place is where a process runs and where connections are made from: the
// benchmark's own network namespace, or one side of a delayed TUN link.
type place struct {
	ns   string         // network namespace for ip netns exec; "" is ours
	host string         // the address servers listen on there
	dial bench.DialFunc // connects from there
}

// hostPlace is the benchmark's own namespace, on loopback.
var hostPlace = place{host: "127.0.0.1", dial: bench.Dial}

// linkPlace is side s of link l; servers there listen on host.
func linkPlace(l *bench.Link, s bench.Side, host string) place {
	return place{ns: l.Namespace(s), host: host, dial: l.Dialer(s)}
}

// command returns the argv that runs bin with args inside the place's
// namespace.
func (pl place) command(bin string, args ...string) []string {
	argv := append([]string{bin}, args...)
	if pl.ns == "" {
		return argv
	}
	// ip netns exec execs the command itself (no fork), so the child's pid,
	// signals and parent-death signal are the command's own.
	return append([]string{"ip", "netns", "exec", pl.ns}, argv...)
}
