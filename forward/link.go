package forward

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/fwd-dev/fwd/tunnel"
)

// Backoff between reconnect attempts: the first retry is immediate, then
// doubling from backoffBase up to backoffCap, each with up to 50% jitter so
// that many clients cut off at once do not come back in lockstep. The cap
// keeps the longest wait, plus a handshake, under 2 s: a restarted gateway
// is in use again within 2 s of listening.
const (
	backoffBase = 250 * time.Millisecond
	backoffCap  = 1500 * time.Millisecond
)

// ErrTunnelDown is returned to a local connection that waited for the tunnel
// longer than Options.ConnectWait.
var ErrTunnelDown = errors.New("forward: tunnel to the gateway is down")

// link keeps one tunnel session up: it redials with backoff whenever the
// session ends, until closed. Local listeners never notice a reconnect
// except as a short wait in session.
type link struct {
	dial func(ctx context.Context) (session, error)
	// onState reports a change: attempt 0 of StateReconnecting is the drop
	// itself, with its cause; attempt n >= 1 is the n-th failed redial.
	onState func(state State, err error, attempt int)
	onUp    func(s session) // after every reconnect, with the new catalog
	// onCatalog runs when the gateway pushed a new catalog on s, the
	// current session.
	onCatalog func(s session)
	// onFatal reports a redial the gateway refused for good (token,
	// trust, version): the link has stopped reconnecting. It runs on the
	// link's goroutine and must not wait for the link.
	onFatal func(err error)

	mu        sync.Mutex
	cur       session
	ready     chan struct{} // closed while cur is set
	started   bool          // start was called: done will be closed
	departing []session     // gone away but maybe still carrying streams
	ctx       context.Context
	cancel    context.CancelFunc
	done      chan struct{} // closed when the link has let go of its sessions
}

func newLink(dial func(context.Context) (session, error), onState func(State, error, int), onUp, onCatalog func(session), onFatal func(error)) *link {
	ctx, cancel := context.WithCancel(context.Background())
	return &link{dial: dial, onState: onState, onUp: onUp, onCatalog: onCatalog, onFatal: onFatal, ready: make(chan struct{}), ctx: ctx, cancel: cancel, done: make(chan struct{})}
}

// start makes the first connection. Its error is returned as is: a client
// that cannot log in at all should say so, not retry forever.
func (l *link) start(ctx context.Context) error {
	l.mu.Lock()
	l.started = true
	l.mu.Unlock()
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-l.ctx.Done():
			stop()
		case <-ctx.Done():
		}
	}()
	s, err := l.dial(ctx)
	if err == nil && l.ctx.Err() != nil {
		// Closed while dialling: the session must not outlive the link.
		s.Close()
		err = ErrStopped
	}
	if err != nil {
		close(l.done)
		return err
	}
	l.set(s)
	l.onState(StateConnected, nil, 0)
	go l.keepUp(s)
	return nil
}

func (l *link) set(s session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.cur = s
	if s != nil {
		close(l.ready)
	} else {
		l.ready = make(chan struct{})
	}
}

// current returns the session and its catalog, or nil while down.
func (l *link) current() session {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.cur
}

// session waits up to wait for a live session.
func (l *link) session(ctx context.Context, wait time.Duration) (session, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var timeout <-chan time.Time
	for {
		l.mu.Lock()
		s, ready := l.cur, l.ready
		l.mu.Unlock()
		if s != nil {
			select {
			case <-s.Done():
				// Ended but keepUp has not cleared it yet; look again soon.
				ready = nil
			default:
				return s, nil
			}
		}
		if timeout == nil {
			// Only now: with the tunnel up (once per connection) no timer
			// is made at all.
			timer := time.NewTimer(wait)
			defer timer.Stop()
			timeout = timer.C
		}
		var poll <-chan time.Time
		if ready == nil {
			poll = time.After(5 * time.Millisecond)
		}
		select {
		case <-ready:
		case <-poll:
		case <-timeout:
			return nil, fmt.Errorf("%w (waited %s)", ErrTunnelDown, wait)
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-l.ctx.Done():
			return nil, ErrStopped
		}
	}
}

