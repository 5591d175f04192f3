// Package leases keeps what the gateway hands an exposure ("fwd expose")
// that must outlive its connection: the random DNS label in its HTTPS URL
// (https://PORTNAME--NAME--RANDOM.domain) and its public TCP port. A
// client that reconnects, or comes back after the gateway restarted,
// should find its URL and port where it left them, so each is a lease per
// [Key] that every use renews and that lapses only after a TTL without
// use; then the label or port goes back to the pool.
//
// The leases live in a JSON file beside the gateway's config, replaced
// atomically on every change, so that a crash leaves the old file or the
// new one and never half of either:
//
//	{"version":1,
//	 "labels":[{"owner":"token:alice","project":"shop","name":"web","label":"k3x9q0ab","expires":"2030-01-02T00:00:00Z"}],
//	 "ports":[{"owner":"token:alice","project":"shop","name":"db","port":30000,"expires":"2030-01-02T00:00:00Z"}]}
//
// Expired leases stay in the file until the next change prunes them; an
// expired lease counts for nothing in between.
package leases

import (
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"sync"
	"time"
)

// Key names who holds a lease: Owner is the login ("token:alice" or
// "user:bob"), Project and Name the exposure. The owner is part of it so
// that two logins exposing the same project and name never share a URL
// or a port.
type Key struct{ Owner, Project, Name string }

// defaultTTL is long enough for a laptop to sleep through a night and get
// its URLs back in the morning.
const defaultTTL = 24 * time.Hour

// Store holds leases; safe for concurrent use. Every change is written to
// the file before it takes effect, under the mutex, so the file and what
// the store hands out never disagree and two writers never interleave.
type Store struct {
	mu     sync.Mutex
	path   string
	ttl    time.Duration
	rand   io.Reader // crypto/rand; a test's reader to force collisions
	state  state
	latest time.Time // the latest now given, for ReleasePort, which is given none
}

// state is what the file holds. It is copied, changed and written before
// it replaces the store's, so that a failed write changes nothing.
type state struct {
	labels map[Key]lease[string]
	ports  map[Key]lease[uint16]
}

type lease[V comparable] struct {
	value   V
	expires time.Time
}

func (l lease[V]) live(now time.Time) bool { return l.expires.After(now) }

func newState() state {
	return state{labels: map[Key]lease[string]{}, ports: map[Key]lease[uint16]{}}
}

func (st state) clone() state {
	return state{labels: maps.Clone(st.labels), ports: maps.Clone(st.ports)}
}

// prune drops the leases expired at now, so that what remains is exactly
// what now's uniqueness rules must respect.
func (st state) prune(now time.Time) {
	maps.DeleteFunc(st.labels, func(_ Key, l lease[string]) bool { return !l.live(now) })
	maps.DeleteFunc(st.ports, func(_ Key, l lease[uint16]) bool { return !l.live(now) })
}

// Open loads the store from path ("" keeps it in memory only). A missing
// file is an empty store: the first gateway start, or one after the file
// was moved away. A file that cannot be parsed is an error naming the path
// and saying what to do, rather than an empty store, because starting
// afresh silently would change every exposure's URL and port. ttl <= 0
// means 24h.
func Open(path string, ttl time.Duration) (*Store, error) {
	if ttl <= 0 {
		ttl = defaultTTL
	}
	s := &Store{path: path, ttl: ttl, rand: rand.Reader, state: newState()}
	if path == "" {
		return s, nil
	}
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("leases: reading %s: %w", path, err)
	}
	st, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("leases: %s is not a lease file this gateway can read (%w): move it away and leases will be handed out afresh, with new URLs and TCP ports for every exposure", path, err)
	}
	s.state = st
	return s, nil
}

// TTL returns the store's ttl, for callers that renew well before it runs
// out.
func (s *Store) TTL() time.Duration { return s.ttl }

// begin starts a change at now: a copy of the state without what expired.
func (s *Store) begin(now time.Time) state {
	if now.After(s.latest) {
		s.latest = now
	}
	next := s.state.clone()
	next.prune(now)
	return next
}

