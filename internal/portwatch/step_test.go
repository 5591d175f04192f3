package portwatch

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/fwd-dev/fwd/internal/sockets"
)

// fakeOwners plays FillOwners over a table of inode owners, recording which
// sockets it was asked about.
type fakeOwners struct {
	pids  map[uint64]int
	asked []uint64
}

func (f *fakeOwners) fill(ls []sockets.Listener) {
	for i := range ls {
		f.asked = append(f.asked, ls[i].Inode)
		if pid, ok := f.pids[ls[i].Inode]; ok {
			ls[i].PID, ls[i].Program = pid, fmt.Sprintf("prog%d", pid)
		}
	}
}

func tcp(ap string, inode uint64) sockets.Listener {
	return sockets.Listener{Network: "tcp", Addr: netip.MustParseAddrPort(ap), Inode: inode, UID: 1000}
}

func addrs(ss ...string) []netip.Addr {
	var as []netip.Addr
	for _, s := range ss {
		as = append(as, netip.MustParseAddr(s))
	}
	return as
}

func newFake(skip func(uint16) bool) (*watcher, *fakeOwners) {
	f := &fakeOwners{pids: map[uint64]int{}}
	o := Options{Skip: skip}
	return &watcher{skip: func(p uint16) bool { return skipped(o, p) }, owners: f.fill, giveUp: time.Hour}, f
}

func checkEvents(t *testing.T, what string, got []Event, want ...Event) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d events %+v, want %+v", what, len(got), got, want)
	}
	for i := range want {
		if got[i].Open != want[i].Open || !samePort(got[i].Port, want[i].Port) {
			t.Errorf("%s: event %d\ngot  %+v\nwant %+v", what, i, got[i], want[i])
		}
	}
}

func TestStep(t *testing.T) {
	w, f := newFake(nil)
	f.pids[1] = 100
	f.pids[2] = 100
	f.pids[5] = 300

	// IPv4 and IPv6 sockets of one port merge; UDP and port 22 are left out.
	checkEvents(t, "first listing", w.step([]sockets.Listener{
		tcp("0.0.0.0:22", 9),
		tcp("127.0.0.1:3000", 1),
		tcp("[::1]:3000", 2),
		{Network: "udp", Addr: netip.MustParseAddrPort("0.0.0.0:3000"), Inode: 8},
		tcp("[::]:8080", 5),
		tcp("[::ffff:10.0.0.7]:9000", 6),
	}),
		Event{Open: true, Port: Port{Port: 3000, Addrs: addrs("127.0.0.1", "::1"), LocalhostOnly: true, PID: 100, Program: "prog100"}},
		Event{Open: true, Port: Port{Port: 8080, Addrs: addrs("::"), PID: 300, Program: "prog300"}},
		Event{Open: true, Port: Port{Port: 9000, Addrs: addrs("10.0.0.7")}},
	)
	if slices.Contains(f.asked, 9) || slices.Contains(f.asked, 8) {
		t.Errorf("owners looked up for skipped sockets: asked %v", f.asked)
	}

	// Nothing changed: no events and no owner lookup.
	f.asked = nil
	checkEvents(t, "same listing", w.step([]sockets.Listener{
		tcp("[::]:8080", 5), tcp("127.0.0.1:3000", 1), tcp("[::1]:3000", 2), tcp("10.0.0.7:9000", 6),
	}))
	if len(f.asked) != 0 {
		t.Errorf("owners looked up again for known sockets: %v", f.asked)
	}

	// 3000 gains 0.0.0.0 (no longer localhost only), 8080 closes, 9000 is
	// the same: only the new sockets' owners are looked up.
	f.pids[7] = 100
	checkEvents(t, "changes", w.step([]sockets.Listener{
		tcp("127.0.0.1:3000", 1), tcp("[::1]:3000", 2), tcp("0.0.0.0:3000", 7), tcp("10.0.0.7:9000", 6),
	}),
		Event{Open: true, Port: Port{Port: 3000, Addrs: addrs("0.0.0.0", "127.0.0.1", "::1"), PID: 100, Program: "prog100"}},
		Event{Open: false, Port: Port{Port: 8080, Addrs: addrs("::"), PID: 300, Program: "prog300"}},
	)
	if got := slices.Sorted(slices.Values(f.asked)); !slices.Equal(got, []uint64{1, 2, 7}) {
		t.Errorf("owners asked for inodes %v, want those of port 3000 only (1, 2, 7)", got)
	}

	// A restarted server on the same address: new socket, new owner, so
	// Open again; with the same owner it would be no event at all.
	f.pids[10] = 400
	f.pids[11] = 100
	checkEvents(t, "restart", w.step([]sockets.Listener{
		tcp("127.0.0.1:3000", 1), tcp("[::1]:3000", 2), tcp("0.0.0.0:3000", 7), tcp("10.0.0.7:9000", 10),
	}),
		Event{Open: true, Port: Port{Port: 9000, Addrs: addrs("10.0.0.7"), PID: 400, Program: "prog400"}},
	)
	checkEvents(t, "restart by the same owner", w.step([]sockets.Listener{
		tcp("127.0.0.1:3000", 11), tcp("[::1]:3000", 2), tcp("0.0.0.0:3000", 7), tcp("10.0.0.7:9000", 10),
	}))

	// Everything closes.
	checkEvents(t, "all closed", w.step(nil),
		Event{Open: false, Port: Port{Port: 3000, Addrs: addrs("0.0.0.0", "127.0.0.1", "::1"), PID: 100, Program: "prog100"}},
		Event{Open: false, Port: Port{Port: 9000, Addrs: addrs("10.0.0.7"), PID: 400, Program: "prog400"}},
	)
}

