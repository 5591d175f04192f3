package sockets

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"testing"
)

// needLinux skips where List and Holder are unsupported; TestUnsupported
// covers those systems.
func needLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" && runtime.GOOS != "android" {
		t.Skipf("sockets are only inspected on Linux, not %s", runtime.GOOS)
	}
}

// ownComm is what the kernel puts in /proc/self/comm for an exec'd binary:
// its base name cut to 15 bytes. Derived from os.Args rather than read from
// /proc so that the test does not check the code against itself.
func ownComm() string {
	name := filepath.Base(os.Args[0])
	return name[:min(len(name), 15)]
}

func addrPort(t *testing.T, a net.Addr) netip.AddrPort {
	t.Helper()
	ap, err := netip.ParseAddrPort(a.String())
	if err != nil {
		t.Fatal(err)
	}
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func listenTCP(t *testing.T, network, addr string) netip.AddrPort {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return addrPort(t, ln.Addr())
}

func listenUDP(t *testing.T, addr string) netip.AddrPort {
	t.Helper()
	pc, err := net.ListenPacket("udp4", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { pc.Close() })
	return addrPort(t, pc.LocalAddr())
}

// checkOurs fails unless l was opened by this test process.
func checkOurs(t *testing.T, l Listener) {
	t.Helper()
	if l.PID != os.Getpid() || l.Program != ownComm() || l.UID != os.Getuid() || l.Inode == 0 {
		t.Errorf("got %+v, want pid %d (%s), uid %d and an inode", l, os.Getpid(), ownComm(), os.Getuid())
	}
}

func TestListFindsOwnSockets(t *testing.T) {
	needLinux(t)
	type want struct {
		network string
		ap      netip.AddrPort
	}
	wants := []want{
		{"tcp", listenTCP(t, "tcp4", "127.0.0.1:0")},
		{"udp", listenUDP(t, "127.0.0.1:0")},
	}
	if ln, err := net.Listen("tcp6", "[::1]:0"); err != nil {
		t.Logf("no IPv6 loopback, not checking it: %v", err)
	} else {
		t.Cleanup(func() { ln.Close() })
		wants = append(wants, want{"tcp", addrPort(t, ln.Addr())})
	}
	ls, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, w := range wants {
		t.Run(w.network+" "+w.ap.String(), func(t *testing.T) {
			for _, l := range ls {
				if l.Network == w.network && l.Addr == w.ap {
					checkOurs(t, l)
					return
				}
			}
			t.Errorf("%s %v not in the %d sockets listed", w.network, w.ap, len(ls))
		})
	}
}

func TestListSkipsConnectedUDP(t *testing.T) {
	needLinux(t)
	server := listenUDP(t, "127.0.0.1:0")
	conn, err := net.Dial("udp4", server.String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	client := addrPort(t, conn.LocalAddr())
	ls, err := List()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range ls {
		if l.Network == "udp" && l.Addr == client {
			t.Errorf("connected client socket %v listed as %+v", client, l)
		}
	}
	// It does hold its port, though, so Holder must report it.
	if l, ok, err := Holder("udp", client); err != nil || !ok || l.Addr != client {
		t.Errorf("Holder(udp, %v) = %+v, %v, %v; want the client socket", client, l, ok, err)
	}
}

func TestHolderExact(t *testing.T) {
	needLinux(t)
	ap := listenTCP(t, "tcp4", "127.3.4.5:0")
	l, ok, err := Holder("tcp", ap)
	if err != nil || !ok {
		t.Fatalf("Holder(tcp, %v) = %+v, %v, %v; want this process", ap, l, ok, err)
	}
	if l.Addr != ap || l.Network != "tcp" {
		t.Errorf("holder bound to %s %v, want tcp %v", l.Network, l.Addr, ap)
	}
	checkOurs(t, l)
}

func TestHolderWildcard(t *testing.T) {
	needLinux(t)
	cases := []struct{ name, network, addr, want string }{
		{"IPv4 wildcard", "tcp4", "0.0.0.0:0", "0.0.0.0"},
		// Go's "tcp" on 0.0.0.0 opens a dual-stack socket on [::].
		{"dual-stack wildcard", "tcp", "0.0.0.0:0", "::"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			ln, err := net.Listen(c.network, c.addr)
			if err != nil {
				t.Skipf("cannot listen: %v", err)
			}
			defer ln.Close()
			port := addrPort(t, ln.Addr()).Port()
			target := netip.AddrPortFrom(netip.MustParseAddr("127.9.9.9"), port)
			l, ok, err := Holder("tcp", target)
			if err != nil || !ok {
				t.Fatalf("Holder(tcp, %v) = %+v, %v, %v; want the wildcard listener", target, l, ok, err)
			}
			if want := netip.AddrPortFrom(netip.MustParseAddr(c.want), port); l.Addr != want {
				t.Errorf("holder bound to %v, want %v", l.Addr, want)
			}
			checkOurs(t, l)
		})
	}
}

func TestHolderFreePort(t *testing.T) {
	needLinux(t)
	ln, err := net.Listen("tcp4", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ap := addrPort(t, ln.Addr())
	ln.Close()
	if l, ok, err := Holder("tcp", ap); err != nil || ok {
		t.Errorf("Holder(tcp, %v) after close = %+v, %v, %v; want nothing", ap, l, ok, err)
	}
}

func TestHolderNetworksApart(t *testing.T) {
	needLinux(t)
	tcp := listenTCP(t, "tcp4", "127.0.0.1:0")
	if l, ok, err := Holder("udp", tcp); err != nil || ok {
		t.Errorf("Holder(udp, %v) = %+v, %v, %v; a TCP listener must not count", tcp, l, ok, err)
	}
	udp := listenUDP(t, "127.0.0.1:0")
	if l, ok, err := Holder("udp4", udp); err != nil || !ok || l.Network != "udp" {
		t.Errorf("Holder(udp4, %v) = %+v, %v, %v; want the UDP socket", udp, l, ok, err)
	} else {
		checkOurs(t, l)
	}
	if _, _, err := Holder("unix", udp); err == nil {
		t.Error("Holder(unix, ...) succeeded; want an error")
	}
}

func TestUnsupported(t *testing.T) {
	if runtime.GOOS == "linux" || runtime.GOOS == "android" {
		t.Skip("supported here")
	}
	if _, err := List(); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("List error = %v, want ErrUnsupported", err)
	}
	if _, _, err := Holder("tcp", netip.MustParseAddrPort("127.0.0.1:80")); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Holder error = %v, want ErrUnsupported", err)
	}
}