// commit writes next and only then makes it the store's state.
func (s *Store) commit(next state) error {
	if s.path != "" {
		data, err := encode(next)
		if err != nil {
			return fmt.Errorf("leases: saving %s: %w", s.path, err)
		}
		if err := writeAtomic(s.path, data); err != nil {
			return err
		}
	}
	s.state = next
	return nil
}

// expiry is stored in UTC without a monotonic reading, so that a lease
// compares the same before and after a round trip through the file.
func (s *Store) expiry(now time.Time) time.Time { return now.Add(s.ttl).UTC() }

// Label returns k's random DNS label: 8 characters from [a-z0-9]
// (crypto/rand), so that URLs cannot be guessed from the exposure's name,
// and the same one for as long as k's label lease is unexpired, so that a
// URL survives reconnects and restarts. Each call renews it to now+ttl and
// persists. Labels are unique among unexpired leases.
func (s *Store) Label(k Key, now time.Time) (string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.begin(now)
	l, ok := next.labels[k]
	if !ok {
		label, err := s.unusedLabel(next)
		if err != nil {
			return "", err
		}
		l.value = label
	}
	l.expires = s.expiry(now)
	next.labels[k] = l
	if err := s.commit(next); err != nil {
		return "", err
	}
	return l.value, nil
}

// labelTries bounds the retries on a collision, which with 36^8 labels
// only a broken random source makes likely.
const labelTries = 16

func (s *Store) unusedLabel(st state) (string, error) {
	used := make(map[string]bool, len(st.labels))
	for _, l := range st.labels {
		used[l.value] = true
	}
	for range labelTries {
		label, err := randomLabel(s.rand)
		if err != nil {
			return "", err
		}
		if !used[label] {
			return label, nil
		}
	}
	return "", fmt.Errorf("leases: %d random labels in a row were already leased: the random source is not random", labelTries)
}

const (
	alphabet = "abcdefghijklmnopqrstuvwxyz0123456789"
	labelLen = 8
	// below is the largest multiple of len(alphabet) a byte holds: bytes
	// from it up are skipped, so that every character is equally likely.
	below = 256 / len(alphabet) * len(alphabet)
)

func randomLabel(r io.Reader) (string, error) {
	out := make([]byte, 0, labelLen)
	buf := make([]byte, labelLen)
	for len(out) < labelLen {
		if _, err := io.ReadFull(r, buf); err != nil {
			return "", fmt.Errorf("leases: reading random bytes: %w", err)
		}
		for _, b := range buf {
			if int(b) < below && len(out) < labelLen {
				out = append(out, alphabet[int(b)%len(alphabet)])
			}
		}
	}
	return string(out), nil
}

// validLabel reports whether s is a label randomLabel could have made.
func validLabel(s string) bool {
	if len(s) != labelLen {
		return false
	}
	for i := range len(s) {
		if !('a' <= s[i] && s[i] <= 'z' || '0' <= s[i] && s[i] <= '9') {
			return false
		}
	}
	return true
}

// PortRequest says which ports a Port call may lease.
type PortRequest struct {
	Lo, Hi uint16            // the range ports are leased from, inclusive
	Want   uint16            // 0: any port; else exactly this one
	Free   func(uint16) bool // reports whether the port can be bound now; nil means always
}

func (r PortRequest) contains(p uint16) bool { return r.Lo <= p && p <= r.Hi }

// The errors of Port, for errors.Is; the errors returned say which port
// and why in words a client's user can act on.
var (
	ErrOutOfRange = errors.New("leases: port outside the range")
	ErrTaken      = errors.New("leases: port leased to another exposure")
	ErrBusy       = errors.New("leases: port in use on the gateway")
	ErrExhausted  = errors.New("leases: no free port in the range")
)

// portError reads as its message alone, which says everything the
// sentinel does and more, yet matches the sentinel with errors.Is.
type portError struct {
	kind error
	msg  string
}

