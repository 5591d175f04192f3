package resilience_test

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/test/fwdtest"
)

// TestFailoverBetweenTwoGateways runs two gateway processes with one
// config and one certificate, as replicas do, and a client given both
// (--gateway a,b). Under a steady stream of requests, the gateway the
// client is on is killed with SIGKILL: the client must serve again
// through the other one, on the same local listener, and it is killed
// in turn after the first comes back, so that each direction is tried.
func TestFailoverBetweenTwoGateways(t *testing.T) {
	const project, name = "resilfail", "echo"
	echo, err := fwdtest.StartEcho()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	tok := newToken(t, project)
	svc := service{name: name, port: 18411, target: echo.Addr}
	dirA, dirB := t.TempDir(), t.TempDir()
	// Each is restarted on its address while the client redials it: ports
	// below the ephemeral range, which no dial can take meanwhile.
	cfgA := writeConfig(t, dirA, freeListen(t), project, tok, svc)
	a := startGateway(t, cfgA, "", "")
	// Replicas share one certificate: the one a made for itself.
	for _, f := range []string{"gateway.crt", "gateway.key"} {
		data, err := os.ReadFile(filepath.Join(dirA, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dirB, f), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	cfgB := writeConfig(t, dirB, freeListen(t), project, tok, svc)
	b := startGateway(t, cfgB, "", "")
	if a.Fingerprint != b.Fingerprint {
		t.Fatalf("replicas have different certificates: %s, %s", a.Fingerprint, b.Fingerprint)
	}

	client := newClient(t, a.Listen+","+b.Listen, a.Fingerprint, tok, nil)
	local := forwardOne(t, client, project, name)
	tr := startTraffic(t, local, 5*time.Second)
	defer tr.stop()
	tr.setMark(time.Now())
	if _, ok := tr.successAfterMark(10 * time.Second); !ok {
		t.Fatal("no request succeeded before the first kill")
	}

	gws := map[string]*gateway{a.Listen: a, b.Listen: b}
	configs := map[string]string{a.Listen: cfgA, b.Listen: cfgB}
	for round := 1; round <= 2; round++ {
		on := servingGateway(t, gws)
		killed := time.Now()
		kill(t, on.Process)
		tr.setMark(killed)
		first, ok := tr.successAfterMark(15 * time.Second)
		if !ok {
			t.Fatalf("round %d: no request succeeded within 15s of killing the gateway %s", round, on.Listen)
		}
		t.Logf("round %d: gateway %s killed; served again %v later, through the other", round, on.Listen, first.Sub(killed).Round(time.Millisecond))
		if d := first.Sub(killed); d > 5*time.Second {
			t.Errorf("round %d: failover took %v", round, d)
		}
		if now := onlyAddr(t, client.Results()); now != local {
			t.Fatalf("round %d: the forward moved from %s to %s", round, local, now)
		}
		gws[on.Listen] = startGateway(t, configs[on.Listen], on.Listen, "")
	}
	_, _, refused, dialErrs := tr.counts()
	if refused > 0 || len(dialErrs) > 0 {
		t.Errorf("the local listener %s did not accept every connection: %d refused; %v", local, refused, dialErrs)
	}
}

// servingGateway is the gateway whose log says a session started and has
// not ended: the one the client is on.
func servingGateway(t *testing.T, gws map[string]*gateway) *gateway {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		for _, g := range gws {
			out := g.Output()
			if strings.Count(out, "session started") > strings.Count(out, "session ended") {
				return g
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("neither gateway has the client's session")
	return nil
}

func freeListen(t *testing.T) string {
	t.Helper()
	port, err := fwdtest.FreePort("tcp")
	if err != nil {
		t.Fatal(err)
	}
	return net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
}
