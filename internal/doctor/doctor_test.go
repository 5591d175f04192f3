package doctor

import (
	"crypto/x509"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/internal/sockets"
)

var (
	first  = netip.MustParseAddr("127.10.0.1")
	second = netip.MustParseAddr("127.10.0.2")
)

// holders answers as sockets.Holder would with these sockets bound.
func holders(ls ...sockets.Listener) HolderFunc {
	return func(network string, ap netip.AddrPort) (sockets.Listener, bool, error) {
		for _, l := range ls {
			if l.Network == network && l.Addr.Port() == ap.Port() && (l.Addr.Addr() == ap.Addr() || l.EveryAddress()) {
				return l, true, nil
			}
		}
		return sockets.Listener{}, false, nil
	}
}

func TestConflicts(t *testing.T) {
	fw := Forward{Label: "shop/addon:db postgres", Port: 5432, Network: "tcp", Candidates: []netip.Addr{first, second}}
	at := func(a string) netip.AddrPort { return netip.MustParseAddrPort(a) }
	for _, c := range []struct {
		name string
		held []sockets.Listener
		sev  Severity
		want string
	}{
		{"free", nil, "", ""},
		{"wildcard", []sockets.Listener{{Network: "tcp", Addr: at("0.0.0.0:5432"), PID: 9, Program: "postgres"}},
			Problem, "TCP/5432 of shop/addon:db postgres is held on every loopback address by pid 9 (postgres), listening on 0.0.0.0:5432: fwd would forward it on another port, and give shop/addon:db no hostnames"},
		{"own address only", []sockets.Listener{{Network: "tcp", Addr: at("127.10.0.1:5432"), PID: 9, Program: "postgres"}},
			Warning, "is already in use by pid 9 (postgres) on 127.10.0.1, its own address: fwd would use its next address, 127.10.0.2"},
		{"every address fwd tries", []sockets.Listener{{Network: "tcp", Addr: at("127.10.0.1:5432"), PID: 9}, {Network: "tcp", Addr: at("127.10.0.2:5432"), PID: 10}},
			Problem, "on 127.10.0.1 and on every other address fwd tries"},
		{"already forwarded", []sockets.Listener{{Network: "tcp", Addr: at("127.10.0.1:5432"), PID: 11, Program: "fwd"}},
			Info, "is forwarded already, by pid 11 (fwd)"},
		{"UDP does not block TCP", []sockets.Listener{{Network: "udp", Addr: at("0.0.0.0:5432"), PID: 9}}, "", ""},
	} {
		got := Conflicts([]Forward{fw}, holders(c.held...))
		switch {
		case c.sev == "" && len(got) != 0:
			t.Errorf("%s: %+v, want nothing", c.name, got)
		case c.sev != "" && (len(got) != 1 || got[0].Severity != c.sev || !strings.Contains(got[0].Message, c.want)):
			t.Errorf("%s: %+v, want %s %q", c.name, got, c.sev, c.want)
		}
	}
}

func TestPrivileged(t *testing.T) {
	fws := []Forward{{Label: "shop/web http", Port: 80, Network: "tcp"}, {Label: "shop/web alt", Port: 8080, Network: "tcp"}}
	if got := Privileged(fws, 1024, true); len(got) != 0 {
		t.Errorf("root: %+v", got)
	}
	got := Privileged(fws, 1024, false)
	if len(got) != 1 || !strings.Contains(got[0].Message, "TCP/80 of shop/web http needs root") || !strings.Contains(got[0].Fix, "cap_net_bind_service") {
		t.Errorf("not root: %+v", got)
	}
}

func TestExposed(t *testing.T) {
	ls := []sockets.Listener{
		{Network: "tcp", Addr: netip.MustParseAddrPort("127.0.0.1:3000"), PID: 5, Program: "node"},
		{Network: "tcp", Addr: netip.MustParseAddrPort("[::1]:3000"), PID: 5, Program: "node"},
		{Network: "tcp", Addr: netip.MustParseAddrPort("0.0.0.0:8080"), PID: 6, Program: "java"},
	}
	got := Exposed([]uint16{3000, 8080, 9000}, ls)
	want := []struct {
		sev  Severity
		text string
	}{
		{Problem, "port 3000 listens on 127.0.0.1 only (pid 5 (node))"},
		{OK, "port 8080 listens on 0.0.0.0:8080 (pid 6 (java))"},
		{Problem, "nothing listens on port 9000"},
	}
	for i, w := range want {
		if got[i].Severity != w.sev || !strings.Contains(got[i].Message, w.text) {
			t.Errorf("%d: %+v, want %s %q", i, got[i], w.sev, w.text)
		}
	}
}

func TestCertificate(t *testing.T) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	cert := func(from, to time.Time) *x509.Certificate { return &x509.Certificate{NotBefore: from, NotAfter: to} }
	for _, c := range []struct {
		name string
		cert *x509.Certificate
		sev  Severity
		want string
	}{
		{"valid", cert(now.AddDate(-1, 0, 0), now.AddDate(1, 0, 0)), OK, "certificate valid until 2027-06-01 12:00 UTC (365 days)"},
		{"soon", cert(now.AddDate(-1, 0, 0), now.Add(72*time.Hour)), Warning, "expires on 2026-06-04 12:00 UTC, in 72h0m0s"},
		{"expired", cert(now.AddDate(-1, 0, 0), now.Add(-time.Hour)), Problem, "expired on 2026-06-01 11:00 UTC"},
		{"clock behind", cert(now.Add(3*time.Hour), now.AddDate(1, 0, 0)), Problem, "not valid until 2026-06-01 15:00 UTC, 3h0m0s from now by this machine's clock"},
	} {
		f := Certificate("gw:7443", c.cert, now)
		if f.Severity != c.sev || !strings.Contains(f.Message, c.want) {
			t.Errorf("%s: %+v, want %s %q", c.name, f, c.sev, c.want)
		}
	}
}

func TestStaleBlocksAndShadowed(t *testing.T) {
	got := StaleBlocks("/etc/hosts", []HostsBlock{{PID: 1, Alive: true}, {PID: 77, Names: []string{"a", "b", "c", "d", "e"}}}, "sudo fwd hosts clean")
	if len(got) != 1 || got[0].Severity != Problem || !strings.Contains(got[0].Message, "fwd pid 77, which is no longer running: a, b, c, d and 1 more lead nowhere") || got[0].Fix != "run sudo fwd hosts clean" {
		t.Errorf("stale: %+v", got)
	}
	if got := StaleBlocks("/etc/hosts", nil, "x"); len(got) != 1 || got[0].Severity != OK {
		t.Errorf("none stale: %+v", got)
	}
	sh := Shadowed("/etc/hosts", map[string]string{"api": "10.0.0.1"}, map[string]string{"api": "shop/api", "api.shop": "shop/api"})
	if len(sh) != 1 || !strings.Contains(sh[0].Message, `your line "10.0.0.1 api"`) {
		t.Errorf("shadowed: %+v", sh)
	}
}
