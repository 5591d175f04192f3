// Package portwatch follows this machine's listening TCP ports for
// `fwd expose --auto`: it reports each port as it starts listening and as it
// stops, so that the caller can expose and withdraw it as a developer starts
// and stops servers, without naming ports up front.
//
// It polls /proc/net/tcp and tcp6 (through internal/sockets) rather than
// asking the kernel for socket events, which would need netlink
// subscriptions and privileges fwd does not have; a listing of the TCP
// tables is cheap enough to take four times a second.
package portwatch

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"slices"
	"time"

	"github.com/fwd-dev/fwd/internal/sockets"
)

// DefaultInterval is how often Watch lists the ports when Options.Interval
// is not set: a server is exposed within a quarter of a second of
// listening, as quickly as a person looks for it.
const DefaultInterval = 250 * time.Millisecond

// sshPort is never reported: exposing this machine's SSH server because it
// happens to listen would publish a login prompt nobody asked to publish.
const sshPort = 22

// giveUpAfter is how long the listing may fail, after it worked once, before
// Watch returns. A passing shortage of file descriptors should not end
// automatic exposure, but a lasting failure would leave the caller's
// exposures silently stale.
const giveUpAfter = 10 * time.Second

// Port is one listening TCP port as the watcher sees it.
type Port struct {
	Port          uint16
	Addrs         []netip.Addr // the addresses it is bound on, sorted
	LocalhostOnly bool         // every address is loopback
	Program       string       // owner's process name when readable, else ""
	PID           int
}

// Event is a port that started listening, or whose Port value changed (its
// addresses or its owner), when Open is true; a port that stopped listening,
// with its last Port value, when Open is false.
type Event struct {
	Port Port
	Open bool
}

// Options says how Watch polls and which ports it leaves out.
type Options struct {
	Interval time.Duration // how often to list the ports; 0 or less means DefaultInterval
	// Skip names ports never reported (the caller passes its own ports);
	// nil skips none. Port 22 is always skipped, whatever Skip says.
	Skip func(port uint16) bool
}

// Watch reports the TCP ports listening now (as Open events, first) and then
// every change, until ctx ends; it calls report from one goroutine, in
// order, and lists no ports while report runs. Within one listing events
// come in port order.
//
// A port is identified by its number: IPv4 and IPv6 listeners on the same
// port are one Port, their addresses merged. A change of its address set
// (127.0.0.1 only, then also 0.0.0.0) or of its owner is reported as Open
// again with the new Port value. Only TCP listening sockets count. Owners
// are looked up only for sockets not seen before, since that means a walk
// of every process's file descriptors.
//
// Watch returns ctx's error, or an error if the listing cannot be read at
// all (as off Linux) or stays unreadable for 10 s.
func Watch(ctx context.Context, o Options, report func(Event)) error {
	w := &watcher{
		skip:   func(port uint16) bool { return skipped(o, port) },
		list:   sockets.ListeningTCP,
		owners: sockets.FillOwners,
		giveUp: giveUpAfter,
	}
	interval := o.Interval
	if interval <= 0 {
		interval = DefaultInterval
	}
	return w.run(ctx, interval, report)
}

// skipped is Options.Skip with port 22 added, the one rule no caller may
// turn off.
func skipped(o Options, port uint16) bool {
	return port == sshPort || (o.Skip != nil && o.Skip(port))
}

// watcher is Watch's state, with the listing and owner lookup as fields so
// that tests can feed it fixtures and failures.
type watcher struct {
	skip   func(uint16) bool
	list   func() ([]sockets.Listener, error)
	owners func([]sockets.Listener)
	giveUp time.Duration
	ports  map[uint16]tracked // what was last reported open
}

// tracked is a reported port with the sockets behind it: while the same
// sockets listen, their addresses and owner cannot have changed, so the
// owner need not be looked up again.
type tracked struct {
	port   Port
	inodes []uint64 // sorted
}

