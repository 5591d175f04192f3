package protocols_test

import (
	"net"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
	"github.com/fwd-dev/fwd/tunnel/catalog"
)

// idleFor is longer than the 100s after which some NATs, load balancers and
// proxies drop a quiet connection.
const idleFor = 105 * time.Second

// TestIdleConnectionSurvives leaves a TCP connection through fwd idle for
// 105s; it must still carry data afterwards.
//
// It must be the package's first test (this file sorts first): it opens the
// connection, starts the idle clock, then calls t.Parallel, which pauses it
// until every other (sequential) test has run. The other tests run while
// this connection idles, so the idle costs no wall time beyond theirs.
func TestIdleConnectionSurvives(t *testing.T) {
	if testing.Short() {
		t.Skip("idles for 105s: skipped with -short")
	}
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	fw := fwdTo(t, "idle", port{"echo", 7007, catalog.TCP, echo.Addr})["echo"]
	conn, err := net.DialTimeout("tcp", fw.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := echoRoundTrip(conn, "before the idle", 10*time.Second); err != nil {
		t.Fatalf("before the idle: %v", err)
	}
	idleSince := time.Now()

	t.Parallel()

	// Waiting is what this test is about; nothing is synchronised by it.
	if rest := idleFor - time.Since(idleSince); rest > 0 {
		timer := time.NewTimer(rest)
		<-timer.C
	}
	idle := time.Since(idleSince)
	if err := echoRoundTrip(conn, "after the idle", 10*time.Second); err != nil {
		t.Fatalf("after %v idle: %v", idle.Round(time.Second), err)
	}
	// A new connection on the same tunnel works too.
	conn2, err := net.DialTimeout("tcp", fw.Addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn2.Close()
	if err := echoRoundTrip(conn2, "new connection after the idle", 10*time.Second); err != nil {
		t.Fatalf("new connection after %v idle: %v", idle.Round(time.Second), err)
	}
	t.Logf("connection idle for %v, then echoed", idle.Round(time.Second))
}
