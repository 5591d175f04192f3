package doctor

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
)

// Lo0Aliases checks that each address is configured on lo0: macOS routes
// only 127.0.0.1 until an alias is added, so fwd's own loopback addresses
// need one each. The fix is the exact commands.
func Lo0Aliases(addrs []netip.Addr) []Finding {
	have := map[netip.Addr]bool{}
	if ifc, err := net.InterfaceByName("lo0"); err == nil {
		if as, err := ifc.Addrs(); err == nil {
			for _, a := range as {
				if p, err := netip.ParsePrefix(a.String()); err == nil {
					have[p.Addr()] = true
				}
			}
		}
	}
	var missing []string
	for _, a := range addrs {
		if !have[a] && a != netip.AddrFrom4([4]byte{127, 0, 0, 1}) {
			missing = append(missing, a.String())
		}
	}
	if len(missing) == 0 {
		return []Finding{{Check: CheckLo0, Severity: OK, Message: fmt.Sprintf("lo0 has every address fwd's forwards use (%d)", len(addrs))}}
	}
	var cmds []string
	for _, a := range missing {
		cmds = append(cmds, "sudo ifconfig lo0 alias "+a+" up")
	}
	return []Finding{{Check: CheckLo0, Severity: Problem,
		Message: fmt.Sprintf("lo0 lacks %d of the addresses fwd's forwards use (%s): macOS routes only 127.0.0.1 until an alias is added, so fwd would fall back to 127.0.0.1 with other ports", len(missing), strings.Join(missing, ", ")),
		Fix:     strings.Join(cmds, "; ")}}
}
