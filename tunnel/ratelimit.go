package tunnel

import (
	"sync"
	"time"
)

// Failed logins from one source address are allowed freeBudget times; after
// that each further attempt must wait, doubling per failure up to maxPenalty.
// A success clears the record. The table is bounded so that a flood of
// sources cannot grow it without limit.
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

func (l *loginLimiter) failed(source string) {
	l.mu.Lock()
	defer l.mu.Unlock()
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
