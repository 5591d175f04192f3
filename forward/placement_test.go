package forward_test

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/internal/loopback"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// tempHosts is a hosts file of the test's own; writing it needs no root.
func tempHosts(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "hosts")
	if err := os.WriteFile(p, []byte("127.0.0.1 localhost\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestTakenPortMovesAddressNotPort: another process holds the db's stable
// address on its port. The db must keep port 5432 on its next address (the
// same one on every run), and its hostnames must point there, never at the
// other process's server.
func TestTakenPortMovesAddressNotPort(t *testing.T) {
	const port = 25434
	id := catalog.ID{Project: "shop", Kind: catalog.Addon, Name: "db"}
	key := loopback.ID{Project: id.Project, Kind: string(id.Kind), Name: id.Name}
	stable, next := loopback.Candidate(key, 0), loopback.Candidate(key, 1)
	other, err := net.Listen("tcp", netip.AddrPortFrom(stable, port).String())
	if err != nil {
		t.Fatalf("taking the db's stable address: %v", err)
	}
	defer other.Close()
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Addons: []catalog.Resource{
		addon("shop", "db", tcpPort("postgres", port, catalog.TCP, startEcho(t)), tcpPort("metrics", port+1, catalog.TCP, startEcho(t))),
	}}}}
	env := startGateway(t, cat)
	for run := range 2 {
		hostsFile := tempHosts(t)
		client := newClient(t, env, func(o *forward.Options) { o.SkipHostnames, o.HostsFile = false, hostsFile })
		rs, err := client.ForwardProject(context.Background(), "shop")
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			if r.Data == nil || r.Data.Address != next.String() || r.Data.Port != r.Data.RemotePort || r.Data.Note != "" {
				t.Fatalf("run %d: %+v, want every port at its own number on %s (the stable %s is taken)", run, r.Data, next, stable)
			}
		}
		echoRoundTrip(t, addrOf(rs[0]), "through the alternative address")
		if text := readFile(t, hostsFile); !strings.Contains(text, next.String()+" db db.shop") || strings.Contains(text, stable.String()) {
			t.Fatalf("run %d: hosts file does not point db at %s:\n%s", run, next, text)
		}
		client.Stop()
	}
}

// TestWildcardHolderMovesPortWithoutHostnames: a listener on 0.0.0.0:PORT
// holds the port on every loopback address. The port has to move: the
// note names the holding process, and the resource gets no hostnames
// while the others keep theirs.
func TestWildcardHolderMovesPortWithoutHostnames(t *testing.T) {
	const port = 26543
	wild, err := net.Listen("tcp", fmt.Sprintf("0.0.0.0:%d", port))
	if err != nil {
		t.Skipf("0.0.0.0:%d is not free here: %v", port, err)
	}
	defer wild.Close()
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop",
		Services: []catalog.Resource{service("shop", "api", tcpPort("http", port+1, catalog.HTTP, startEcho(t)))},
		Addons:   []catalog.Resource{addon("shop", "cache", tcpPort("redis", port, catalog.TCP, startEcho(t)))},
	}}}
	env := startGateway(t, cat)
	hostsFile := tempHosts(t)
	client := newClient(t, env, func(o *forward.Options) { o.SkipHostnames, o.HostsFile = false, hostsFile })
	rs, err := client.ForwardProject(context.Background(), "shop")
	if err != nil {
		t.Fatal(err)
	}
	var cache *forward.Forward
	for _, r := range rs {
		if r.Data != nil && r.Data.ID == "cache" {
			cache = r.Data
		}
	}
	// Go binds "0.0.0.0" as a dual-stack [::] socket where it can.
	self := fmt.Sprintf("by pid %d (%s), listening on ", os.Getpid(), filepath.Base(os.Args[0]))
	if cache == nil || cache.Port == port || !strings.Contains(cache.Note, self) || !strings.Contains(cache.Note, fmt.Sprintf(":%d: forwarded on", port)) ||
		!strings.Contains(cache.Note, "every loopback address") || len(cache.Hostnames) != 0 {
		t.Fatalf("cache forward %+v: want a moved port, a note naming this test (%s) on the wildcard address, and no hostnames", cache, self)
	}
	echoRoundTrip(t, addrOf(forward.Result{Data: cache}), "on the moved port")
	text := readFile(t, hostsFile)
	if strings.Contains(text, "cache") || !strings.Contains(text, " api api.shop") {
		t.Fatalf("hosts file: want api's names and none for cache:\n%s", text)
	}
}

func appendLine(t *testing.T, path, line string) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(line); err != nil {
		t.Fatal(err)
	}
}