func TestStepLocalhostOnly(t *testing.T) {
	w, _ := newFake(nil)
	checkEvents(t, "127.0.0.0/8 only", w.step([]sockets.Listener{tcp("127.0.0.1:5000", 1), tcp("127.1.2.3:5000", 2)}),
		Event{Open: true, Port: Port{Port: 5000, Addrs: addrs("127.0.0.1", "127.1.2.3"), LocalhostOnly: true}})
	checkEvents(t, "one wildcard among them", w.step([]sockets.Listener{tcp("127.0.0.1:5000", 1), tcp("127.1.2.3:5000", 2), tcp("[::]:5000", 3)}),
		Event{Open: true, Port: Port{Port: 5000, Addrs: addrs("127.0.0.1", "127.1.2.3", "::")}})
	checkEvents(t, "back to loopback", w.step([]sockets.Listener{tcp("127.0.0.1:5000", 1), tcp("127.1.2.3:5000", 2)}),
		Event{Open: true, Port: Port{Port: 5000, Addrs: addrs("127.0.0.1", "127.1.2.3"), LocalhostOnly: true}})
	// Two SO_REUSEPORT sockets on one address are one address.
	checkEvents(t, "reuseport", w.step([]sockets.Listener{tcp("127.0.0.1:5000", 1), tcp("127.1.2.3:5000", 2), tcp("127.1.2.3:5000", 4)}))
}

func TestSkipped(t *testing.T) {
	none := func(uint16) bool { return false }
	mine := func(p uint16) bool { return p == 7443 || p == 9090 }
	for _, c := range []struct {
		o    Options
		port uint16
		want bool
	}{
		{Options{}, 22, true},
		{Options{Skip: none}, 22, true}, // whatever Skip says
		{Options{Skip: mine}, 22, true},
		{Options{}, 7443, false},
		{Options{Skip: mine}, 7443, true},
		{Options{Skip: mine}, 9090, true},
		{Options{Skip: mine}, 3000, false},
		{Options{Skip: none}, 2222, false},
	} {
		if got := skipped(c.o, c.port); got != c.want {
			t.Errorf("skipped(Skip %v, %d) = %v, want %v", c.o.Skip != nil, c.port, got, c.want)
		}
	}
	w, _ := newFake(mine)
	checkEvents(t, "skipped ports", w.step([]sockets.Listener{tcp("0.0.0.0:22", 1), tcp("[::]:22", 2), tcp("127.0.0.1:7443", 3), tcp("0.0.0.0:3000", 4)}),
		Event{Open: true, Port: Port{Port: 3000, Addrs: addrs("0.0.0.0")}})
}

func TestFirstListingFails(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string
	}{
		{fmt.Errorf("sockets: listing TCP listeners on darwin: %w", errors.ErrUnsupported), "watching ports needs Linux's /proc here"},
		{fmt.Errorf("sockets: %w", &fs.PathError{Op: "open", Path: "/proc/net/tcp", Err: fs.ErrNotExist}), "watching ports needs Linux's /proc here"},
		{errors.New("sockets: reading /proc/net/tcp: too many open files"), "reading the listening ports"},
	} {
		w, _ := newFake(nil)
		w.list = func() ([]sockets.Listener, error) { return nil, c.err }
		reported := 0
		err := w.run(context.Background(), time.Millisecond, func(Event) { reported++ })
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, c.err) {
			t.Errorf("run with a listing failing with %v: %v, want %q wrapping it", c.err, err, c.want)
		}
		if reported != 0 {
			t.Errorf("reported %d events without a listing", reported)
		}
	}
}

func TestLaterFailures(t *testing.T) {
	w, _ := newFake(nil)
	w.giveUp = 500 * time.Millisecond
	calls := 0
	bad := errors.New("too many open files")
	w.list = func() ([]sockets.Listener, error) {
		calls++
		switch {
		case calls == 1:
			return []sockets.Listener{tcp("127.0.0.1:3000", 1)}, nil
		case calls <= 4: // a passing failure, then the same listing
			return nil, bad
		case calls <= 6:
			return []sockets.Listener{tcp("127.0.0.1:3000", 1)}, nil
		}
		return nil, bad // for good
	}
	var events []Event
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := w.run(ctx, 5*time.Millisecond, func(e Event) { events = append(events, e) })
	if !errors.Is(err, bad) || ctx.Err() != nil {
		t.Fatalf("run = %v, want the lasting failure within %v", err, w.giveUp)
	}
	// The passing failure closed nothing.
	checkEvents(t, "events", events, Event{Open: true, Port: Port{Port: 3000, Addrs: addrs("127.0.0.1"), LocalhostOnly: true}})
}

func TestCancelledBeforeStart(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := Watch(ctx, Options{}, func(e Event) { t.Errorf("reported %+v after cancel", e) })
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Watch on a cancelled context = %v, want context.Canceled", err)
	}
}

func TestNoReportAfterCancel(t *testing.T) {
	w, _ := newFake(nil)
	w.list = func() ([]sockets.Listener, error) {
		return []sockets.Listener{tcp("127.0.0.1:3000", 1), tcp("127.0.0.1:3001", 2), tcp("127.0.0.1:3002", 3)}, nil
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := 0
	err := w.run(ctx, time.Hour, func(Event) { n++; cancel() })
	if !errors.Is(err, context.Canceled) || n != 1 {
		t.Errorf("run = %v after %d reports, want context.Canceled after the one that cancelled", err, n)
	}
}
