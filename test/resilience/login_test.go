package resilience_test

import (
	"context"
	"net"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/internal/testservers"
	"github.com/fwd-dev/fwd/tunnel"
)

// TestHandshakeFloodBounded floods a gateway process with connections that
// never start TLS, from one source, each redialled as soon as the gateway
// drops it. The gateway's descriptors must stay bounded by its handshake
// caps, and a real client from another address must log in at once every
// time.
func TestHandshakeFloodBounded(t *testing.T) {
	dir := t.TempDir()
	tok := newToken(t, "shop")
	echo, err := testservers.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	gw := startGateway(t, writeConfig(t, dir, "127.0.0.1:0", "shop", tok, service{"api", 18402, echo.Addr}), "", "")
	hold, flood := 3000, 8*time.Second
	if testing.Short() {
		hold, flood = 1500, 4*time.Second
	}
	stop := make(chan struct{})
	var dials atomic.Int64
	var wg sync.WaitGroup
	for range hold {
		wg.Add(1)
		go func() {
			defer wg.Done()
			silentDialer(gw.Listen, stop, &dials)
		}()
	}
	maxFDs := 0
	var slowest time.Duration
	logins := 0
	deadline := time.Now().Add(flood)
	for time.Now().Before(deadline) {
		maxFDs = max(maxFDs, procFDs(t, gw.cmd.Process.Pid))
		took, err := loginFrom(gw, tok, "127.0.0.2")
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("real client from 127.0.0.2 during the flood (after %d logins): %v", logins, err)
		}
		slowest = max(slowest, took)
		logins++
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	t.Logf("flood of %d silent connections held from 127.0.0.1 (%d dials in %s): gateway fds at most %d; %d real logins from 127.0.0.2, slowest %s",
		hold, dials.Load(), flood, maxFDs, logins, slowest.Round(time.Millisecond))
	if maxFDs > 200 {
		t.Errorf("gateway held %d file descriptors during the flood, want at most 200 (handshake caps 512 in all, 32 per source)", maxFDs)
	}
	if slowest > 2*time.Second {
		t.Errorf("slowest real login took %s during the flood, want under 2s", slowest)
	}
}

// silentDialer keeps one connection to addr open without ever speaking,
// dialling again whenever the other end drops it, until stop.
func silentDialer(addr string, stop <-chan struct{}, dials *atomic.Int64) {
	buf := make([]byte, 1)
	for {
		select {
		case <-stop:
			return
		default:
		}
		c, err := net.DialTimeout("tcp", addr, time.Second)
		dials.Add(1)
		if err != nil {
			time.Sleep(20 * time.Millisecond)
			continue
		}
		done := make(chan struct{})
		go func() {
			select {
			case <-stop:
			case <-done:
			}
			c.Close()
		}()
		c.SetReadDeadline(time.Now().Add(15 * time.Second))
		c.Read(buf) // returns when the gateway drops us, or at stop
		close(done)
		time.Sleep(20 * time.Millisecond)
	}
}

// loginFrom logs in to gw from the local address src and reports how long
// it took.
func loginFrom(gw *gateway, tok token, src string) (time.Duration, error) {
	d := &net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(src)}}
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	s, err := tunnel.Dial(ctx, gw.Listen, &tunnel.ClientConfig{Token: tok.Token, Trust: tunnel.Trust{Fingerprint: gw.Fingerprint}, Dialer: d.DialContext})
	if err != nil {
		return 0, err
	}
	took := time.Since(start)
	s.Close()
	return took, nil
}

// procFDs counts the open file descriptors of process pid.
func procFDs(t *testing.T, pid int) int {
	entries, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/fd")
	if err != nil {
		t.Fatalf("reading the gateway's fds: %v", err)
	}
	return len(entries)
}