func (e *portError) Error() string { return "leases: " + e.msg }
func (e *portError) Unwrap() error { return e.kind }

func portErr(kind error, format string, args ...any) error {
	return &portError{kind: kind, msg: fmt.Sprintf(format, args...)}
}

// Port leases a port for k, preferring the one k holds so that its public
// address survives reconnects and restarts: k's own unexpired lease when it
// is in [Lo,Hi] and Want is 0 or equal to it (Free is not asked about it,
// since the caller may be binding it again or may still hold it bound);
// else Want if given (ErrOutOfRange, ErrTaken, ErrBusy); else the lowest
// port in the range neither leased (unexpired) to another key nor refused
// by Free (ErrExhausted). It renews the lease to now+ttl and persists. A
// key holds at most one port: a new port for k replaces its old lease. A
// failed call changes nothing. Free is called with the store locked, so it
// must not call the store.
func (s *Store) Port(k Key, req PortRequest, now time.Time) (uint16, error) {
	if req.Lo == 0 || req.Lo > req.Hi {
		return 0, fmt.Errorf("leases: %d-%d is not a range of TCP ports to lease from", req.Lo, req.Hi)
	}
	if req.Free == nil {
		req.Free = func(uint16) bool { return true }
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	next := s.begin(now)
	port, err := pick(next, k, req)
	if err != nil {
		return 0, err
	}
	next.ports[k] = lease[uint16]{value: port, expires: s.expiry(now)}
	if err := s.commit(next); err != nil {
		return 0, err
	}
	return port, nil
}

// pick chooses k's port in st, which holds only unexpired leases.
func pick(st state, k Key, req PortRequest) (uint16, error) {
	if own, ok := st.ports[k]; ok && req.contains(own.value) && (req.Want == 0 || req.Want == own.value) {
		return own.value, nil
	}
	others := make(map[uint16]lease[uint16], len(st.ports))
	for key, l := range st.ports {
		if key != k {
			others[l.value] = l
		}
	}
	if p := req.Want; p != 0 {
		if !req.contains(p) {
			return 0, portErr(ErrOutOfRange, "port %d is outside the gateway's TCP ports %d-%d", p, req.Lo, req.Hi)
		}
		if l, ok := others[p]; ok {
			return 0, portErr(ErrTaken, "port %d is leased to another exposure until %s, unless that one renews it", p, l.expires.Format(time.RFC3339))
		}
		if !req.Free(p) {
			return 0, portErr(ErrBusy, "port %d is in use on the gateway by something other than an exposure", p)
		}
		return p, nil
	}
	leased, busy := 0, 0
	for p := req.Lo; ; p++ {
		if _, ok := others[p]; ok {
			leased++
		} else if req.Free(p) {
			return p, nil
		} else {
			busy++
		}
		if p == req.Hi { // before p++ wraps at 65535
			break
		}
	}
	return 0, portErr(ErrExhausted, "no free port in the gateway's TCP ports %d-%d: %d leased to other exposures, %d in use on the gateway", req.Lo, req.Hi, leased, busy)
}

// RenewPort extends k's port lease to now+ttl and persists, for an
// exposure that stays connected longer than the ttl. Without an unexpired
// lease it does nothing: the port may have gone to another key, and
// taking a port is Port's job, with its checks.
func (s *Store) RenewPort(k Key, now time.Time) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l, ok := s.state.ports[k]; !ok || !l.live(now) {
		return nil
	}
	next := s.begin(now)
	l := next.ports[k]
	l.expires = s.expiry(now)
	next.ports[k] = l
	return s.commit(next)
}

// ReleasePort drops k's port lease and persists, so that an exposure that
// ended for good gives its port back now rather than after the ttl.
// Having no time to prune against, it prunes against the latest one the
// store was given: a store run on a test's clock then keeps its leases.
func (s *Store) ReleasePort(k Key) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.state.ports[k]; !ok {
		return nil
	}
	next := s.begin(s.latest)
	delete(next.ports, k)
	return s.commit(next)
}
