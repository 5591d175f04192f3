package resilience_test

import (
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/forward"
	"github.com/fwd-dev/fwd/test/fwdtest"
)

const (
	dropFor         = 20 * time.Second
	maxDetection    = 15 * time.Second // the brief's bound; keepalives should do it in ~10s
	maxReconnection = 10 * time.Second
)

// TestDeadLinkDetectedInNamespace runs the gateway and its target inside a
// network namespace reached over a veth pair, then drops every packet in the
// namespace for 20s: a link that dies without a FIN or RST. The in-process
// client must notice (StateReconnecting) within 15s and, once packets flow
// again, reconnect and carry a request within 10s.
func TestDeadLinkDetectedInNamespace(t *testing.T) {
	needRoot(t)
	fwdtest.NeedBinaries(t, "ip")
	ns, hostIP, nsIP := newNetns(t)
	fw := fwdtest.FindFirewall(t, ns)
	t.Logf("namespace %s: host %s, namespace %s; dropping with %s", ns, hostIP, nsIP, fw.Name)

	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	echo := startProc(t, "echo helper", []string{echoHelperEnv + "=1"}, "ip", "netns", "exec", ns, self)
	target := firstLine(t, echo, 30*time.Second)

	const project, name = "resildead", "echo"
	tok := newToken(t, project)
	cfg := writeConfig(t, t.TempDir(), net.JoinHostPort(nsIP, "0"), project, tok, service{name: name, port: 18402, target: target})
	gw := startGateway(t, cfg, "", ns)

	events := &eventLog{kick: make(chan struct{}, 1)}
	client := newClient(t, gw.Listen, gw.Fingerprint, tok, events.record)
	local := forwardOne(t, client, project, name)
	t.Logf("gateway %s (in %s), target %s, forward %s", gw.Listen, ns, target, local)

	lnInode := listenerInode(t, local)
	tr := startTraffic(t, local, 3*time.Second)
	if !tr.waitOK(20, 15*time.Second) {
		t.Fatal("requests through the forward do not succeed before the drop")
	}

	fw.Drop(t)
	dropStart := time.Now()
	// Cleanup removes the rules too if the test stops early; removing
	// them twice is harmless.
	t.Cleanup(func() { fw.Restore(nil) })
	fw.CheckDropping(t, gw.Listen)

	down, ok := events.waitFor(forward.StateReconnecting, dropStart, maxDetection)
	if !ok {
		t.Fatalf("the client did not report %v within %v of every packet being dropped; events: %v", forward.StateReconnecting, maxDetection, events)
	}
	detection := down.Sub(dropStart)
	t.Logf("dead link detected after %v", detection.Round(time.Millisecond))

	// Keep the link dead for the rest of dropFor.
	timer := time.NewTimer(time.Until(dropStart.Add(dropFor)))
	<-timer.C
	// Packets may flow again as soon as the first rule goes, so the client
	// can reconnect while restore is still running: count from its start.
	dropEnd := time.Now()
	tr.setMark(dropEnd)
	fw.Restore(t)

	up, ok := events.waitFor(forward.StateConnected, dropEnd, maxReconnection)
	if !ok {
		t.Fatalf("the client did not report %v within %v of the link working again; events: %v", forward.StateConnected, maxReconnection, events)
	}
	first, ok := tr.successAfterMark(maxReconnection - time.Since(dropEnd))
	if !ok {
		t.Fatalf("no request through the forward succeeded within %v of the link working again", maxReconnection)
	}
	tr.stop()
	okN, failed, refused, dialErrs := tr.counts()
	t.Logf("link dead for %v: detected after %v; after it came back: connected after %v, first request after %v (requests: %d ok, %d failed, %d dial errors)",
		dropEnd.Sub(dropStart).Round(time.Millisecond), detection.Round(time.Millisecond),
		up.Sub(dropEnd).Round(time.Millisecond), first.Sub(dropEnd).Round(time.Millisecond), okN, failed, len(dialErrs))
	if refused > 0 || len(dialErrs) > 0 {
		t.Errorf("the local listener %s did not accept every connection: %d refused; first errors: %v", local, refused, dialErrs)
	}
	if now := onlyAddr(t, client.Results()); now != local {
		t.Errorf("forward moved from %s to %s", local, now)
	}
	if ino := listenerInode(t, local); ino != lnInode {
		t.Errorf("the listening socket on %s changed (inode %s, was %s): it was closed and bound again", local, ino, lnInode)
	}
}

