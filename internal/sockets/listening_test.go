package sockets

import (
	"errors"
	"net/netip"
	"runtime"
	"testing"
)

func TestListeningTCPFixture(t *testing.T) {
	p := writeFixture(t)
	ls, err := p.listeningTCP()
	if err != nil {
		t.Fatalf("listeningTCP: %v", err)
	}
	// The TCP sockets of TestParseFixture, by port then address, and no
	// owners until asked for.
	want := []Listener{
		{Network: "tcp", Addr: netip.MustParseAddrPort("[2001:db8::1]:443"), Inode: 1003, UID: 33},
		{Network: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5432"), Inode: 1002, UID: 998},
		{Network: "tcp", Addr: netip.MustParseAddrPort("0.0.0.0:8080"), Inode: 1007, UID: 1000},
		{Network: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:8080"), Inode: 1006, UID: 1000},
		{Network: "tcp", Addr: netip.MustParseAddrPort("[::]:8080"), Inode: 1001, UID: 1000},
	}
	if len(ls) != len(want) {
		t.Fatalf("listed %d sockets, want %d:\ngot  %+v\nwant %+v", len(ls), len(want), ls, want)
	}
	for i := range want {
		if ls[i] != want[i] {
			t.Errorf("socket %d:\ngot  %+v\nwant %+v", i, ls[i], want[i])
		}
	}

	some := []Listener{ls[1], ls[4], ls[0]}
	p.fillOwners(some)
	if some[0].PID != 100 || some[0].Program != "postgres" {
		t.Errorf("owner of inode 1002: %+v, want the lowest pid sharing it, 100 (postgres)", some[0])
	}
	if some[1].PID != 300 || some[1].Program != "caddy" {
		t.Errorf("owner of inode 1001: %+v, want 300 (caddy), not the pipe of 700", some[1])
	}
	if some[2].PID != 0 || some[2].Program != "" {
		t.Errorf("inode 1003 has no fd in the fixture, got owner %+v", some[2])
	}
	p.fillOwners(nil) // nothing to find: must not scan or fail
}

func TestListeningTCPFindsOwnListener(t *testing.T) {
	needLinux(t)
	ap := listenTCP(t, "tcp4", "127.0.0.1:0")
	udp := listenUDP(t, "127.0.0.1:0")
	ls, err := ListeningTCP()
	if err != nil {
		t.Fatal(err)
	}
	var mine []Listener
	for _, l := range ls {
		if l.Network != "tcp" {
			t.Errorf("ListeningTCP listed %+v", l)
		}
		if l.Addr == udp {
			t.Errorf("ListeningTCP listed the UDP socket on %v as %+v", udp, l)
		}
		if l.Addr == ap {
			mine = append(mine, l)
		}
	}
	if len(mine) != 1 {
		t.Fatalf("ListeningTCP found %d sockets on %v, want 1: %+v", len(mine), ap, ls)
	}
	if mine[0].PID != 0 {
		t.Errorf("ListeningTCP looked the owner up: %+v", mine[0])
	}
	FillOwners(mine)
	checkOurs(t, mine[0])
}

func TestListeningTCPUnsupported(t *testing.T) {
	if runtime.GOOS == "linux" || runtime.GOOS == "android" {
		t.Skip("supported here")
	}
	if _, err := ListeningTCP(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("ListeningTCP error = %v, want ErrUnsupported", err)
	}
}
