// Package retry paces a loop that must go on through a failure that may
// last, such as Accept while the process is out of file descriptors.
package retry

import "time"

const (
	firstPause = 5 * time.Millisecond
	maxPause   = time.Second
)

// Pause is the wait after each failure in a run of them: 5 ms after the
// first, doubling up to 1 s, as net/http's accept loop does, so that a loop
// neither spins nor stalls long once the cause is gone. The zero value is
// ready; it is not safe for concurrent use.
type Pause struct{ d time.Duration }

// Failed returns how long to wait before trying again, and whether this
// failure starts a run (the one to log).
func (p *Pause) Failed() (wait time.Duration, first bool) {
	if p.d == 0 {
		p.d = firstPause
		return p.d, true
	}
	p.d = min(2*p.d, maxPause)
	return p.d, false
}

// Succeeded ends a run of failures and reports whether there was one.
func (p *Pause) Succeeded() (recovered bool) {
	recovered = p.d != 0
	p.d = 0
	return recovered
}