// tcp6Fixture was laid out by a little-endian kernel. Rows: [::]:8080,
// ::ffff:127.0.0.1:5432, [2001:db8::1]:443, an established [::1]:8080
// connection, a line that is no socket at all and one with a bad address.
const tcp6Fixture = `  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000000000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1001 1 0000000000000000 100 0 0 10 0
   1: 0000000000000000FFFF00000100007F:1538 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000   998        0 1002 1 0000000000000000 100 0 0 10 0
   2: B80D0120000000000000000001000000:01BB 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000    33        0 1003 1 0000000000000000 100 0 0 10 0
   3: 00000000000000000000000001000000:1F90 00000000000000000000000001000000:D431 01 00000000:00000000 00:00000000 00000000  1000        0 1004 1 0000000000000000 20 4 30 10 -1
   4: this line is not a socket
   5: 0000000000000000FFFF0000ZZ00007F:0050 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1005 1 0000000000000000 100 0 0 10 0
`

// tcpFixture rows: 127.0.0.1:8080 and 0.0.0.0:8080, beside tcp6Fixture's
// [::]:8080, and a TIME_WAIT remnant, which has no inode.
const tcpFixture = `   0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1006 1 0000000000000000 100 0 0 10 0
   1: 00000000:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 1007 1 0000000000000000 100 0 0 10 0
   2: 0100007F:0016 0100007F:A0B2 06 00000000:00000000 03:00000F6B 00000000     0        0 0 3 0000000000000000
`

// writeFixture builds a /proc with tcpFixture, tcp6Fixture, an empty udp, no udp6
// (as with IPv6 disabled) and processes: 100 and its worker 4242 share
// socket 1002, 300 holds 1001, 555 has exited, 700 has a pipe whose number
// is 1001.
func writeFixture(t *testing.T) procFS {
	t.Helper()
	root := t.TempDir()
	const header = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
	files := map[string]string{
		"net/tcp": header + tcpFixture, "net/udp": header, "net/tcp6": tcp6Fixture,
		"100/comm": "postgres\n", "4242/comm": "postgres\n", "300/comm": "caddy\n", "700/comm": "cat\n",
	}
	links := map[string]string{
		"100/fd/5": "socket:[1002]", "100/fd/6": "/dev/null", "4242/fd/5": "socket:[1002]",
		"300/fd/9": "socket:[1001]", "700/fd/1": "pipe:[1001]", "self": "100",
	}
	for name, text := range files {
		write(t, filepath.Join(root, name), text)
	}
	os.MkdirAll(filepath.Join(root, "555"), 0o755)
	for name, target := range links {
		path := filepath.Join(root, name)
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.Symlink(target, path); err != nil {
			t.Skipf("cannot make the fixture's fd links: %v", err)
		}
	}
	return procFS{root: root, order: binary.LittleEndian}
}

