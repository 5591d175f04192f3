package resilience_test

import (
	"context"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
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
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	gw := startGateway(t, writeConfig(t, dir, "127.0.0.1:0", "shop", tok, service{"api", 18402, echo.Addr}), "", "")
	// The load the issue measured: 21,000 silent connections redialled for
	// 45 s (-short: 1,500 for 4 s). The test holds its own end of each, so
	// it needs that many descriptors: it raises its limit as far as it may
	// and holds fewer if it must.
	hold, flood := 21000, 45*time.Second
	if testing.Short() {
		hold, flood = 1500, 4*time.Second
	}
	hold = min(hold, raiseFDLimit(t, hold+2000)-2000)
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
	var took []time.Duration
	deadline := time.Now().Add(flood)
	for time.Now().Before(deadline) {
		maxFDs = max(maxFDs, procFDs(t, gw.Pid()))
		d, err := loginFrom(gw, tok, "127.0.0.2")
		if err != nil {
			close(stop)
			wg.Wait()
			t.Fatalf("real client from 127.0.0.2 during the flood (after %d logins): %v", len(took), err)
		}
		took = append(took, d)
		time.Sleep(200 * time.Millisecond)
	}
	close(stop)
	wg.Wait()
	slices.Sort(took)
	slowest := took[len(took)-1]
	t.Logf("flood of %d silent connections held from 127.0.0.1 (%d dials in %s): gateway fds at most %d; %d real logins from 127.0.0.2, median %s, slowest %s",
		hold, dials.Load(), flood, maxFDs, len(took), took[len(took)/2].Round(time.Microsecond), slowest.Round(time.Millisecond))
	if maxFDs > 200 {
		t.Errorf("gateway held %d file descriptors during the flood, want at most 200 (handshake caps 512 in all, 32 per source)", maxFDs)
	}
	// A login starved by the flood would wait out the 10 s handshake
	// timeout; 2 s was exceeded once (2.12 s) with every package's tests
	// sharing the two cores, so the bound keeps clear of that noise.
	if slowest > 5*time.Second {
		t.Errorf("slowest real login took %s during the flood, want under 5s", slowest)
	}
}

// silentDialer keeps one connection to addr open without ever speaking,
// dialling again when the other end drops it, until stop. It dials at most
// once per gateway handshake timeout (10 s): the rate of the attack as it
// was seen, when the gateway held each connection that long.
func silentDialer(addr string, stop <-chan struct{}, dials *atomic.Int64) {
	buf := make([]byte, 1)
	for next := time.Now(); ; {
		select {
		case <-stop:
			return
		case <-time.After(time.Until(next)):
		}
		next = time.Now().Add(10 * time.Second)
		c, err := net.DialTimeout("tcp", addr, time.Second)
		dials.Add(1)
		if err != nil {
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

// raiseFDLimit raises this process's open-file limit towards want (root
// may raise the hard limit too) and returns the soft limit it got.
func raiseFDLimit(t *testing.T, want int) int {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil {
		t.Fatal(err)
	}
	if lim.Cur >= uint64(want) {
		return int(lim.Cur)
	}
	next := lim
	next.Cur = uint64(want)
	next.Max = max(lim.Max, uint64(want))
	if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next); err != nil {
		next.Cur, next.Max = lim.Max, lim.Max
		syscall.Setrlimit(syscall.RLIMIT_NOFILE, &next)
	}
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim)
	return int(lim.Cur)
}
