package protocols_test

import (
	"fmt"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestUDPDNS forwards dnsmasq's UDP port: dig must get its answer through
// fwd, and 50 concurrent UDP clients (50 flows), each asking three times for
// its own name, must each get their own answer.
func TestUDPDNS(t *testing.T) {
	fwdtest.NeedBinaries(t, "dnsmasq", "dig")
	const clients = 50
	hosts := map[string]netip.Addr{}
	for i := range clients {
		// 198.51.100.0/24 is for documentation: no traffic goes there.
		hosts[fmt.Sprintf("host%02d.fwd", i)] = netip.AddrFrom4([4]byte{198, 51, 100, byte(i + 1)})
	}
	dns, err := fwdtest.StartDnsmasq(testCtx(t, 30*time.Second), t.TempDir(), fwdtest.DNSOptions{
		Domains: map[string]netip.Addr{"test.fwd": netip.MustParseAddr("10.1.2.3")},
		Hosts:   hosts,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { dns.Close() })
	fw := fwdTo(t, "dns", port{"dns", 53, catalog.UDP, dns.Addr})["dns"]

	out := run(t, 30*time.Second, "dig", "@"+fw.Data.Address, "-p", fmt.Sprint(fw.Data.Port),
		"+short", "+time=3", "+tries=2", "+notcp", "test.fwd", "A")
	mustEqual(t, "dig test.fwd +short", strings.TrimSpace(out), "10.1.2.3")

	var wg sync.WaitGroup
	errs := make(chan error, clients)
	for i := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			name := fmt.Sprintf("host%02d.fwd", i)
			errs <- askUDP(fw.Addr, name, hosts[name])
		}()
	}
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			if failed <= 10 {
				t.Error(err)
			}
		}
	}
	if failed > 0 {
		t.Fatalf("%d of %d UDP clients failed", failed, clients)
	}
}

// askUDP asks for name three times on its own UDP socket (its own flow),
// retrying a lost datagram up to twice each time.
func askUDP(addr, name string, want netip.Addr) error {
	conn, err := net.Dial("udp", addr)
	if err != nil {
		return err
	}
	defer conn.Close()
	for round := range 3 {
		var got []netip.Addr
		var err error
		for range 3 {
			got, err = fwdtest.LookupA(conn, name, 2*time.Second)
			if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("%s (round %d, from %s): %w", name, round, conn.LocalAddr(), err)
		}
		if len(got) != 1 || got[0] != want {
			return fmt.Errorf("%s (round %d): got %v, want %v", name, round, got, want)
		}
	}
	return nil
}
