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

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
	"github.com/fwd-dev/fwd/tunnel/config"
)

// TestStreamLimitCountsOpenStreamsOnly churns short connections, 90 at a
// time, through a gateway that allows 100 streams per session. A stream
// counts only while the client has it open, so none may be refused: a
// connection the local app has closed must not hold a slot while the
// gateway finishes with its target.
func TestStreamLimitCountsOpenStreamsOnly(t *testing.T) {
	limits := config.DefaultLimits()
	limits.MaxStreamsPerSession = 100
	cat := catalog.Catalog{Projects: []catalog.Project{{Name: "shop", Addons: []catalog.Resource{
		addon("shop", "db", tcpPort("tcp", 17102, catalog.TCP, startEcho(t))),
	}}}}
	env := startGateway(t, cat, fwdtest.WithLimits(limits))
	var refused atomic.Int32
	client := newClient(t, env, nil)
	rs, err := client.ForwardAddon(context.Background(), "shop", "db")
	if err != nil {
		t.Fatal(err)
	}
	addr := addrOf(rs[0])
	total, concurrency := 10000, 90
	if testing.Short() {
		total = 3000
	}
	var next atomic.Int32
	var wg sync.WaitGroup
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int32(total) {
				if err := shortEcho(addr); err != nil {
					refused.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	t.Logf("%d connections, %d at a time, limit %d: %d refused", total, concurrency, limits.MaxStreamsPerSession, refused.Load())
	if n := refused.Load(); n > 0 {
		t.Fatalf("%d of %d connections refused with at most %d open under a limit of %d", n, total, concurrency, limits.MaxStreamsPerSession)
	}
}

// shortEcho is one short connection: a message out, the same back, closed.
func shortEcho(addr string) error {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	msg := "ping\n"
	if _, err := io.WriteString(c, msg); err != nil {
		return err
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(c, got); err != nil {
		return fmt.Errorf("echo: %w", err)
	}
	return nil
}
