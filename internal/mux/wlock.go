package mux

import "sync"

// writeLock serialises writes to the session's connection, handing it on
// first to writers of small frames (control frames, interactive data) and
// only then to bulk ones. With sync.Mutex a small frame could queue behind
// every bulk writer of the session, each holding the lock for a whole
// frame's write into a full socket; here it waits for one write at most.
// Small writers cannot starve bulk ones either: after urgentRun hand-offs
// in a row to small writers, a waiting bulk writer goes.
type writeLock struct {
	mu     sync.Mutex
	held   bool
	run    int // hand-offs in a row to small writers while bulk ones wait
	urgent []chan struct{}
	bulk   []chan struct{}
}

// urgentRun bounds how many small writers may go ahead of a waiting bulk
// one.
const urgentRun = 16

// Lock takes the lock for a small frame.
func (l *writeLock) Lock() { l.lock(true) }

// LockBulk takes the lock for a bulk frame: it goes after small ones.
func (l *writeLock) LockBulk() { l.lock(false) }

func (l *writeLock) lock(urgent bool) {
	l.mu.Lock()
	if !l.held {
		l.held = true
		l.mu.Unlock()
		return
	}
	ch := make(chan struct{})
	if urgent {
		l.urgent = append(l.urgent, ch)
	} else {
		l.bulk = append(l.bulk, ch)
	}
	l.mu.Unlock()
	<-ch // the lock is ours: Unlock handed it over
}

// Unlock hands the lock to the next writer, if one waits.
func (l *writeLock) Unlock() {
	l.mu.Lock()
	var next chan struct{}
	switch {
	case len(l.urgent) > 0 && (len(l.bulk) == 0 || l.run < urgentRun):
		next = l.urgent[0]
		l.urgent[0] = nil
		l.urgent = l.urgent[1:]
		if len(l.bulk) > 0 {
			l.run++
		}
	case len(l.bulk) > 0:
		next = l.bulk[0]
		l.bulk[0] = nil
		l.bulk = l.bulk[1:]
		l.run = 0
	default:
		l.held = false
		l.urgent, l.bulk = l.urgent[:0], l.bulk[:0]
	}
	l.mu.Unlock()
	if next != nil {
		close(next)
	}
}
