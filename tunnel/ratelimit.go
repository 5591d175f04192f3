package tunnel

import (
	"sync"
	"time"
)

// Login attempts from one source address are free freeBudget times; after
// that each further attempt must wait, doubling per failure up to
// maxPenalty. An attempt is charged as a failure when it starts, before the
// token is checked, so that attempts made at once cannot all slip through
// before the first failure is counted; a success clears the record. The
// table is bounded so that a flood of sources cannot grow it without limit.
const (
	freeBudget  = 5
	basePenalty = time.Second
	maxPenalty  = time.Minute
	maxSources  = 10000
	forgetAfter = 10 * time.Minute
)

type loginRecord struct {
	failures int
	last     time.Time
}

type loginLimiter struct {
	mu      sync.Mutex
	sources map[string]*loginRecord
	now     func() time.Time // tests move time
}

func (l *loginLimiter) clock() time.Time {
	if l.now != nil {
		return l.now()
	}
	return time.Now()
}

// delay returns how long source must still wait before its next attempt.
func (l *loginLimiter) delay(source string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.delayLocked(source)
}

func (l *loginLimiter) delayLocked(source string) time.Duration {
	r := l.sources[source]
	if r == nil || r.failures < freeBudget {
		return 0
	}
	penalty := basePenalty << min(r.failures-freeBudget, 6)
	penalty = min(penalty, maxPenalty)
	if wait := r.last.Add(penalty).Sub(l.clock()); wait > 0 {
		return wait
	}
	return 0
}

// attempt starts a login from source. While source must still wait it
// returns that wait and charges nothing; otherwise it charges the attempt
// as a failure (succeeded takes it back) and returns 0.
func (l *loginLimiter) attempt(source string) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	if wait := l.delayLocked(source); wait > 0 {
		return wait
	}
	l.chargeLocked(source)
	return 0
}

// failed charges a failure without an attempt (a test's shortcut).
func (l *loginLimiter) failed(source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.chargeLocked(source)
}

func (l *loginLimiter) chargeLocked(source string) {
	now := l.clock()
	if l.sources == nil {
		l.sources = map[string]*loginRecord{}
	}
	if len(l.sources) >= maxSources {
		l.forget(now)
	}
	r := l.sources[source]
	if r == nil {
		if len(l.sources) >= maxSources {
			return // still full of fresh failures: keep the table bounded
		}
		r = &loginRecord{}
		l.sources[source] = r
	}
	r.failures++
	r.last = now
}

func (l *loginLimiter) succeeded(source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.sources, source)
}

func (l *loginLimiter) forget(now time.Time) {
	for k, r := range l.sources {
		if now.Sub(r.last) > forgetAfter {
			delete(l.sources, k)
		}
	}
}

// handshakeGate bounds the connections that have not finished TLS and
// login yet, in all and per source address: a flood of connections that
// never speak would otherwise hold a file descriptor each for the whole
// handshake timeout.
type handshakeGate struct {
	mu       sync.Mutex
	total    int
	bySource map[string]int
}

// enter admits a connection from source unless a cap is reached; the
// caller calls leave once it is past login (or gone).
func (h *handshakeGate) enter(source string, maxTotal, maxPerSource int) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.bySource == nil {
		h.bySource = map[string]int{}
	}
	if h.total >= maxTotal || h.bySource[source] >= maxPerSource {
		return false
	}
	h.total++
	h.bySource[source]++
	return true
}

func (h *handshakeGate) leave(source string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.total--
	if h.bySource[source]--; h.bySource[source] <= 0 {
		delete(h.bySource, source)
	}
}
