package forward_test

import (
	"context"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestStatsCountConnectionsAndBytes: Stats shows a forward's open
// connections and the bytes each way, as they move.
func TestStatsCountConnectionsAndBytes(t *testing.T) {
	env := startGateway(t, catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Addons: []catalog.Resource{
		addon("shop", "db", tcpPort("postgres", 25441, catalog.TCP, startEcho(t))),
	}}}})
	client := newClient(t, env, nil)
	rs, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	if st, since := client.State(); st != forward.StateConnected || since.IsZero() {
		t.Fatalf("state %v since %v, want connected", st, since)
	}
	c, err := net.Dial("tcp", addrOf(rs[0]))
	if err != nil {
		t.Fatal(err)
	}
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := strings.Repeat("x", 100000)
	go io.WriteString(c, msg)
	if _, err := io.ReadFull(c, make([]byte, len(msg))); err != nil {
		t.Fatal(err)
	}
	one := statsOf(t, client)
	if one.Connections != 1 || one.BytesSent != int64(len(msg)) || one.BytesReceived != int64(len(msg)) || one.Port != rs[0].Data.Port {
		t.Fatalf("with one connection open: %+v, want 1 connection and %d bytes each way", one, len(msg))
	}
	c.Close()
	waitUntil(t, "the connection to close", func() bool { return statsOf(t, client).Connections == 0 })
}

func statsOf(t *testing.T, c *forward.Client) forward.PortStats {
	t.Helper()
	st := c.Stats()
	if len(st) != 1 {
		t.Fatalf("Stats has %d ports, want 1", len(st))
	}
	return st[0]
}

func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for end := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(end) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}
