package sockets

import (
	"net/netip"
	"testing"
)

func TestBlocks(t *testing.T) {
	for _, c := range []struct {
		l    Listener
		want string
	}{
		{Listener{Network: "tcp", Addr: netip.MustParseAddrPort("0.0.0.0:6379"), PID: 4242, Program: "redis-server"},
			"is held on every loopback address by pid 4242 (redis-server), listening on 0.0.0.0:6379"},
		{Listener{Network: "tcp", Addr: netip.MustParseAddrPort("[::]:80"), UID: 33},
			"is held on every loopback address by a process of uid 33, listening on [::]:80"},
		{Listener{Network: "udp", Addr: netip.MustParseAddrPort("127.1.2.3:53"), PID: 7, Program: "dnsmasq"},
			"is already in use by pid 7 (dnsmasq)"},
	} {
		if got := c.l.Blocks(); got != c.want {
			t.Errorf("%v: %q, want %q", c.l.Addr, got, c.want)
		}
		if c.l.EveryAddress() != c.l.Addr.Addr().IsUnspecified() {
			t.Errorf("%v: EveryAddress %v", c.l.Addr, c.l.EveryAddress())
		}
	}
}
