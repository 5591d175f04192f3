package resilience_test

import (
	"encoding/binary"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

const (
	killCycles     = 20
	maxRecovery    = 2 * time.Second
	goroutineSlack = 20
	fdSlack        = 10
)

// TestGatewaySIGKILLCycles kills the gateway process with SIGKILL 20 times
// while requests run through an in-process client, restarting it each time
// on the same address with the same certificate. Each time the first request
// after the gateway is listening again must succeed within 2s, the local
// listener must keep accepting throughout, and at the end the client's
// goroutines and file descriptors must be back near where they started.
func TestGatewaySIGKILLCycles(t *testing.T) {
	const project, name = "resilkill", "echo"
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })

	tok := newToken(t, project)
	// Restarted on the same address 20 times while the client redials it:
	// a port below the ephemeral range, which no dial can take meanwhile.
	port, err := fwdtest.FreePort("tcp")
	if err != nil {
		t.Fatal(err)
	}
	listen := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	cfg := writeConfig(t, t.TempDir(), listen, project, tok, service{name: name, port: 18401, target: echo.Addr})
	gw := startGateway(t, cfg, "", "")
	addr, fingerprint := gw.Listen, gw.Fingerprint

	client := newClient(t, addr, fingerprint, tok, nil)
	local := forwardOne(t, client, project, name)
	lnInode := listenerInode(t, local)
	t.Logf("gateway %s, forward %s (listening socket inode %s)", addr, local, lnInode)

	// Warm up, then take the baseline with no request in flight.
	for i := range 5 {
		if dialErr, err := echoOnce(local, i, 5*time.Second); dialErr != nil || err != nil {
			t.Fatalf("warm-up request %d: dial %v, echo %v", i, dialErr, err)
		}
	}
	baseG, baseFD := settledCounts(t)

	tr := startTraffic(t, local, 5*time.Second)
	tr.setMark(time.Now())
	if _, ok := tr.successAfterMark(10 * time.Second); !ok {
		t.Fatal("no request succeeded through the forward before the first kill")
	}

	var recoveries []time.Duration
	for cycle := 1; cycle <= killCycles; cycle++ {
		kill(t, gw.Process)
		if t.Failed() {
			t.FailNow()
		}
		// While the gateway is down, the local listener still accepts.
		conn, err := net.DialTimeout("tcp", local, 2*time.Second)
		if err != nil {
			t.Fatalf("cycle %d: with the gateway down, connecting to the forward %s: %v", cycle, local, err)
		}
		conn.Close()
		gw = startGateway(t, cfg, addr, "")
		if gw.Listen != addr || gw.Fingerprint != fingerprint {
			t.Fatalf("cycle %d: restarted gateway is %s %s, want %s %s", cycle, gw.Listen, gw.Fingerprint, addr, fingerprint)
		}
		tr.setMark(gw.ReadyAt)
		first, ok := tr.successAfterMark(15 * time.Second)
		if !ok {
			t.Fatalf("cycle %d: no request succeeded within 15s of the gateway listening again", cycle)
		}
		d := first.Sub(gw.ReadyAt)
		recoveries = append(recoveries, d)
		t.Logf("cycle %2d: first request through fwd %v after the gateway was listening again", cycle, d.Round(time.Millisecond))
		if d > maxRecovery {
			t.Errorf("cycle %d: recovery took %v, want <= %v", cycle, d, maxRecovery)
		}
		if now := onlyAddr(t, client.Results()); now != local {
			t.Fatalf("cycle %d: forward moved from %s to %s", cycle, local, now)
		}
		if ino := listenerInode(t, local); ino != lnInode {
			t.Fatalf("cycle %d: the listening socket on %s changed (inode %s, was %s): it was closed and bound again", cycle, local, ino, lnInode)
		}
		// Let traffic flow for a while, so that the next kill cuts it.
		if !tr.waitOK(20, 10*time.Second) {
			t.Fatalf("cycle %d: requests stopped succeeding after the recovery", cycle)
		}
	}
	tr.stop()

	var maxD, sum time.Duration
	for _, d := range recoveries {
		maxD = max(maxD, d)
		sum += d
	}
	ok, failed, refused, dialErrs := tr.counts()
	t.Logf("recovery over %d cycles: max %v, mean %v; requests: %d ok, %d cut by the kills, %d dial errors (%d refused)",
		len(recoveries), maxD.Round(time.Millisecond), (sum / time.Duration(len(recoveries))).Round(time.Millisecond), ok, failed, len(dialErrs), refused)
	if refused > 0 || len(dialErrs) > 0 {
		t.Errorf("the local listener %s did not accept every connection: %d refused; first errors: %v", local, refused, dialErrs)
	}

	// Lingering connections (cut relays, the gateway's old sessions) get a
	// bounded moment to close.
	var g, fds int
	deadline := time.Now().Add(10 * time.Second)
	for range 200 {
		g, fds = settledCounts(t)
		if (g <= baseG+goroutineSlack && fds <= baseFD+fdSlack) || time.Now().After(deadline) {
			break
		}
		time.Sleep(50 * time.Millisecond) // bounded poll: there is no event for "goroutines exited"
	}
	t.Logf("client goroutines %d -> %d, fds %d -> %d", baseG, g, baseFD, fds)
	if g > baseG+goroutineSlack {
		buf := make([]byte, 1<<20)
		t.Errorf("goroutines grew from %d to %d after %d cycles (bound +%d); stacks:\n%s", baseG, g, killCycles, goroutineSlack, buf[:runtime.Stack(buf, true)])
	}
	if fds > baseFD+fdSlack {
		t.Errorf("fds grew from %d to %d after %d cycles (bound +%d): %v", baseFD, fds, killCycles, fdSlack, listFDs())
	}
}

// settledCounts returns the goroutines and open fds after a garbage
// collection: os/exec's pipes that nothing references any more (seen under
// -race) are closed by finalizers, not by fwd.
func settledCounts(t testing.TB) (goroutines, fds int) {
	t.Helper()
	runtime.GC()
	return runtime.NumGoroutine(), countFDs(t)
}

// listenerInode returns the inode of the socket listening on addr (an IPv4
// host:port), from /proc/net/tcp: the same inode means the same socket, never
// closed and bound again.
func listenerInode(t testing.TB, addr string) string {
	t.Helper()
	ap, err := netip.ParseAddrPort(addr)
	if err != nil || !ap.Addr().Is4() {
		t.Fatalf("listenerInode(%q): not an IPv4 host:port: %v", addr, err)
	}
	ip := ap.Addr().As4()
	want := fmt.Sprintf("%08X:%04X", binary.NativeEndian.Uint32(ip[:]), ap.Port())
	table, err := os.ReadFile("/proc/net/tcp")
	if err != nil {
		t.Fatalf("reading /proc/net/tcp: %v", err)
	}
	for _, line := range strings.Split(string(table), "\n") {
		// sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
		f := strings.Fields(line)
		if len(f) >= 10 && f[1] == want && f[3] == "0A" {
			return f[9]
		}
	}
	t.Fatalf("no socket listens on %s (%s) in /proc/net/tcp", addr, want)
	return ""
}

func countFDs(t testing.TB) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting fds: %v", err)
	}
	return len(ents)
}

// listFDs names what each open fd points at, for a failure message.
func listFDs() []string {
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		target, _ := os.Readlink("/proc/self/fd/" + e.Name())
		out = append(out, e.Name()+"="+target)
	}
	return out
}
