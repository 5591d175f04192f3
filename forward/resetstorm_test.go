package forward_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// TestLocalResetStormKeepsTunnel is a local program's reset storm: 20,000
// connections, 50 to 200 at a time, each writing one byte and closing with
// SO_LINGER 0 (a TCP reset), while 50 long-lived connections stay open
// through the same tunnel. The uplink stalls now and then, as Wi-Fi does,
// so resets pile up behind a blocked write. The tunnel must stay up and
// every long-lived connection keep working.
func TestLocalResetStormKeepsTunnel(t *testing.T) {
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Addons: []catalog.Resource{
		addon("shop", "db", tcpPort("tcp", 17101, catalog.TCP, startEcho(t))),
	}}}}
	env := startGateway(t, cat)
	var drops atomic.Int32
	client := newClient(t, env, func(o *forward.Options) {
		o.Dialer = stallingDialer
		o.OnEvent = func(e forward.Event) {
			if e.State == forward.StateReconnecting {
				drops.Add(1)
			}
		}
	})
	rs, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	addr := addrOf(rs[0])
	long := make([]net.Conn, 50)
	for i := range long {
		long[i] = dialEcho(t, addr, fmt.Sprintf("hello %d\n", i))
	}

	total := 20000
	if testing.Short() {
		total = 4000
	}
	var failed atomic.Int32
	for done, round := 0, 0; done < total; round++ {
		batch := min(50+(round*37)%151, total-done) // 50..200 at a time
		var wg sync.WaitGroup
		for range batch {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if !resetOneByte(addr) {
					failed.Add(1)
				}
			}()
		}
		wg.Wait()
		done += batch
	}
	t.Logf("%d reset connections (%d could not connect), %d tunnel drops", total, failed.Load(), drops.Load())
	if n := drops.Load(); n > 0 {
		t.Fatalf("the tunnel dropped %d times during the reset storm", n)
	}
	for i, c := range long {
		msg := fmt.Sprintf("still here %d\n", i)
		c.SetDeadline(time.Now().Add(10 * time.Second))
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatalf("long-lived connection %d: write: %v", i, err)
		}
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
			t.Fatalf("long-lived connection %d: got %q, %v", i, got, err)
		}
	}
}

// dialEcho opens a connection through an echo forward and checks one round
// trip; the connection stays open for the test.
func dialEcho(t *testing.T, addr, msg string) net.Conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, msg)
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil || string(got) != msg {
		t.Fatalf("echo through %s: got %q, %v", addr, got, err)
	}
	return c
}

// resetOneByte connects, writes one byte and closes with a reset.
func resetOneByte(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return false
	}
	c.Write([]byte{1})
	c.(*net.TCPConn).SetLinger(0)
	c.Close()
	return true
}

// stallingDialer dials TCP and stalls the connection's writes for 150 ms
// once every 200 ms: a link whose uplink hiccups.
func stallingDialer(ctx context.Context, network, addr string) (net.Conn, error) {
	c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	return &stallingConn{Conn: c, last: time.Now()}, nil
}

type stallingConn struct {
	net.Conn
	mu   sync.Mutex
	last time.Time
}

func (c *stallingConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	if time.Since(c.last) > 200*time.Millisecond {
		time.Sleep(150 * time.Millisecond)
		c.last = time.Now()
	}
	c.mu.Unlock()
	return c.Conn.Write(p)
}