func (w *watcher) run(ctx context.Context, interval time.Duration, report func(Event)) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	ls, err := w.list()
	if err != nil {
		return listError(err)
	}
	if err := w.report(ctx, w.step(ls), report); err != nil {
		return err
	}
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var failingSince time.Time
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
		ls, err := w.list()
		if err != nil {
			if failingSince.IsZero() {
				failingSince = time.Now()
			}
			if time.Since(failingSince) >= w.giveUp {
				return fmt.Errorf("portwatch: the listening ports could not be read for %v: %w", w.giveUp, err)
			}
			continue // keep the last state: nothing is known to have changed
		}
		failingSince = time.Time{}
		if err := w.report(ctx, w.step(ls), report); err != nil {
			return err
		}
	}
}

// report stops at ctx's end even within one listing's events, so that
// nothing is reported once the caller has cancelled.
func (w *watcher) report(ctx context.Context, events []Event, report func(Event)) error {
	for _, e := range events {
		if err := ctx.Err(); err != nil {
			return err
		}
		report(e)
	}
	return nil
}

// listError words the first listing's failure: off Linux, or without /proc
// mounted, the cause is where fwd runs, not something to retry.
func listError(err error) error {
	if errors.Is(err, errors.ErrUnsupported) || errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("portwatch: watching ports needs Linux's /proc here: %w", err)
	}
	return fmt.Errorf("portwatch: reading the listening ports: %w", err)
}

// step takes one listing and returns what changed since the last, in port
// order, remembering the new state.
func (w *watcher) step(ls []sockets.Listener) []Event {
	byPort := map[uint16][]sockets.Listener{}
	for _, l := range ls {
		if l.Network != "tcp" || !l.Addr.IsValid() || w.skip(l.Addr.Port()) {
			continue
		}
		byPort[l.Addr.Port()] = append(byPort[l.Addr.Port()], l)
	}

	// Ports with new sockets have their owners looked up together, in one
	// walk of /proc, however many there are.
	type span struct {
		port     uint16
		from, to int
	}
	var fresh []sockets.Listener
	var spans []span
	next := make(map[uint16]tracked, len(byPort))
	for port, group := range byPort {
		slices.SortFunc(group, func(a, b sockets.Listener) int {
			return cmp.Or(a.Addr.Addr().Compare(b.Addr.Addr()), cmp.Compare(a.Inode, b.Inode))
		})
		inodes := make([]uint64, len(group))
		for i, l := range group {
			inodes[i] = l.Inode
		}
		slices.Sort(inodes)
		if prev, ok := w.ports[port]; ok && slices.Equal(prev.inodes, inodes) && !slices.Contains(inodes, 0) {
			next[port] = prev
			continue
		}
		spans = append(spans, span{port, len(fresh), len(fresh) + len(group)})
		fresh = append(fresh, group...)
		next[port] = tracked{inodes: inodes}
	}
	if len(fresh) > 0 {
		w.owners(fresh)
	}
	for _, s := range spans {
		t := next[s.port]
		t.port = portOf(s.port, fresh[s.from:s.to])
		next[s.port] = t
	}

	var events []Event
	for port, t := range next {
		if prev, ok := w.ports[port]; !ok || !samePort(prev.port, t.port) {
			events = append(events, Event{Port: t.port, Open: true})
		}
	}
	for port, prev := range w.ports {
		if _, ok := next[port]; !ok {
			events = append(events, Event{Port: prev.port, Open: false})
		}
	}
	slices.SortFunc(events, func(a, b Event) int { return cmp.Compare(a.Port.Port, b.Port.Port) })
	w.ports = next
	return events
}

// portOf merges the sockets of one port, sorted by address. The owner is
// the first socket's whose owner could be read, so that it does not depend
// on the order of /proc's tables.
func portOf(port uint16, group []sockets.Listener) Port {
	p := Port{Port: port, LocalhostOnly: true}
	for _, l := range group {
		a := l.Addr.Addr().Unmap().WithZone("")
		if !slices.Contains(p.Addrs, a) {
			p.Addrs = append(p.Addrs, a)
		}
		if !a.IsLoopback() {
			p.LocalhostOnly = false
		}
		if p.PID == 0 && l.PID > 0 {
			p.PID, p.Program = l.PID, l.Program
		}
	}
	slices.SortFunc(p.Addrs, netip.Addr.Compare)
	return p
}

func samePort(a, b Port) bool {
	return a.Port == b.Port && slices.Equal(a.Addrs, b.Addrs) && a.LocalhostOnly == b.LocalhostOnly &&
		a.PID == b.PID && a.Program == b.Program
}