// keepUp watches the session and moves to a new one when it ends or when
// the gateway announces it is going away (a restart): streams already open
// on a departing session finish there while new ones use the next session.
func (l *link) keepUp(s session) {
	defer close(l.done)
	defer l.closeDeparting()
	for {
		select {
		case <-s.GoingAway():
		case <-s.Updates():
			l.onCatalog(s)
			continue
		case <-l.ctx.Done():
			s.Close()
			return
		}
		l.depart(s)
		l.set(nil)
		cause := downCause(s)
		if refusedForGood(cause) {
			// The gateway ended the session refusing the login (its config
			// no longer has the token): a redial would only hear it again.
			l.onFatal(cause)
			return
		}
		l.onState(StateReconnecting, cause, 0)
		next, ok := l.redial()
		if !ok {
			return
		}
		l.set(next)
		// The catalog is read again before the state changes, so that the
		// one Connected event carries the forwards as they now are.
		l.onUp(next)
		l.onState(StateConnected, nil, 0)
		s = next
	}
}

// errGoingAway is the cause of a drop the gateway announced.
var errGoingAway = errors.New("the gateway is shutting down")

func downCause(s session) error {
	if err := s.Err(); err != nil {
		return err
	}
	return errGoingAway
}

// depart keeps s, which may still carry streams, to close when the link does.
func (l *link) depart(s session) {
	l.mu.Lock()
	defer l.mu.Unlock()
	kept := l.departing[:0]
	for _, d := range l.departing {
		select {
		case <-d.Done():
		default:
			kept = append(kept, d)
		}
	}
	l.departing = append(kept, s)
}

func (l *link) closeDeparting() {
	l.mu.Lock()
	departing := l.departing
	l.departing = nil
	l.mu.Unlock()
	for _, d := range departing {
		d.Close()
	}
}

// redial tries until it connects, the link is closed, or the gateway
// refuses for good: a token it no longer accepts, a certificate that is no
// longer trusted or a protocol it does not speak will not change by trying
// again, and a client that kept trying would hold its hostnames for ever.
func (l *link) redial() (session, bool) {
	var wait time.Duration
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			select {
			case <-time.After(max(backoff(attempt), wait)):
			case <-l.ctx.Done():
				return nil, false
			}
		}
		s, err := l.dial(l.ctx)
		if err == nil {
			return s, true
		}
		if l.ctx.Err() != nil {
			return nil, false
		}
		if refusedForGood(err) {
			l.onFatal(err)
			return nil, false
		}
		wait = retryAfter(err)
		l.onState(StateReconnecting, err, attempt+1)
	}
}

// refusedForGood reports whether a redial failed in a way that trying again
// cannot fix: for a gateway, or for an SSH server (sshRefusedForGood).
func refusedForGood(err error) bool {
	return errors.Is(err, tunnel.ErrUnauthorized) || errors.Is(err, tunnel.ErrUntrusted) || errors.Is(err, tunnel.ErrVersion) ||
		sshRefusedForGood(err)
}

// retryAfter is the wait a gateway asked for (too many failed logins from
// this address, someone else's perhaps), or 0.
func retryAfter(err error) time.Duration {
	var le *tunnel.LoginError
	if errors.As(err, &le) {
		return le.RetryAfter
	}
	return 0
}

// backoff is the wait before the attempt-th retry (attempt >= 1).
func backoff(attempt int) time.Duration {
	d := backoffCap
	if attempt < 16 {
		d = min(backoffBase<<(attempt-1), backoffCap)
	}
	return d/2 + rand.N(d/2+1)
}

// close ends the session and stops reconnecting.
func (l *link) close() {
	l.cancel()
	l.mu.Lock()
	started := l.started
	l.mu.Unlock()
	if started {
		<-l.done
	}
	if s := l.current(); s != nil {
		s.Close()
	}
}