// newNetns creates a network namespace joined to this one by a veth pair
// with a /30 picked at random in 10.250.0.0/16, and returns its name and the
// two addresses. Everything is removed when the test ends.
func newNetns(t *testing.T) (ns, hostIP, nsIP string) {
	t.Helper()
	tag := fmt.Sprintf("%05x", rand.N(1<<20))
	ns = "fwdres-" + tag
	hostIf, nsIf := "frh"+tag, "frn"+tag // at most 15 bytes
	existing, err := runErr("ip", "-o", "-4", "addr", "show")
	if err != nil {
		t.Fatalf("ip addr show: %v\n%s", err, existing)
	}
	for range 50 {
		n := 4 * rand.N(1<<14)
		hostIP = fmt.Sprintf("10.250.%d.%d", n>>8, n&0xff+1)
		nsIP = fmt.Sprintf("10.250.%d.%d", n>>8, n&0xff+2)
		if !strings.Contains(existing, " "+hostIP+"/") && !strings.Contains(existing, " "+nsIP+"/") {
			break
		}
	}
	run(t, "ip", "netns", "add", ns)
	t.Cleanup(func() {
		// The processes inside were killed by their own cleanups, which
		// run before this one (registered later).
		runErr("ip", "link", "del", hostIf)
		if out, err := runErr("ip", "netns", "del", ns); err != nil {
			t.Errorf("removing namespace %s: %v\n%s", ns, err, out)
		}
	})
	run(t, "ip", "link", "add", hostIf, "type", "veth", "peer", "name", nsIf)
	run(t, "ip", "link", "set", nsIf, "netns", ns)
	run(t, "ip", "addr", "add", hostIP+"/30", "dev", hostIf)
	run(t, "ip", "link", "set", hostIf, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "addr", "add", nsIP+"/30", "dev", nsIf)
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", nsIf, "up")
	run(t, "ip", "netns", "exec", ns, "ip", "link", "set", "lo", "up")
	return ns, hostIP, nsIP
}

// eventLog records a client's events with the time they arrived.
type eventLog struct {
	mu   sync.Mutex
	evs  []stampedEvent
	kick chan struct{}
}

type stampedEvent struct {
	at    time.Time
	state forward.State
	err   error
}

func (l *eventLog) record(e forward.Event) {
	l.mu.Lock()
	if len(l.evs) < 10000 {
		l.evs = append(l.evs, stampedEvent{time.Now(), e.State, e.Err})
	}
	l.mu.Unlock()
	select {
	case l.kick <- struct{}{}:
	default:
	}
}

// waitFor waits up to timeout for an event with state recorded after since
// and returns when it arrived.
func (l *eventLog) waitFor(state forward.State, since time.Time, timeout time.Duration) (time.Time, bool) {
	timer := time.NewTimer(timeout)
	defer timer.Stop()
	for {
		l.mu.Lock()
		for _, e := range l.evs {
			if e.state == state && e.at.After(since) {
				l.mu.Unlock()
				return e.at, true
			}
		}
		l.mu.Unlock()
		select {
		case <-l.kick:
		case <-timer.C:
			return time.Time{}, false
		}
	}
}

func (l *eventLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var b strings.Builder
	for _, e := range l.evs {
		fmt.Fprintf(&b, "\n  %s %v", e.at.Format("15:04:05.000"), e.state)
		if e.err != nil {
			fmt.Fprintf(&b, " (%v)", e.err)
		}
	}
	return b.String()
}