func write(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestParseFixture(t *testing.T) {
	ls, err := writeFixture(t).list()
	if err != nil {
		t.Fatalf("list: %v; a bad line must not fail the listing", err)
	}
	want := []Listener{
		{Network: "tcp", Addr: netip.MustParseAddrPort("[2001:db8::1]:443"), Inode: 1003, UID: 33},
		{Network: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:5432"), Inode: 1002, UID: 998, PID: 100, Program: "postgres"},
		{Network: "tcp", Addr: netip.MustParseAddrPort("0.0.0.0:8080"), Inode: 1007, UID: 1000},
		{Network: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:8080"), Inode: 1006, UID: 1000},
		{Network: "tcp", Addr: netip.MustParseAddrPort("[::]:8080"), Inode: 1001, UID: 1000, PID: 300, Program: "caddy"},
	}
	if len(ls) != len(want) {
		t.Fatalf("listed %d sockets, want %d:\ngot  %+v\nwant %+v", len(ls), len(want), ls, want)
	}
	for i := range want {
		if ls[i] != want[i] {
			t.Errorf("socket %d:\ngot  %+v\nwant %+v", i, ls[i], want[i])
		}
	}
}

func TestHolderFixture(t *testing.T) {
	p := writeFixture(t)
	cases := []struct {
		network, target string
		inode           uint64 // 0: nothing holds it
	}{
		{"tcp", "127.0.0.1:5432", 1002},    // the IPv4-mapped socket, unmapped
		{"tcp", "0.0.0.0:5432", 1002},      // a wildcard bind clashes with any address
		{"tcp", "10.0.0.7:5432", 0},        // 127.0.0.1 covers no other address
		{"tcp", "127.0.0.1:8080", 1006},    // exact ahead of both wildcards
		{"tcp", "10.0.0.7:8080", 1007},     // 0.0.0.0 ahead of [::]
		{"tcp6", "[::1]:8080", 1001},       // the established [::1]:8080 does not block
		{"tcp", "127.0.0.1:443", 0},        // only 2001:db8::1 has 443
		{"udp", "127.0.0.1:5432", 0},       // TCP sockets do not block UDP
		{"tcp", "[2001:db8::1]:443", 1003}, // held, owner unknown
	}
	for _, c := range cases {
		l, ok, err := p.holder(c.network, netip.MustParseAddrPort(c.target))
		if err != nil || ok != (c.inode != 0) || l.Inode != c.inode {
			t.Errorf("holder(%s, %s) = %+v, %v, %v; want inode %d", c.network, c.target, l, ok, err, c.inode)
		}
	}
	if l, _, _ := p.holder("tcp", netip.MustParseAddrPort("127.0.0.1:5432")); l.PID != 100 || l.Program != "postgres" {
		t.Errorf("holder of 127.0.0.1:5432 is %+v, want the lowest pid sharing it, 100 (postgres)", l)
	}
}

func TestMissingIPv4TableFails(t *testing.T) {
	p := writeFixture(t)
	if err := os.Remove(filepath.Join(p.root, "net", "tcp")); err != nil {
		t.Fatal(err)
	}
	// Unlike a missing tcp6, this means no /proc/net at all: an empty
	// listing would claim, wrongly, that nothing listens.
	if _, err := p.list(); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("list without net/tcp: error %v, want ErrNotExist", err)
	}
}

func TestDescribe(t *testing.T) {
	cases := []struct {
		l    Listener
		want string
	}{
		{Listener{PID: 4242, Program: "postgres", UID: 998}, "pid 4242 (postgres)"},
		{Listener{PID: 4242, UID: 998}, "pid 4242"},
		{Listener{UID: 998}, "a process of uid 998"},
		{Listener{UID: 0}, "a process of uid 0"},
		{Listener{UID: -1}, "another process"},
	}
	for _, c := range cases {
		if got := c.l.Describe(); got != c.want {
			t.Errorf("%+v.Describe() = %q, want %q", c.l, got, c.want)
		}
	}
}
