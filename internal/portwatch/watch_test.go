package portwatch

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

// within is how soon the brief promises an opened or closed port is seen.
const within = 2 * time.Second

func needLinux(t *testing.T) {
	t.Helper()
	if runtime.GOOS != "linux" && runtime.GOOS != "android" {
		t.Skipf("ports are only watched on Linux, not %s", runtime.GOOS)
	}
}

// ownComm is the kernel's name for this test binary: its base name cut to
// 15 bytes, derived from os.Args so as not to check /proc against itself.
func ownComm() string {
	name := filepath.Base(os.Args[0])
	return name[:min(len(name), 15)]
}

// watching runs Watch until the test ends, checking then that it returns
// context.Canceled promptly.
func watching(t *testing.T, o Options) <-chan Event {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	events := make(chan Event, 4096)
	done := make(chan error, 1)
	go func() {
		done <- Watch(ctx, o, func(e Event) {
			select {
			case events <- e:
			case <-ctx.Done():
			}
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("Watch returned %v, want context.Canceled", err)
			}
		case <-time.After(within):
			t.Error("Watch did not return after its context was cancelled")
		}
	})
	return events
}

// waitFor returns the first event on port with the given Open, failing the
// test after within. seen collects every event passed over.
func waitFor(t *testing.T, events <-chan Event, port uint16, open bool, seen *[]Event) Event {
	t.Helper()
	deadline := time.After(within)
	for {
		select {
		case e := <-events:
			if seen != nil {
				*seen = append(*seen, e)
			}
			if e.Port.Port == port && e.Open == open {
				return e
			}
		case <-deadline:
			t.Fatalf("no event Open=%v for port %d within %v", open, port, within)
			return Event{}
		}
	}
}

func listen(t *testing.T, network, addr string) (net.Listener, uint16) {
	t.Helper()
	ln, err := net.Listen(network, addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln, uint16(ln.Addr().(*net.TCPAddr).Port)
}

func checkPort(t *testing.T, got Port, port uint16, localhostOnly bool, addrs ...netip.Addr) {
	t.Helper()
	if got.Port != port || got.LocalhostOnly != localhostOnly || !slices.Equal(got.Addrs, addrs) {
		t.Errorf("port %+v, want %d on %v, localhost only %v", got, port, addrs, localhostOnly)
	}
	if got.PID != os.Getpid() || got.Program != ownComm() {
		t.Errorf("port %d owned by pid %d (%q), want this test, %d (%q)", port, got.PID, got.Program, os.Getpid(), ownComm())
	}
}

var localhost = netip.MustParseAddr("127.0.0.1")

func TestOpenAndClose(t *testing.T) {
	needLinux(t)
	_, before := listen(t, "tcp4", "127.0.0.1:0")
	events := watching(t, Options{}) // the default interval

	// The first listing holds a listener opened before Watch; once one of
	// its events is seen that listing is taken, so the next listener opens
	// after it.
	checkPort(t, waitFor(t, events, before, true, nil).Port, before, true, localhost)

	ln, port := listen(t, "tcp4", "127.0.0.1:0")
	start := time.Now()
	checkPort(t, waitFor(t, events, port, true, nil).Port, port, true, localhost)
	t.Logf("open seen after %v", time.Since(start))

	ln.Close()
	start = time.Now()
	closed := waitFor(t, events, port, false, nil)
	t.Logf("close seen after %v", time.Since(start))
	checkPort(t, closed.Port, port, true, localhost)
}

func TestInitialSnapshot(t *testing.T) {
	needLinux(t)
	_, port := listen(t, "tcp4", "127.0.0.1:0")
	// No second listing within the test: the port can only come from the first.
	events := watching(t, Options{Interval: time.Hour})
	checkPort(t, waitFor(t, events, port, true, nil).Port, port, true, localhost)
}

func TestWildcardIsNotLocalhostOnly(t *testing.T) {
	needLinux(t)
	events := watching(t, Options{Interval: 20 * time.Millisecond})
	// Bound on every address of the machine: closed as soon as it is seen.
	ln, port := listen(t, "tcp4", "0.0.0.0:0")
	e := waitFor(t, events, port, true, nil)
	ln.Close()
	checkPort(t, e.Port, port, false, netip.IPv4Unspecified())
	waitFor(t, events, port, false, nil)
}

func TestAddressSetChanges(t *testing.T) {
	needLinux(t)
	events := watching(t, Options{Interval: 20 * time.Millisecond})
	first, port := listen(t, "tcp4", "127.0.0.1:0")
	checkPort(t, waitFor(t, events, port, true, nil).Port, port, true, localhost)

	second, _ := listen(t, "tcp4", netip.AddrPortFrom(netip.MustParseAddr("127.0.0.2"), port).String())
	checkPort(t, waitFor(t, events, port, true, nil).Port, port, true, localhost, netip.MustParseAddr("127.0.0.2"))

	first.Close()
	checkPort(t, waitFor(t, events, port, true, nil).Port, port, true, netip.MustParseAddr("127.0.0.2"))
	second.Close()
	waitFor(t, events, port, false, nil)
}

func TestIPv4AndIPv6MergeIntoOnePort(t *testing.T) {
	needLinux(t)
	_, port := listen(t, "tcp4", "127.0.0.1:0")
	ln6, err := net.Listen("tcp6", netip.AddrPortFrom(netip.IPv6Loopback(), port).String())
	if err != nil {
		t.Skipf("no IPv6 loopback here: %v", err)
	}
	defer ln6.Close()
	events := watching(t, Options{Interval: time.Hour})
	checkPort(t, waitFor(t, events, port, true, nil).Port, port, true, localhost, netip.IPv6Loopback())
}

func TestSkip(t *testing.T) {
	needLinux(t)
	skippedLn, skip := listen(t, "tcp4", "127.0.0.1:0")
	events := watching(t, Options{Interval: 20 * time.Millisecond, Skip: func(p uint16) bool { return p == skip }})
	var seen []Event
	ln, port := listen(t, "tcp4", "127.0.0.1:0")
	waitFor(t, events, port, true, &seen)
	skippedLn.Close()
	ln.Close()
	waitFor(t, events, port, false, &seen)
	for _, e := range seen {
		if e.Port.Port == skip || e.Port.Port == sshPort {
			t.Errorf("reported %+v, which Skip or the port 22 rule leaves out", e)
		}
	}
}

func TestCancelReturns(t *testing.T) {
	needLinux(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- Watch(ctx, Options{Interval: 10 * time.Millisecond}, func(Event) {}) }()
	time.Sleep(50 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Errorf("Watch = %v, want context.Canceled", err)
		}
	case <-time.After(within):
		t.Fatal("Watch did not return after cancel")
	}
}

func TestUnsupported(t *testing.T) {
	if runtime.GOOS == "linux" || runtime.GOOS == "android" {
		t.Skip("supported here")
	}
	err := Watch(context.Background(), Options{}, func(Event) {})
	if err == nil || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("Watch = %v, want an error saying it needs Linux's /proc", err)
	}
}
