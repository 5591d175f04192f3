package doctor

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/fwd-dev/fwd/internal/sockets"
)

// Forward is one port a forward would bind: its label ("shop/addon:db
// postgres"), its number and network, and the loopback addresses fwd
// tries for its resource, in order.
type Forward struct {
	Label      string
	Port       uint16
	Network    string // "tcp" or "udp"
	Candidates []netip.Addr
}

// HolderFunc finds what holds a port: sockets.Holder, or a test's own.
type HolderFunc func(network string, ap netip.AddrPort) (sockets.Listener, bool, error)

// Conflicts says, for each forward, whether its port is free on the first
// of its addresses, only on a later one, or nowhere, and who holds it, in
// the words of the forward's own note (sockets.Listener.Blocks).
func Conflicts(fws []Forward, holder HolderFunc) []Finding {
	var out []Finding
	for _, fw := range fws {
		if f, ok := conflict(fw, holder); ok {
			out = append(out, f)
		}
	}
	return out
}

func conflict(fw Forward, holder HolderFunc) (Finding, bool) {
	if len(fw.Candidates) == 0 {
		return Finding{}, false
	}
	first, held, err := holder(fw.Network, netip.AddrPortFrom(fw.Candidates[0], fw.Port))
	if err != nil {
		return Finding{Check: CheckForward, Severity: Info, Message: fmt.Sprintf("cannot tell who holds port %d here: %v", fw.Port, err)}, true
	}
	if !held {
		return Finding{}, false
	}
	f := Finding{Check: CheckForward, PID: first.PID, Program: first.Program}
	port := fmt.Sprintf("%s/%d of %s", strings.ToUpper(fw.Network), fw.Port, fw.Label)
	switch {
	case first.Program == "fwd":
		f.Severity = Info
		f.Message = fmt.Sprintf("%s is forwarded already, by %s on %s", port, first.Describe(), first.Addr)
	case first.EveryAddress():
		f.Severity = Problem
		f.Message = fmt.Sprintf("%s %s: fwd would forward it on another port, and give %s no hostnames", port, first.Blocks(), resourceOf(fw.Label))
		f.Fix = fmt.Sprintf("stop that server, or make it listen on 127.0.0.1 only (not %s), so that %d is free on fwd's own address %s", first.Addr.Addr(), fw.Port, fw.Candidates[0])
	default:
		return movedOrBlocked(fw, first, holder, port), true
	}
	return f, true
}

// movedOrBlocked is a port held on the resource's own address: fwd moves
// the whole resource to its next free address, the same one on every run.
func movedOrBlocked(fw Forward, first sockets.Listener, holder HolderFunc, port string) Finding {
	f := Finding{Check: CheckForward, PID: first.PID, Program: first.Program}
	for _, a := range fw.Candidates[1:] {
		if _, held, err := holder(fw.Network, netip.AddrPortFrom(a, fw.Port)); err == nil && !held {
			f.Severity = Warning
			f.Message = fmt.Sprintf("%s %s on %s, its own address: fwd would use its next address, %s", port, first.Blocks(), fw.Candidates[0], a)
			f.Fix = fmt.Sprintf("nothing needed; for the usual address, stop %s", first.Describe())
			return f
		}
	}
	f.Severity = Problem
	f.Message = fmt.Sprintf("%s %s on %s and on every other address fwd tries: fwd would forward it on another port, without hostnames", port, first.Blocks(), fw.Candidates[0])
	f.Fix = "stop the processes that listen on those addresses (ss -tlnp sport = :" + fmt.Sprint(fw.Port) + ")"
	return f
}

// resourceOf is "shop/addon:db" of a label "shop/addon:db postgres".
func resourceOf(label string) string {
	r, _, _ := strings.Cut(label, " ")
	return r
}

// Privileged warns of the ports below start, the first port this user may
// bind (1024, or net.ipv4.ip_unprivileged_port_start), when it lacks root
// or CAP_NET_BIND_SERVICE.
func Privileged(fws []Forward, start uint16, mayBindLow bool) []Finding {
	if mayBindLow {
		return nil
	}
	var out []Finding
	for _, fw := range fws {
		if fw.Port >= start {
			continue
		}
		out = append(out, Finding{
			Check:    CheckReachability,
			Severity: Warning,
			Message:  fmt.Sprintf("%s/%d of %s needs root here (ports below %d do): fwd would forward it on another port, without hostnames", strings.ToUpper(fw.Network), fw.Port, fw.Label, start),
			Fix:      "run fwd with sudo, or let it bind low ports: sudo setcap cap_net_bind_service=+ep \"$(command -v fwd)\"",
		})
	}
	return out
}

// Exposed checks ports the user means to expose to other machines: a
// server that listens on loopback only cannot be reached from them.
func Exposed(ports []uint16, ls []sockets.Listener) []Finding {
	var out []Finding
	for _, port := range ports {
		out = append(out, exposed(port, ls))
	}
	return out
}

func exposed(port uint16, ls []sockets.Listener) Finding {
	var on, outside []sockets.Listener
	for _, l := range ls {
		if l.Addr.Port() != port {
			continue
		}
		on = append(on, l)
		if !l.Addr.Addr().IsLoopback() {
			outside = append(outside, l)
		}
	}
	switch {
	case len(on) == 0:
		return Finding{Check: CheckReachability, Severity: Problem,
			Message: fmt.Sprintf("nothing listens on port %d (TCP or UDP)", port),
			Fix:     "start the server, or check which port it listens on: fwd doctor lists them all"}
	case len(outside) == 0:
		l := on[0]
		return Finding{Check: CheckReachability, Severity: Problem, PID: l.PID, Program: l.Program,
			Message: fmt.Sprintf("port %d listens on %s only (%s): other machines, containers and the gateway cannot reach it", port, l.Addr.Addr(), l.Describe()),
			Fix:     "make the server listen on 0.0.0.0 (or this machine's address), as in --host 0.0.0.0, HOST=0.0.0.0 or bind 0.0.0.0"}
	}
	l := outside[0]
	return Finding{Check: CheckReachability, Severity: OK, PID: l.PID, Program: l.Program,
		Message: fmt.Sprintf("port %d listens on %s (%s): reachable from other machines, if no firewall stops them", port, l.Addr, l.Describe())}
}
