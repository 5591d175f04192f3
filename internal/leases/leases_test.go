package leases

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

var (
	t0    = time.Date(2030, 1, 1, 12, 0, 0, 0, time.UTC)
	alice = Key{"token:alice", "shop", "web"}
	bob   = Key{"user:bob", "shop", "web"}
	carol = Key{"token:carol", "blog", "db"}
	dave  = Key{"token:dave", "blog", "db"}
)

const ttl = time.Hour

func open(t *testing.T, path string) *Store {
	t.Helper()
	s, err := Open(path, ttl)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func tempPath(t *testing.T) string { return filepath.Join(t.TempDir(), "leases.json") }

func label(t *testing.T, s *Store, k Key, now time.Time) string {
	t.Helper()
	l, err := s.Label(k, now)
	if err != nil {
		t.Fatalf("Label(%v): %v", k, err)
	}
	return l
}

func port(t *testing.T, s *Store, k Key, req PortRequest, now time.Time) uint16 {
	t.Helper()
	p, err := s.Port(k, req, now)
	if err != nil {
		t.Fatalf("Port(%v, %+v): %v", k, req, err)
	}
	return p
}

var labelRE = regexp.MustCompile(`^[a-z0-9]{8}$`)

func TestLabelSameAcrossCallsAndRestarts(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	first := label(t, s, alice, t0)
	if !labelRE.MatchString(first) {
		t.Fatalf("label %q is not 8 characters from [a-z0-9]", first)
	}
	if again := label(t, s, alice, t0.Add(time.Minute)); again != first {
		t.Fatalf("second call gave %q, first %q", again, first)
	}
	restarted := open(t, path)
	if again := label(t, restarted, alice, t0.Add(2*time.Minute)); again != first {
		t.Fatalf("after reopening the file the label is %q, was %q", again, first)
	}
}

func TestLabelsDifferPerKey(t *testing.T) {
	s := open(t, tempPath(t))
	keys := []Key{alice, bob, carol, {"token:alice", "shop", "api"}, {"token:alice", "blog", "web"}}
	seen := map[string]Key{}
	for _, k := range keys {
		l := label(t, s, k, t0)
		if other, ok := seen[l]; ok {
			t.Fatalf("%v and %v both got label %q", other, k, l)
		}
		seen[l] = k
	}
}

// TestLabelCollisionRetried forces the random source to repeat itself: the
// second key must not get the label the first one holds.
func TestLabelCollisionRetried(t *testing.T) {
	s := open(t, "")
	zeros, ones := bytes.Repeat([]byte{0}, 8), bytes.Repeat([]byte{1}, 8)
	s.rand = io.MultiReader(bytes.NewReader(zeros), bytes.NewReader(zeros), bytes.NewReader(ones))
	if l := label(t, s, alice, t0); l != "aaaaaaaa" {
		t.Fatalf("alice got %q from zero bytes, want aaaaaaaa", l)
	}
	if l := label(t, s, bob, t0); l != "bbbbbbbb" {
		t.Fatalf("bob got %q, want bbbbbbbb (aaaaaaaa is alice's)", l)
	}
}

// TestLabelCollisionExpiredReused: uniqueness is among unexpired leases
// only, so an expired label may be drawn again.
func TestLabelCollisionExpiredReused(t *testing.T) {
	s := open(t, "")
	zeros := bytes.Repeat([]byte{0}, 8)
	s.rand = io.MultiReader(bytes.NewReader(zeros), bytes.NewReader(zeros))
	label(t, s, alice, t0)
	if l := label(t, s, bob, t0.Add(ttl)); l != "aaaaaaaa" {
		t.Fatalf("bob got %q, want alice's expired aaaaaaaa", l)
	}
}

func TestLabelBrokenRandomSource(t *testing.T) {
	s := open(t, "")
	s.rand = bytes.NewReader(bytes.Repeat([]byte{0}, 8*(labelTries+1)))
	label(t, s, alice, t0)
	if _, err := s.Label(bob, t0); err == nil || !strings.HasPrefix(err.Error(), "leases: ") {
		t.Fatalf("a source repeating itself gave %v, want a leases: error", err)
	}
	s.rand = bytes.NewReader(nil)
	if _, err := s.Label(bob, t0); !errors.Is(err, io.EOF) {
		t.Fatalf("an empty source gave %v, want it wrapped", err)
	}
}

// TestRandomLabelSkipsBiasedBytes: bytes 252-255 would make a-d likelier
// than the rest, so they are skipped, not folded.
func TestRandomLabelSkipsBiasedBytes(t *testing.T) {
	in := []byte{252, 253, 254, 255, 0, 1, 2, 3, 4, 5, 6, 7, 35}
	l, err := randomLabel(bytes.NewReader(append(in, make([]byte, 3)...)))
	if err != nil {
		t.Fatal(err)
	}
	if l != "abcdefgh" {
		t.Fatalf("got %q, want abcdefgh", l)
	}
	l, err = randomLabel(bytes.NewReader([]byte{26, 35, 36, 71, 72, 251, 0, 0}))
	if err != nil {
		t.Fatal(err)
	}
	if l != "09a9a9aa" {
		t.Fatalf("got %q, want 09a9a9aa", l)
	}
}

func TestLabelExpiry(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	first := label(t, s, alice, t0)
	// Each call renews: two calls just inside the ttl keep it.
	if l := label(t, s, alice, t0.Add(ttl-time.Second)); l != first {
		t.Fatalf("just before expiry the label is %q, was %q", l, first)
	}
	if l := label(t, s, alice, t0.Add(2*ttl-2*time.Second)); l != first {
		t.Fatalf("the renewal did not extend the lease: %q, was %q", l, first)
	}
	far := t0.Add(1000 * time.Hour)
	if l := label(t, open(t, path), alice, far); l == first {
		t.Fatalf("after the lease expired the label is still %q", l)
	}
	if f := readFile(t, path); len(f.Labels) != 1 {
		t.Fatalf("the file holds %d labels, want the expired one pruned: %+v", len(f.Labels), f.Labels)
	}
}

var ports = PortRequest{Lo: 30000, Hi: 30009}

func TestPortSameAfterRestart(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	if p := port(t, s, alice, ports, t0); p != 30000 {
		t.Fatalf("alice got %d, want the lowest, 30000", p)
	}
	if p := port(t, s, bob, ports, t0); p != 30001 {
		t.Fatalf("bob got %d, want 30001", p)
	}
	// Bob first: the lowest free port would be 30000 if alice's lease had
	// not been saved.
	s = open(t, path)
	if p := port(t, s, bob, ports, t0.Add(time.Minute)); p != 30001 {
		t.Fatalf("after reopening bob got %d, want 30001", p)
	}
	if p := port(t, s, alice, ports, t0.Add(time.Minute)); p != 30000 {
		t.Fatalf("after reopening alice got %d, want 30000", p)
	}
}

// TestPortOwnNotAskedFree: a key's own port may still be bound by the
// exposure being re-established, so Free is not asked about it.
func TestPortOwnNotAskedFree(t *testing.T) {
	s := open(t, "")
	port(t, s, alice, ports, t0)
	var asked []uint16
	req := ports
	req.Free = func(p uint16) bool { asked = append(asked, p); return false }
	if p := port(t, s, alice, req, t0); p != 30000 {
		t.Fatalf("alice got %d, want her own 30000", p)
	}
	req.Want = 30000
	if p := port(t, s, alice, req, t0); p != 30000 {
		t.Fatalf("alice wanting her own got %d, want 30000", p)
	}
	if len(asked) != 0 {
		t.Fatalf("Free was asked about %v, alice's own port", asked)
	}
}

func TestPortWant(t *testing.T) {
	s := open(t, tempPath(t))
	req := ports
	req.Want = 30005
	if p := port(t, s, alice, req, t0); p != 30005 {
		t.Fatalf("alice wanting 30005 got %d", p)
	}

	for _, c := range []struct {
		name string
		req  PortRequest
		want error
		says []string
	}{
		{"out of range", PortRequest{Lo: 30000, Hi: 30999, Want: 31000}, ErrOutOfRange, []string{"port 31000 is outside the gateway's TCP ports 30000-30999"}},
		{"below range", PortRequest{Lo: 30000, Hi: 30999, Want: 80}, ErrOutOfRange, []string{"port 80 ", "30000-30999"}},
		{"taken", PortRequest{Lo: 30000, Hi: 30009, Want: 30005}, ErrTaken, []string{"port 30005 ", "another exposure"}},
		{"busy", PortRequest{Lo: 30000, Hi: 30009, Want: 30006, Free: func(p uint16) bool { return p != 30006 }}, ErrBusy, []string{"port 30006 ", "in use on the gateway"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			p, err := s.Port(bob, c.req, t0)
			if !errors.Is(err, c.want) {
				t.Fatalf("got %d, %v; want %v", p, err, c.want)
			}
			for _, w := range c.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%q does not say %q", err, w)
				}
			}
			if !strings.HasPrefix(err.Error(), "leases: ") {
				t.Errorf("%q lacks the leases: prefix", err)
			}
		})
	}
	// The failures leased bob nothing: he gets the lowest port, and
	// alice's 30005 is still hers.
	if p := port(t, s, bob, ports, t0); p != 30000 {
		t.Fatalf("bob got %d after his failed requests, want 30000", p)
	}
	if p := port(t, s, alice, ports, t0); p != 30005 {
		t.Fatalf("alice got %d, want her 30005", p)
	}
}

