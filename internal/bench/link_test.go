package bench

import (
	"context"
	"net"
	"net/netip"
	"os"
	"strconv"
	"testing"
	"time"
)

// startLink builds a 25 ms one-way link with a target listening in B, or
// skips the test where a link cannot be built.
func startLink(t *testing.T) (*Link, string) {
	t.Helper()
	if err := LinkUsable(); err != nil {
		t.Skip("no TUN link here: " + err.Error())
	}
	l, err := NewLink(25*time.Millisecond, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := l.Close(); err != nil {
			t.Error(err)
		}
		for _, ns := range []string{l.Namespace(SideA), l.Namespace(SideB)} {
			if _, err := os.Stat("/var/run/netns/" + ns); err == nil {
				t.Errorf("namespace %s left behind", ns)
			}
		}
	})
	ln, err := l.Listen(SideB, "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ServeTarget(ln)
	t.Cleanup(func() { target.Close() })
	port := ln.Addr().(*net.TCPAddr).Port
	return l, netip.AddrPortFrom(l.Addr(SideB), uint16(port)).String()
}

func TestLinkRoundTripAndBytes(t *testing.T) {
	l, addr := startLink(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dial := l.Dialer(SideA)

	rtts, err := PingPongVia(ctx, dial, addr, 2, 10, 20*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if lo := rtts[0]; lo < 45*time.Millisecond {
		t.Errorf("fastest round trip %v, want >= 45ms", lo)
	}
	if hi := rtts[len(rtts)-1]; hi > 2*time.Second {
		t.Errorf("slowest round trip %v, want < 2s", hi)
	}

	c, err := dial(ctx, addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	checkEchoIntact(t, c, 50*time.Second, "across the link")
	fw, dropped, refused := l.Stats()
	t.Logf("RTT min %v, median %v; %d packets forwarded, %d dropped, %d refused", rtts[0], Percentile(rtts, 50), fw, dropped, refused)
}

func TestLinkDialerRefusesOtherAddresses(t *testing.T) {
	var l Link
	if _, err := l.Dialer(SideA)(context.Background(), "192.0.2.1:80"); err == nil {
		t.Fatal("dial to an address off the link succeeded")
	}
}

// TestLinkThroughput is a probe, not a check: FWDBENCH_LINK_PROBE=1 prints
// a direct download's rate across the link.
func TestLinkThroughput(t *testing.T) {
	if os.Getenv("FWDBENCH_LINK_PROBE") == "" {
		t.Skip("set FWDBENCH_LINK_PROBE=1 (and optionally FWDBENCH_WMEM=bytes) to run")
	}
	wmem, _ := strconv.Atoi(os.Getenv("FWDBENCH_WMEM"))
	if err := LinkUsable(); err != nil {
		t.Skip(err)
	}
	l, err := NewLink(25*time.Millisecond, wmem)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	ln, err := l.Listen(SideB, "0.0.0.0:0")
	if err != nil {
		t.Fatal(err)
	}
	target := ServeTarget(ln)
	defer target.Close()
	addr := netip.AddrPortFrom(l.Addr(SideB), uint16(ln.Addr().(*net.TCPAddr).Port)).String()
	rate, err := DownloadVia(context.Background(), l.Dialer(SideA), addr, 1, 6*time.Second, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	fw, dropped, refused := l.Stats()
	t.Logf("direct download: %.2f Gbit/s; %d packets forwarded, %d dropped, %d refused", rate*8/1e9, fw, dropped, refused)
}