// TestPortOneAKey: wanting another port moves the key's lease, freeing
// the old port.
func TestPortOneAKey(t *testing.T) {
	s := open(t, "")
	port(t, s, alice, ports, t0)
	req := ports
	req.Want = 30003
	if p := port(t, s, alice, req, t0); p != 30003 {
		t.Fatalf("alice wanting 30003 got %d", p)
	}
	if p := port(t, s, bob, ports, t0); p != 30000 {
		t.Fatalf("bob got %d, want 30000 which alice left", p)
	}
	// A range that no longer holds alice's port moves her into it.
	if p := port(t, s, alice, PortRequest{Lo: 40000, Hi: 40009}, t0); p != 40000 {
		t.Fatalf("alice in the new range got %d, want 40000", p)
	}
	if p := port(t, s, carol, ports, t0); p != 30001 {
		t.Fatalf("carol got %d, want 30001 (30003 is alice's no more, but 30001 is lower)", p)
	}
	if p := port(t, s, dave, ports, t0); p != 30002 {
		t.Fatalf("dave got %d, want 30002", p)
	}
	if p := port(t, s, Key{"x", "y", "z"}, ports, t0); p != 30003 {
		t.Fatalf("a fourth key got %d, want 30003 which alice left", p)
	}
}

func TestPortExhausted(t *testing.T) {
	s := open(t, "")
	req := PortRequest{Lo: 30000, Hi: 30002, Free: func(p uint16) bool { return p != 30001 }}
	if p := port(t, s, alice, req, t0); p != 30000 {
		t.Fatalf("alice got %d", p)
	}
	if p := port(t, s, bob, req, t0); p != 30002 {
		t.Fatalf("bob got %d, want 30002 (30001 is busy)", p)
	}
	p, err := s.Port(carol, req, t0)
	if !errors.Is(err, ErrExhausted) {
		t.Fatalf("carol got %d, %v; want ErrExhausted", p, err)
	}
	for _, w := range []string{"30000-30002", "2 leased", "1 in use"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
}

// TestPortTopOfRange: the scan must stop at 65535, not wrap to 0.
func TestPortTopOfRange(t *testing.T) {
	s := open(t, "")
	req := PortRequest{Lo: 65535, Hi: 65535}
	if p := port(t, s, alice, req, t0); p != 65535 {
		t.Fatalf("alice got %d", p)
	}
	if _, err := s.Port(bob, req, t0); !errors.Is(err, ErrExhausted) {
		t.Fatalf("bob got %v, want ErrExhausted", err)
	}
}

func TestPortBadRange(t *testing.T) {
	s := open(t, "")
	for _, req := range []PortRequest{{Lo: 30010, Hi: 30000}, {Lo: 0, Hi: 10}} {
		if p, err := s.Port(alice, req, t0); err == nil || !strings.HasPrefix(err.Error(), "leases: ") {
			t.Errorf("%+v gave %d, %v; want a leases: error", req, p, err)
		}
	}
}

func TestReleasePort(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	port(t, s, alice, ports, t0)
	port(t, s, bob, ports, t0)
	if err := s.ReleasePort(alice); err != nil {
		t.Fatal(err)
	}
	if err := s.ReleasePort(alice); err != nil { // nothing left to release
		t.Fatal(err)
	}
	// Reopened, so the release must have been saved.
	s = open(t, path)
	if p := port(t, s, carol, ports, t0); p != 30000 {
		t.Fatalf("carol got %d, want 30000 which alice released", p)
	}
	if f := readFile(t, path); len(f.Ports) != 2 {
		t.Fatalf("the file holds %+v, want bob's and carol's", f.Ports)
	}
}

// TestReleasePortKeepsTestClockLeases: ReleasePort, given no time, must
// not prune by the wall clock leases that are live at the caller's time.
func TestReleasePortKeepsTestClockLeases(t *testing.T) {
	past := time.Date(2001, 1, 1, 0, 0, 0, 0, time.UTC)
	s := open(t, "")
	port(t, s, alice, ports, past)
	port(t, s, bob, ports, past)
	if err := s.ReleasePort(bob); err != nil {
		t.Fatal(err)
	}
	if p := port(t, s, carol, ports, past); p != 30001 {
		t.Fatalf("carol got %d, want 30001: alice's 30000 is live in 2001", p)
	}
}

func TestExpiredPortReusable(t *testing.T) {
	s := open(t, tempPath(t))
	port(t, s, alice, ports, t0)
	if p := port(t, s, bob, ports, t0.Add(ttl-time.Second)); p != 30001 {
		t.Fatalf("bob got %d while alice's lease is live, want 30001", p)
	}
	later := t0.Add(ttl) // alice's lease ends exactly now
	req := ports
	req.Want = 30000
	if p := port(t, s, carol, req, later); p != 30000 {
		t.Fatalf("carol wanting alice's expired 30000 got %d", p)
	}
	if p := port(t, s, alice, ports, later); p != 30002 {
		t.Fatalf("alice, whose lease expired, got %d, want 30002", p)
	}
}

func TestRenewPort(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	if err := s.RenewPort(alice, t0); err != nil { // no lease: no-op
		t.Fatal(err)
	}
	if _, err := readFileErr(path); err == nil {
		t.Fatal("RenewPort without a lease wrote the file")
	}
	port(t, s, alice, ports, t0)
	if err := s.RenewPort(alice, t0.Add(ttl-time.Second)); err != nil {
		t.Fatal(err)
	}
	s = open(t, path)
	if p := port(t, s, bob, ports, t0.Add(ttl+time.Second)); p != 30001 {
		t.Fatalf("bob got %d, want 30001: alice renewed 30000", p)
	}
	// An expired lease is not renewed: carol may have it by now.
	if err := s.RenewPort(alice, t0.Add(3*ttl)); err != nil {
		t.Fatal(err)
	}
	if p := port(t, s, carol, ports, t0.Add(3*ttl)); p != 30000 {
		t.Fatalf("carol got %d, want 30000: alice's lease ran out before she renewed", p)
	}
}

func TestTTL(t *testing.T) {
	for _, c := range []struct{ in, want time.Duration }{{0, 24 * time.Hour}, {-time.Second, 24 * time.Hour}, {5 * time.Minute, 5 * time.Minute}} {
		s, err := Open("", c.in)
		if err != nil {
			t.Fatal(err)
		}
		if s.TTL() != c.want {
			t.Errorf("Open with ttl %v: TTL() = %v, want %v", c.in, s.TTL(), c.want)
		}
	}
	s, _ := Open("", 0)
	first := label(t, s, alice, t0)
	if l := label(t, s, alice, t0.Add(23*time.Hour)); l != first {
		t.Fatal("a label lasted less than the default 24h")
	}
}

func TestMemoryOnly(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s := open(t, "")
	first := label(t, s, alice, t0)
	if l := label(t, s, alice, t0); l != first {
		t.Fatalf("got %q, then %q", first, l)
	}
	port(t, s, alice, ports, t0)
	if names := dirNames(t, dir); len(names) != 0 {
		t.Fatalf("a store without a path wrote %v", names)
	}
}

// TestConcurrent is for -race: many keys at once must still get distinct
// labels and ports, all of them saved.
func TestConcurrent(t *testing.T) {
	path := tempPath(t)
	s := open(t, path)
	const n = 40
	req := PortRequest{Lo: 30000, Hi: 30000 + n - 1}
	labels, got := make([]string, n), make([]uint16, n)
	errs := make(chan error, 3*n)
	var wg sync.WaitGroup
	for i := range n {
		k := Key{fmt.Sprintf("token:u%d", i), "p", "n"}
		wg.Go(func() {
			l, err := s.Label(k, t0)
			errs <- err
			labels[i] = l
			p, err := s.Port(k, req, t0)
			errs <- err
			got[i] = p
			if err := s.RenewPort(k, t0); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seenL, seenP := map[string]bool{}, map[uint16]bool{}
	for i := range n {
		if seenL[labels[i]] || seenP[got[i]] {
			t.Fatalf("label %q or port %d handed out twice", labels[i], got[i])
		}
		seenL[labels[i]], seenP[got[i]] = true, true
	}
	s = open(t, path)
	for i := range n {
		k := Key{fmt.Sprintf("token:u%d", i), "p", "n"}
		if l := label(t, s, k, t0); l != labels[i] {
			t.Errorf("%v: label %q after reopening, was %q", k, l, labels[i])
		}
		if p := port(t, s, k, req, t0); p != got[i] {
			t.Errorf("%v: port %d after reopening, was %d", k, p, got[i])
		}
	}
}
